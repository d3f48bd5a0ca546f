#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL stores (default and visibility) with
# temporal-sql-tool, from the schema files shipped in the temporalio/admin-tools image of
# the same version as the server. Safe to run on every deploy: on PostgreSQL, `create`
# and `setup-schema -v 0.0` leave an existing database alone, and `update-schema` applies
# only the versions not applied yet. Run by the one-shot `temporal-schema` compose service.
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (the password of POSTGRES_USER)}"
PORT="${DB_PORT:-5432}"
PLUGIN="${SQL_PLUGIN:-postgres12}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}"
tries=0
until nc -z -w 5 "${POSTGRES_SEEDS}" "${PORT}"; do
  tries=$((tries + 1))
  [ "${tries}" -lt 60 ] || { echo "PostgreSQL never answered" >&2; exit 1; }
  sleep 2
done

sql_tool() {
  # SQL_PASSWORD is read by temporal-sql-tool from the environment.
  temporal-sql-tool --plugin "${PLUGIN}" --ep "${POSTGRES_SEEDS}" -p "${PORT}" \
    -u "${POSTGRES_USER}" "$@"
}

for store in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db="${store%%:*}"
  dir="${SCHEMA_ROOT}/${store#*:}/versioned"
  echo "Store ${db}: create, base schema, upgrades from ${dir}"
  sql_tool --db "${db}" create
  sql_tool --db "${db}" setup-schema -v 0.0
  sql_tool --db "${db}" update-schema -d "${dir}"
done
echo "Temporal schema is up to date"
