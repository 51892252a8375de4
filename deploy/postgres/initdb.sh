#!/bin/sh
# docker-entrypoint-initdb.d hook of the postgres service (first start of an empty volume):
# creates the leaderboard's read-only role with deploy/postgres/leaderboard_role.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v ro_user="${LEADERBOARD_DB_USER:-skipbench_leaderboard}" \
    -v ro_password="${LEADERBOARD_DB_PASSWORD:?set LEADERBOARD_DB_PASSWORD in .env}" \
    -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" \
    -f /skipbench/leaderboard_role.sql
