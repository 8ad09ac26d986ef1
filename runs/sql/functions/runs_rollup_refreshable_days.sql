-- The closed days a refresh may roll up: the 365 before the current UTC day (what Q1 shows).
CREATE FUNCTION runs_rollup_refreshable_days() RETURNS SETOF date
LANGUAGE sql STABLE
AS $$
    SELECT g.day::date
    FROM generate_series(
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '365 days',
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '1 day',
        interval '1 day'
    ) AS g(day)
$$;

