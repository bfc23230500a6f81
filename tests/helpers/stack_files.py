"""Shared paths, patterns and parsers of the static checks of the compose stack (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path

# `${NAME}`, `${NAME:-default}`, `${NAME:?message}` as compose interpolates them; `$${...}` is an escaped `$`.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|FERNET_KEY|REDISCLI_AUTH)$")
REQUIRED_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init", "airflow-cli")
ONE_SHOT = {"airflow-init", "minio-init", "mlflow-init", "airflow-cli"}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file, comments and blank lines skipped."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path}: not KEY=VALUE: {line!r}"
            values[key] = value
    return values
