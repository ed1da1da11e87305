#!/bin/sh
# Run by the postgres image once, when its volume is first initialised: the role the services
# connect as. It owns nothing yet; `frontline migrate` (DATABASE_APP_ROLE) grants it what the
# services need, and no UPDATE, DELETE or TRUNCATE on the event log.
set -eu
psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --set ON_ERROR_STOP=1 \
     --set app_password="$FRONTLINE_APP_PASSWORD" <<'SQL'
CREATE ROLE frontline_app LOGIN PASSWORD :'app_password';
SQL
