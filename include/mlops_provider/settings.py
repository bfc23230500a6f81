"""Where the provider finds model configs, data and inference logs; read once from the environment."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = PACKAGE_DIR.parent
PROJECT_DIR = INCLUDE_DIR.parent



def models_dir() -> Path:
    """Folder of the per-model YAML files (`MLOPS_MODELS_DIR`, default `include/models`)."""
    return Path(os.environ.get("MLOPS_MODELS_DIR", INCLUDE_DIR / "models"))



def expectations_dir() -> Path:
    """Folder of the Great Expectations suites (`MLOPS_EXPECTATIONS_DIR`, default `include/expectations`)."""
    return Path(os.environ.get("MLOPS_EXPECTATIONS_DIR", INCLUDE_DIR / "expectations"))



def data_dir() -> str:
    """Root that relative data paths in model configs resolve against (`MLOPS_DATA_DIR`, default `data/`)."""
    return os.environ.get("MLOPS_DATA_DIR", str(PROJECT_DIR / "data"))


def model_names() -> list[str]:
    """Names of the configured models: the stems of `models_dir()/*.yaml`.

    This is the one thing DAG files need at parse time (Param enums, asset schedules), so it lists
    the folder and reads no file.
    """
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))


def default_args(*, retries: int = 2, timeout_minutes: int = 30, backoff: bool = True) -> dict[str, object]:
    """The `default_args` every mlops DAG shares: owner `mlops`, retries 30 s apart (growing when `backoff`), an
    `execution_timeout` on every task, and the model's alerts when a task fails for good."""
    from datetime import timedelta

    from mlops_provider.alerts import failure_callback

    return {
        "on_failure_callback": failure_callback,  # after a task's last try: the model's alerts are told
        "owner": "mlops",
        "retries": retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": backoff,
        "execution_timeout": timedelta(minutes=timeout_minutes),
    }
