#!/bin/sh
# Apply migrations (they create the reporting views and grant the dashboard role) before
# serving. Already-applied migrations are skipped, so a restart costs one quick check.
#
# Exactly one container may migrate: two `migrate` runs at once can both try the same
# migration. The compose file's periodic commands (chm-alerts, chm-rollups) set
# CHM_MIGRATE_ON_START=0 and start after `chm` is healthy, that is after its migrations. With
# several web replicas, let one of them (or a one-off job) migrate and set 0 on the rest.
set -eu
case "${CHM_MIGRATE_ON_START:-1}" in
    1) python /app/manage.py migrate --noinput ;;
    0) ;;
    *) echo "CHM_MIGRATE_ON_START must be 1 or 0, not '${CHM_MIGRATE_ON_START}'" >&2; exit 2 ;;
esac
exec "$@"
