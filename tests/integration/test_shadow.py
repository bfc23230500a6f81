"""A shadow for real: a real MLflow registry, a real detached model server, `mlops shadow` to start and stop it,
labels by POST /feedback, and the shadow report computed from the logs and logged to MLflow.

The tests of this module share one model and its server and run in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_provider.client.shadow import main as shadow_main
from tests.helpers.model_configs import write_credit_copy
from tests.helpers.trained_versions import register_versions

MODEL = "credit_shadow"


@dataclass
class Stand:
    target: Any
    config: Any
    client: Any
    state_dir: Path
    tracking: str
    started: datetime

    def url(self) -> str:
        return str(self.target.running(MODEL).url)

    def cli(self, *args: str) -> int:
        return shadow_main([MODEL, *args, "--state-dir", str(self.state_dir), "--tracking-uri", self.tracking])


@pytest.fixture(scope="module")
def stand(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.deploy import get_target

    root = tmp_path_factory.mktemp("shadow")
    write_credit_copy(root / "models", MODEL, deploy={"target": "local", "strategy": "rolling",
                                                      "options": {"smoke_rows": 5, "latency_budget_ms": 2000}})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(root / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        assert register_versions(MODEL, mlflow_server, [150, 3]) == ["1", "2"]
        target = get_target("local", state_dir=root / "state", tracking_uri=mlflow_server, log_seconds=3600)
        client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
        config = load_model_config(MODEL)
        started = datetime.now(UTC)
        try:
            assert target.deploy(MODEL, "1", "rolling", config).success
            yield Stand(target, config, client, root / "state", mlflow_server, started)
        finally:
            state = root / "state" / f"{MODEL}.json"
            pid = json.loads(state.read_text())["pid"] if state.exists() else None
            target.stop(MODEL)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):  # stopped cleanly: already gone
                    os.kill(pid, signal.SIGKILL)


def requests_and_labels(rows: int) -> tuple[list[dict[str, Any]], list[Any]]:
    from mlops_provider.demo import credit

    frame = credit.generate(rows, seed=11)
    labels = frame.pop(credit.TARGET).tolist()
    frame = frame.astype(object).where(frame.notna(), None)
    bodies = [{"dataframe_split": {"columns": list(frame.columns), "data": [row]}}
              for row in frame.to_numpy().tolist()]
    return bodies, labels


def send(url: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with httpx.Client(trust_env=False, timeout=30) as http:
        answers = [http.post(f"{url}/invocations", json=body) for body in bodies]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    return [a.json() for a in answers]


def test_a_shadowed_version_changes_no_answer(stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    bodies, labels = requests_and_labels(40)
    before = send(stand.url(), bodies)
    assert stand.cli("2") == 0
    assert "v2 is shadowed on the local server" in capsys.readouterr().out
    during = send(stand.url(), bodies)
    assert [a["predictions"] for a in during] == [b["predictions"] for b in before]
    assert {a["metadata"]["version"] for a in during} == {"1"}
    feedback = {"labels": [{"request_id": a["metadata"]["request_id"], "label": label}
                           for a, label in zip(during, labels, strict=True)]}
    with httpx.Client(trust_env=False, timeout=30) as http:
        assert http.post(f"{stand.url()}/feedback", json=feedback).status_code == 200
    tag = stand.client.get_model_version(MODEL, "2").tags["mlops.shadow"]
    assert tag.startswith("local since ")


def test_stopping_writes_the_shadow_log_and_unloads_the_version(stand: Stand,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert stand.cli("--stop") == 0
    out = capsys.readouterr().out
    assert "stopped shadowing v2: 40 request(s) scored, 0 failed, 0 dropped" in out
    server = stand.target.running(MODEL)
    status = stand.target.admin.status(server)
    assert status["weights"] == {"1": 100} and status["shadow"] is None
    stand.target.admin.post(server, "/admin/flush", {})
    assert stand.client.get_model_version(MODEL, "2").tags["mlops.shadow"].startswith("stopped ")


def test_the_shadow_report_compares_with_the_live_answers_and_is_logged(stand: Stand,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.shadow import log_shadow_report, shadow_report

    report = shadow_report(stand.config, "2", start=stand.started, end=datetime.now(UTC) + timedelta(minutes=1))
    assert (report.requests, report.rows, report.joined, report.errors) == (40, 40, 40, 0)
    assert report.live_versions == ["1"] and report.agreement is not None and 0 <= report.agreement <= 1
    assert report.labelled == 40 and report.shadow_value is not None and report.live_value is not None
    assert report.shadow_p95_ms is not None and report.live_p95_ms is not None

    run_id = log_shadow_report(stand.client, stand.config, report)
    run = stand.client.get_run(run_id)
    assert run.data.tags["mlops.stage"] == "shadow" and run.data.metrics["shadow.rows"] == 40
    assert run.data.metrics["shadow.agreement"] == pytest.approx(report.agreement)
    text = Path(stand.client.download_artifacts(run_id, "shadow/report.md")).read_text()
    assert f"# Shadow report: {MODEL} v2" in text and "| latency p95 |" in text
    summary = json.loads(stand.client.get_model_version(MODEL, "2").tags["mlops.shadow.report"])
    assert summary["run_id"] == run_id and summary["labelled"] == 40

    assert stand.cli("2", "--report", "--no-log") == 0
    assert "| rows shadowed (joined to a live row) | 40 (40) |" in capsys.readouterr().out


def test_a_deployment_ends_the_shadow_and_says_so_on_the_version(stand: Stand) -> None:
    """Deploying v2 (the shadowed version) gives it traffic: no longer a shadow, and the tag says what ended it."""
    assert stand.cli("2") == 0
    assert stand.client.get_model_version(MODEL, "2").tags["mlops.shadow"].startswith("local since ")
    result = stand.target.deploy(MODEL, "2", "rolling", stand.config)
    assert result.success and "ended the shadow of v2 (tagged mlops.shadow)" in result.steps
    status = stand.target.admin.status(stand.target.running(MODEL))
    assert status["weights"] == {"2": 100} and status["shadow"] is None
    tag = stand.client.get_model_version(MODEL, "2").tags["mlops.shadow"]
    assert tag.startswith("ended ") and tag.endswith(" by the deployment of v2")
