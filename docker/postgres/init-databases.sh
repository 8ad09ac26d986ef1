#!/usr/bin/env bash
# Runs once, on the first start of the postgres container (empty data volume), as the
# superuser. Creates:
#   - the CHM database and its owner (CHM's migrations run as that owner);
#   - the read-only dashboard role Grafana and Metabase log in with, and that CHM's own
#     dashboards act as; CHM's reporting migration grants it SELECT on the `reporting` views
#     and nothing else;
#   - metabase_app, where Metabase keeps its own state.
# Passwords arrive through the environment (docker/.env), never from this file. psql's
# :'var' quoting makes each value a literal, whatever characters it holds.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v chm_db="$CHM_DB_NAME" -v chm_user="$CHM_DB_USER" -v chm_password="$CHM_DB_PASSWORD" \
    -v reporting_role="$CHM_REPORTING_ROLE" -v reporting_password="$CHM_REPORTING_PASSWORD" \
    -v mb_db="$METABASE_DB_NAME" -v mb_user="$METABASE_DB_USER" -v mb_password="$METABASE_DB_PASSWORD" <<'SQL'
-- CREATEROLE lets CHM's migrations (running as the owner) manage the reporting role's grants.
CREATE ROLE :"chm_user" LOGIN CREATEROLE PASSWORD :'chm_password';
CREATE DATABASE :"chm_db" OWNER :"chm_user";

CREATE ROLE :"reporting_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
    PASSWORD :'reporting_password';
-- Only CONNECT on the CHM database; SELECT on the views comes from the migration.
REVOKE ALL ON DATABASE :"chm_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"chm_db" TO :"chm_user", :"reporting_role";
ALTER ROLE :"reporting_role" SET default_transaction_read_only = on;
-- CHM draws the dashboards itself with the same SQL, acting as this role (SET ROLE) so that
-- its panels read the reporting views and nothing else.
GRANT :"reporting_role" TO :"chm_user";

CREATE ROLE :"mb_user" LOGIN PASSWORD :'mb_password';
CREATE DATABASE :"mb_db" OWNER :"mb_user";
REVOKE ALL ON DATABASE :"mb_db" FROM PUBLIC;
SQL

# PostgreSQL 15 no longer lets every role create objects in `public`; make sure the dashboard
# role cannot, whatever the server's defaults.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$CHM_DB_NAME" \
    -v reporting_role="$CHM_REPORTING_ROLE" <<'SQL'
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM :"reporting_role";
SQL
