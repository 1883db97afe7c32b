#!/usr/bin/env bash
# Creates the roles and database Registrar expects, the same ones scripts/lib/common.sh creates
# for a local cluster:
#
#   registrar_owner  LOGIN, owner of database "registrar": runs the migrations (registrar migrate)
#   registrar_app    LOGIN NOSUPERUSER NOBYPASSRLS: the role the server connects as, so that
#                    row-level security applies to every query it makes
#
# The official postgres image runs this once, as the superuser, when it initialises an empty
# data directory. To run it again (for example after changing a password), remove the volume:
# docker compose down -v. Passwords come from REGISTRAR_OWNER_PASSWORD and REGISTRAR_APP_PASSWORD
# (compose.yaml passes them, with development defaults).
set -eo pipefail

: "${REGISTRAR_OWNER_PASSWORD:?set REGISTRAR_OWNER_PASSWORD}"
: "${REGISTRAR_APP_PASSWORD:?set REGISTRAR_APP_PASSWORD}"

psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v owner_password="$REGISTRAR_OWNER_PASSWORD" -v app_password="$REGISTRAR_APP_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE registrar_owner LOGIN PASSWORD %L', :'owner_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registrar_owner') \gexec
SELECT format('CREATE ROLE registrar_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %L', :'app_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registrar_app') \gexec
SELECT 'CREATE DATABASE registrar OWNER registrar_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'registrar') \gexec
SQL
