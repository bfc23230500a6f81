"""What a reader of the task logs sees: `airflow dags test mlops_training` in its own process, as a deployment runs
it (Python's default warning filters, not pytest's), against the real MLflow test server.

A task's stderr is what Airflow's task runner records at ERROR level, so a successful run must write nothing there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.model_configs import write_credit_copy

MODEL = "credit_task_logs"
WARNING = re.compile(r"\[warning\s*\]")
ERROR = re.compile(r"\[(error|critical)\s*\]")


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    def task_log(self, task: str) -> list[str]:
        """The stdout lines between `[DAG TEST] starting` and `[DAG TEST] end` of `<MODEL>.<task>`."""
        lines = self.stdout.splitlines()
        task_id = f"task_id={MODEL}.{task} "
        start = next(i for i, line in enumerate(lines) if "[DAG TEST] starting" in line and task_id in line)
        end = next(i for i, line in enumerate(lines) if "[DAG TEST] end task" in line and task_id in line)
        return lines[start:end + 1]


@pytest.fixture(scope="module")
def training_run(mlflow_server: str, demo_data_dir: Path, airflow_db: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    models = tmp_path_factory.mktemp("models")
    write_credit_copy(models, MODEL)
    env = {**os.environ, "MLOPS_MODELS_DIR": str(models), "MLOPS_DATA_DIR": str(demo_data_dir),
           "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "mlflow", "host": mlflow_server})}
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "mlops_training"], env=env,
                            capture_output=True, text=True, timeout=600)
    run = CliRun(result.returncode, result.stdout, result.stderr)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"task_id={MODEL}.promote " in run.stdout, run.stdout[-3000:]
    return run


def test_train_log_holds_no_deprecation_flood(training_run: CliRun) -> None:
    log = training_run.task_log("train")
    warnings = [line for line in log if WARNING.search(line)]

    assert len(warnings) < 20, f"{len(warnings)} warnings in the train log, e.g. {warnings[:3]}"
    assert not [line for line in log if "attribute is deprecated" in line]


def test_successful_run_logs_no_error_and_keeps_mlflow_info(training_run: CliRun) -> None:
    stderr = [line for line in training_run.stderr.splitlines() if line.strip()]
    errors = [line for line in training_run.stdout.splitlines() if ERROR.search(line)]

    assert not stderr, f"a task's stderr is logged as ERROR; got {len(stderr)} lines: {stderr[:5]}"
    assert not errors, errors[:5]
    assert "Downloading artifacts" not in training_run.stdout, "progress bars do not belong in a task log"
    register = "\n".join(training_run.task_log("register"))
    assert re.search(r"\[info\s*\] Waiting up to \d+ seconds for model version", register), (
        "MLflow's INFO lines belong in the task log at INFO, not gone")
