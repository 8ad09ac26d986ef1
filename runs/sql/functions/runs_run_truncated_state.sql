-- TRUNCATE leaves every pipeline without runs: no state rows (and so no windows).
CREATE OR REPLACE FUNCTION runs_run_truncated_state() RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    LOCK TABLE runs_pipelinestate IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM runs_pipelinestate;
    RETURN NULL;
END
$function$;

