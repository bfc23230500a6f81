#!/usr/bin/env bash
# One-shot init of the compose stack's Airflow (service `airflow-init`, run through the image's entrypoint,
# which waits for the database): schema migration, the api-server login, then the project's
# airflow_settings.yaml and the compose overrides (mlflow_default -> http://mlflow:5000 with basic auth).
# Idempotent: every `docker compose up` runs it again; a changed password in .env takes effect.
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?}" "${AIRFLOW_ADMIN_PASSWORD:?}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"

echo "airflow-init: migrating the metadata database"
airflow db migrate

echo "airflow-init: writing the SimpleAuthManager password of '${AIRFLOW_ADMIN_USERNAME}'"
umask 077
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as handle:
    json.dump({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, handle)
PY

echo "airflow-init: applying /opt/airflow/airflow_settings.yaml"
mlops settings apply /opt/airflow/airflow_settings.yaml

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
python /opt/airflow/docker/render_settings.py /opt/airflow/docker/airflow_settings.compose.yaml "$rendered"
echo "airflow-init: applying the compose overrides (docker/airflow/airflow_settings.compose.yaml)"
mlops settings apply "$rendered"
echo "airflow-init: done"
