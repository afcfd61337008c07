#!/bin/sh
# Runs once, when the PostgreSQL volume is first created (docker-entrypoint-initdb.d; see
# docker-compose.yml). Creates the role the application connects as: it logs in, reads and writes
# rows, and nothing more. It is not a superuser and does not own the tables, so it cannot alter or
# truncate them, nor switch off the trigger that keeps audit_events append-only (migration 0006).
# Migrations run as the owner ($POSTGRES_USER); every table and sequence the owner creates later
# is granted to the application role by the default privileges below.
#
# An existing volume does not run this script: run the same statements once with psql as the owner,
# then `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO <app role>` and
# `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO <app role>` for the tables already there.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" \
    -v app_user="${SDM_APP_DB_USER:-sdm_app}" -v app_password="$SDM_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
GRANT CONNECT ON DATABASE :"db" TO :"app_user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_user";
SQL
