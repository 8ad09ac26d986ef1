-- Whether a window (a state row's changes_as_of, changes_week_start, changes_fortnight_start,
-- changes_oldest_7d and changes_oldest_14d) is still Q5's answer at instant ``at`` (see the top
-- of this file). Never NULL: no window (as_of NULL, or no state row) is not current.
CREATE OR REPLACE FUNCTION runs_change_window_is_current(
    as_of timestamptz,
    week_start timestamptz,
    fortnight_start timestamptz,
    oldest_7d timestamptz,
    oldest_14d timestamptz,
    at timestamptz
)
RETURNS boolean
LANGUAGE sql
STABLE
AS $function$
    SELECT as_of IS NOT NULL
        AND as_of <= at
        AND week_start <= at - interval '7 days'
        AND fortnight_start <= at - interval '14 days'
        AND (oldest_7d IS NULL OR oldest_7d >= at - interval '7 days')
        AND (oldest_14d IS NULL OR oldest_14d >= at - interval '14 days')
$function$;

