#!/usr/bin/env bash
# Runs once, when the Postgres volume is first initialised (/docker-entrypoint-initdb.d): a role and two
# databases for MLflow beside Airflow's metadata DB. mlflow = backend store (runs, registry), mlflow_auth =
# the basic-auth app's users and permissions. The password comes from the environment, never from this file.
set -euo pipefail

: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow WITH LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
SQL
