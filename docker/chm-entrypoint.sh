#!/bin/sh
# Apply migrations (they create the reporting views and grant the dashboard role) before
# serving. Already-applied migrations are skipped, so a restart costs one quick check. The
# compose file runs a single CHM container; with several replicas, migrate from one of them
# (or a one-off job) before starting the rest.
set -eu
python /app/manage.py migrate --noinput
exec "$@"
