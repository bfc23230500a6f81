"""The passport of a version (`mlops_provider.passport`) on the real MLflow server: its JSON, its self-contained and
escaped HTML page, the version's link to it, and `mlops passport`."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.html_refs import external_loads
from tests.helpers.registry_versions import bare_versions, client_for

UI = "http://mlflow.example:5000"
HOSTILE = '<script>alert("x")</script><img src=https://evil.example/x.png>'


def artifact(client: Any, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, path, tmp)).read_text()


def documented_version(client: Any, model: str) -> str:
    """A version carrying every record the passport reads (as the DAGs and other modules write them)."""
    from mlops_provider.registry import move_champion, record_serving

    v1, v2 = bare_versions(client, model, 2, params={"trainer": "mlops_provider.training.sklearn:train_classifier",
                                                    "max_iter": "50"})
    run_id = client.get_model_version(model, v2).run_id
    client.set_tag(run_id, "mlops.data_sources", "train.parquet (800 rows) + labels (40 rows)")
    client.log_text(run_id, json.dumps([{"source": "train.parquet", "rows": 800}]), "data/sources.json")
    client.log_metric(run_id, "holdout_roc_auc", 0.83)
    tags = {"mlops.dag_run_id": "scheduled__2025-06-01T00:00:00+00:00", "mlops.reason": "schedule",
            "mlops.data_digest": "abc123", "mlops.validation": "passed 12/12 expectations",
            "mlops.decision": "promoted", "mlops.gate": f"roc_auc 0.83 vs champion v1 0.80 {HOSTILE}",
            "mlops.metric": "roc_auc", "mlops.score.candidate": "0.830000", "mlops.score.champion": "0.800000",
            "mlops.criteria": json.dumps([{"metric": "roc_auc", "value": 0.83, "bound": 0.7, "verdict": "pass"},
                                          {"metric": "recall", "value": 0.5, "bound": 0.4, "verdict": "pass"}]),
            "mlops.approval.by": "admin", "mlops.approval.comment": "fine <b>by me</b>",
            "mlops.monitor": json.dumps({"realized": 0.81, "metric": "roc_auc", "verdict": "ok"})}
    for key, value in tags.items():
        client.set_model_version_tag(model, v2, key, value)
    move_champion(client, model, v1, actor="mlops_training/r1/promote", reason="first")
    move_champion(client, model, v2, actor="mlops_training/r2/promote", reason="better")
    record_serving(client, model, v2, "local", actor="mlops_deployment/r3/deploy", reason="rolling deployment verified")
    return v2


def test_passport_json_holds_the_versions_records(mlflow_server: str) -> None:
    from mlops_provider.passport import PASSPORT_JSON, write_passport

    client, model = client_for(mlflow_server), f"pass_{uuid.uuid4().hex[:6]}"
    version = documented_version(client, model)
    url = write_passport(client, model, version, mlflow_ui_url=UI, airflow_url="http://airflow.example:8080",
                         dag_id="mlops_training")

    mv = client.get_model_version(model, version)
    assert mv.tags["mlops.passport"] == url
    experiment = client.get_run(mv.run_id).info.experiment_id
    assert url == f"{UI}/#/experiments/{experiment}/runs/{mv.run_id}/artifacts/passport/passport.html"
    passport = json.loads(artifact(client, mv.run_id, PASSPORT_JSON))
    assert (passport["model"], passport["version"], passport["reason"]) == (model, version, "schedule")
    assert passport["aliases"] == ["champion", "serving_local"]
    assert passport["data"] == {"digest": "abc123", "sources": "train.parquet (800 rows) + labels (40 rows)",
                                "sources_detail": [{"source": "train.parquet", "rows": 800}]}
    assert passport["validation"] == "passed 12/12 expectations"
    assert passport["training"]["trainer"] == "mlops_provider.training.sklearn:train_classifier"
    assert passport["training"]["params"] == {"max_iter": "50",
                                              "trainer": "mlops_provider.training.sklearn:train_classifier"}
    assert passport["training"]["metrics"] == {"holdout_roc_auc": 0.83}
    assert passport["gate"]["decision"] == "promoted" and passport["gate"]["score.candidate"] == "0.830000"
    assert [c["metric"] for c in passport["gate"]["criteria"]] == ["roc_auc", "recall"]
    assert passport["approval"] == {"by": "admin", "comment": "fine <b>by me</b>"}
    assert passport["dag_run"] == {
        "id": "scheduled__2025-06-01T00:00:00+00:00", "dag_id": "mlops_training",
        "url": "http://airflow.example:8080/dags/mlops_training/runs/scheduled__2025-06-01T00%3A00%3A00%2B00%3A00"}
    assert passport["deployments"]["serving"] == ["local"]
    assert [(e["alias"], e["from"], e["to"]) for e in passport["deployments"]["history"]] == [
        ("champion", "1", "2"), ("serving_local", None, "2")]
    assert passport["production"] == {"last_check": {"realized": 0.81, "metric": "roc_auc", "verdict": "ok"},
                                      "degraded": None}
    assert passport["links"]["passport"] == url


def test_passport_html_is_self_contained_and_escaped(mlflow_server: str) -> None:
    from mlops_provider.passport import PASSPORT_HTML, write_passport

    client, model = client_for(mlflow_server), f"page_{uuid.uuid4().hex[:6]}"
    version = documented_version(client, model)
    write_passport(client, model, version, mlflow_ui_url=UI, airflow_url="http://airflow.example:8080")
    page = artifact(client, client.get_model_version(model, version).run_id, PASSPORT_HTML)

    assert external_loads(page) == []
    assert "<script" not in page and "<img" not in page and "<b>by me" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "fine &lt;b&gt;by me&lt;/b&gt;" in page
    assert "<style>" in page and "<link" not in page
    for shown in ("abc123", "passed 12/12 expectations", "train_classifier", "recall", "admin",
                  "rolling deployment verified", "mlops_training/r2/promote", "roc_auc"):
        assert shown in page, shown
    # without a DAG id, the link opens Airflow's list of runs filtered to the run id
    assert 'href="http://airflow.example:8080/dag_runs?run_id_pattern=scheduled__2025-06-01T00%3A00%3A00' in page


def test_a_link_that_is_not_http_is_not_a_link() -> None:
    from mlops_provider.passport import _link

    assert _link("javascript:alert(1)", "x") == "x"
    assert _link('http://a.example/"onclick="x', "y") == ('<a href="http://a.example/&quot;onclick=&quot;x" '
                                                         'target="_blank" rel="noopener">y</a>')


def test_mlops_passport_writes_it_again(mlflow_server: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main

    client, model = client_for(mlflow_server), f"cli_{uuid.uuid4().hex[:6]}"
    version = documented_version(client, model)
    out = tmp_path / "passport.html"
    assert main(["passport", model, version, "--tracking-uri", mlflow_server, "--out", str(out)]) == 0
    url = capsys.readouterr().out.strip()
    assert client.get_model_version(model, version).tags["mlops.passport"] == url
    assert url.startswith(f"{mlflow_server}/#/experiments/") and url.endswith("/artifacts/passport/passport.html")
    assert f"Passport of {model} v{version}" in out.read_text() and external_loads(out.read_text()) == []

    assert main(["passport", model, "99", "--tracking-uri", mlflow_server]) == 2
    assert f"model '{model}' has no version 99" in capsys.readouterr().err
    assert main(["passport", model, "latest", "--tracking-uri", mlflow_server]) == 2
    assert "version must be a number, got 'latest'" in capsys.readouterr().err
    assert main(["passport", "--help"]) == 0
    assert "mlops passport credit_default 3" in capsys.readouterr().out


def test_the_training_dag_writes_the_passport_and_the_history(mlflow_conn: str, private_model: Any,
                                                               load_dag: Any) -> None:
    from mlops_provider.history import read_history
    from mlops_provider.passport import PASSPORT_JSON

    name = private_model("credit_passport")
    run = load_dag("mlops_training").test()
    assert str(run.state) == "success", {ti.task_id: str(ti.state) for ti in run.get_task_instances()}

    client = client_for(mlflow_conn)
    (mv,) = client.search_model_versions(f"name = '{name}'")
    promote = next(ti for ti in run.get_task_instances() if ti.task_id == f"{name}.promote")
    url = mv.tags["mlops.passport"]
    assert promote.xcom_pull(task_ids=f"{name}.promote", key="passport_url") == url
    passport = json.loads(artifact(client, mv.run_id, PASSPORT_JSON))
    assert passport["gate"]["decision"] == "promoted" and passport["validation"].startswith("passed ")
    assert passport["dag_run"]["id"] == run.run_id and passport["dag_run"]["dag_id"] == "mlops_training"
    assert passport["data"]["digest"] == mv.tags["mlops.data_digest"]
    assert passport["training"]["params"]["trainer"].endswith("train_classifier")
    assert [(e["alias"], e["to"]) for e in passport["deployments"]["history"]] == [("challenger", "1"),
                                                                                  ("champion", "1")]
    entries = read_history(client, name)
    assert [(e.alias, e.from_, e.to, e.actor) for e in entries] == [
        ("challenger", None, "1", f"mlops_training/{run.run_id}/{name}.register"),
        ("champion", None, "1", f"mlops_training/{run.run_id}/{name}.promote")]
    assert entries[0].reason == "registered (schedule)" and "roc_auc" in entries[1].reason
