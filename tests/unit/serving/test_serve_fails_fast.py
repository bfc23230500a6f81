"""`mlops serve --version/--alias` asks the registry before it starts: an MLflow that does not answer or a version
that does not exist ends the command within seconds, with a message naming the tracking URI or the version."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from mlops_provider.netutil import free_port

DEADLINE = 45.0  # seconds: the registry wait (10 s) plus importing mlflow on a busy shared machine


def serve(model: str, *args: str) -> tuple[int, str, float]:
    port = free_port()
    cmd = [sys.executable, "-m", "mlops_provider.serving", model, "--port", str(port),
           "--admin-port", str(free_port(avoid=port)), "--no-inference-log", *args]
    began = time.monotonic()
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE + 30)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"mlops serve still running after {DEADLINE + 30:.0f}s: {err.stderr!r}") from None
    return result.returncode, result.stderr, time.monotonic() - began


def test_an_mlflow_that_does_not_answer_fails_within_seconds_naming_it() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, stderr, took = serve("credit_default", "--version", "1", "--tracking-uri", closed)
    assert code == 1, stderr[-2000:]
    assert took < DEADLINE
    assert f"MLflow tracking server at {closed} does not answer" in stderr


def test_a_version_or_alias_the_registry_lacks_fails_within_seconds_naming_it(mlflow_server: str,
                                                                              private_model: Any) -> None:
    from mlflow import MlflowClient

    model = private_model("serve_missing_version")
    MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server).create_registered_model(model)
    code, stderr, took = serve(model, "--version", "7", "--tracking-uri", mlflow_server)
    assert code == 2 and took < DEADLINE, stderr[-2000:]
    assert f"model '{model}' version 7 is not in the registry at {mlflow_server}" in stderr
    code, stderr, _ = serve(model, "--tracking-uri", mlflow_server)  # the default alias, champion
    assert code == 2, stderr[-2000:]
    assert f"model '{model}' has no version under alias 'champion' in the registry at {mlflow_server}" in stderr
