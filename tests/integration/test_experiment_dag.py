"""mlops_experiment end to end with dag.test(): a real MLflow server, a real local model server splitting labelled
traffic by routing key, the trigger waiting deferred until the planned labelled rows arrive. A weak champion and a
strong candidate: the gate makes the candidate challenger (the champion stays), the experiment finds it wins, the
champion moves and mlops_deployment rolls it out to all traffic; then the old version, tested by hand, loses and is
unloaded. Bad input on the way: no challenger, a split not summing to 100, a size unreachable before the
deadline."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers.model_configs import CREDIT_DEFAULT

CREDIT_TRAINER = yaml.safe_load(CREDIT_DEFAULT.read_text())["trainer"]
WEAK = {**CREDIT_TRAINER, "params": {"estimator": "hist_gradient_boosting", "max_iter": 3, "max_depth": 1}}
GATE = {"metric": "roc_auc", "minimum": 0.6, "max_regression": 0.0}
DEPLOY = {"target": "local", "strategy": "rolling", "options": {"latency_budget_ms": 2000, "smoke_rows": 5}}
# holdout roc_auc ~0.69 (weak) vs ~0.78 (strong): an MDE of 0.06 plans ~1,800 labelled rows per arm at 50/50
EXPERIMENT = {"challenger_percent": 50, "minimum_detectable_effect": 0.06, "alpha": 0.05, "power": 0.8,
              "deadline_hours": 1, "poll_minutes": 0.05, "routing_key": "customer id",
              "guardrails": {"max_error_rate": 0.05}}


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def events(model: str, kind: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.uri == f"x-mlops://{model}/{kind}"))
        return [dict(event.extra or {}) for event in session.scalars(query)]


def weights(state_dir: Path, model: str) -> dict[str, int]:
    server = json.loads((state_dir / "serving" / f"{model}.json").read_text())
    return {str(k): int(v) for k, v in httpx.get(f"http://127.0.0.1:{server['port']}/version").json()["weights"].items()}


class Traffic:
    """Labelled traffic with routing keys, sent from a thread once the split is in place, until stopped."""

    def __init__(self, model: str, tracking: str, state_dir: Path, versions: set[str], seed: int) -> None:
        self.model, self.tracking, self.state_dir, self.versions, self.seed = model, tracking, state_dir, versions, seed
        self.stop, self.sent, self.errors = threading.Event(), [], []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)

    def _split(self) -> bool:
        from mlops_provider.deploy.local import LocalTarget

        target = LocalTarget(state_dir=self.state_dir / "serving", tracking_uri=self.tracking)
        server = target.running(self.model)
        if server is None:
            return False
        state = target.admin.status(server)
        return state["routing"] == "hash" and {v for v, w in state["weights"].items() if w} == self.versions

    def _run(self) -> None:
        from mlops_provider.demo.experiment import send_keyed_traffic

        try:
            while not self._split():
                if self.stop.wait(0.3):
                    return
            self.stop.wait(1.5)  # rows logged before the plan's clock started do not count
            for batch in range(6):
                if self.stop.is_set():
                    return
                self.sent.append(send_keyed_traffic(self.model, tracking_uri=self.tracking, rows=1000,
                                                    seed=self.seed + batch, state_dir=str(self.state_dir / "serving")))
        except Exception as err:  # noqa: BLE001 - the test reports it
            self.errors.append(err)


@pytest.fixture
def lab(mlflow_conn: str, private_model: Any, load_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Any:
    from mlops_provider.deploy.local import LocalTarget

    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    name = private_model("credit_ab", gate=GATE, deploy=DEPLOY, trainer=WEAK, experiment=EXPERIMENT)
    yield name, tmp_path / "state"
    LocalTarget(state_dir=tmp_path / "state" / "serving").stop(name)


def test_a_challenger_wins_is_rolled_out_and_a_worse_one_loses(lab: Any, mlflow_conn: str, private_model: Any,
                                                               load_dag: Any, deferrals: list[dict[str, Any]],
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    from mlops_provider.tracking import (
        EXPERIMENT_REPORT_HTML,
        EXPERIMENT_REPORT_MD,
        TAG_EXPERIMENT_DECISION,
        TAG_EXPERIMENT_RESULT,
        TAG_EXPERIMENT_ROLE,
        TAG_EXPERIMENT_STATUS,
    )

    name, state_dir = lab
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)

    def experiment(conf: dict[str, Any]) -> Any:
        # a fresh DAG per run: dag.test() keeps a run's Params on the DAG object it ran
        return load_dag("mlops_experiment").test(run_conf=conf)

    # a first version, with no champion to compare with, is promoted as usual, and served
    assert str(load_dag("mlops_training").test().state) == "success"
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "1"}
    assert str(load_dag("mlops_deployment").test(run_conf={"model": name}).state) == "success"

    # bad input: the challenger is the champion; no challenger at all
    capfd.readouterr()
    refused = experiment({"model": name})
    assert states(refused)["plan"] == "failed" and states(refused)["split"] == "upstream_failed"
    assert "v1 is the champion itself: nothing to test" in "".join(capfd.readouterr())
    client.delete_registered_model_alias(name, "challenger")
    refused = experiment({"model": name})
    assert states(refused)["plan"] == "failed"
    assert "no challenger (no `challenger` alias and no version given)" in "".join(capfd.readouterr())

    # a stronger candidate passes the gate: it becomes challenger, the champion stays, the challenger event fires
    private_model("credit_ab", gate=GATE, deploy=DEPLOY, trainer=CREDIT_TRAINER, experiment=EXPERIMENT)
    assert str(load_dag("mlops_training").test().state) == "success"
    aliases = client.get_registered_model(name).aliases
    assert aliases["champion"] == "1" and aliases["challenger"] == "2"
    assert client.get_model_version(name, "2").tags[TAG_EXPERIMENT_STATUS] == "pending"
    assert events(name, "challenger") == [{"version": "2", "champion": "1"}]
    assert events(name, "champion") == [{"version": "1", "previous_champion": None}]

    # bad input: a split not summing to 100 is refused before anything changes
    refused = experiment({"model": name, "overrides": {"champion_percent": 60,
                                                                      "challenger_percent": 50}})
    assert states(refused)["plan"] == "failed"
    assert "the split must sum to 100, got champion 60% + challenger 50% = 110%" in "".join(capfd.readouterr())
    assert weights(state_dir, name) == {"1": 100}

    # the experiment: split 50/50 by routing key, labelled traffic, wait deferred, the challenger wins
    with Traffic(name, mlflow_conn, state_dir, {"1", "2"}, seed=100) as traffic:
        run = experiment({"model": name})
    assert not traffic.errors, traffic.errors
    assert str(run.state) == "success", states(run)
    assert any(d["classpath"].endswith("ExperimentTrigger") for d in deferrals)
    result = json.loads(client.get_model_version(name, "2").tags[TAG_EXPERIMENT_RESULT])
    assert result["decision"] == "win", result["reason"]
    arms = result["arms"]
    assert arms["challenger"]["labelled"] >= arms["challenger"]["planned"] > 1000
    assert arms["champion"]["labelled"] >= arms["champion"]["planned"]
    assert arms["challenger"]["value"] > arms["champion"]["value"] and result["comparison"]["ci_low"] > 0
    assert result["srm_p_value"] > 0.001
    assert client.get_model_version(name, "1").tags[TAG_EXPERIMENT_ROLE] == "champion"
    assert client.get_model_version(name, "1").tags[TAG_EXPERIMENT_DECISION] == "win"
    aliases = client.get_registered_model(name).aliases
    assert aliases["champion"] == "2" and aliases["previous_champion"] == "1" and "challenger" not in aliases
    assert {"version": "2", "previous_champion": "1", "reason": "experiment"} in events(name, "champion")
    run_id = client.get_model_version(name, "2").run_id
    report = Path(client.download_artifacts(run_id, EXPERIMENT_REPORT_MD))
    assert "**Decision: win**" in report.read_text() and "| challenger | v2 | 50% |" in report.read_text()
    assert "<table>" in Path(client.download_artifacts(run_id, EXPERIMENT_REPORT_HTML)).read_text()

    # the champion event's deployment rolls the winner out to all traffic
    assert weights(state_dir, name) == {"1": 50, "2": 50}
    assert str(load_dag("mlops_deployment").test(run_conf={"model": name}).state) == "success"
    assert weights(state_dir, name) == {"2": 100}

    # by hand: the old version against the new champion loses; it is unloaded, the champion keeps all traffic
    with Traffic(name, mlflow_conn, state_dir, {"1", "2"}, seed=200) as traffic:
        run = experiment({"model": name, "challenger": "1"})
    assert not traffic.errors, traffic.errors
    assert str(run.state) == "success", states(run)
    result = json.loads(client.get_model_version(name, "1").tags[TAG_EXPERIMENT_RESULT])
    assert result["decision"] == "lose", result["reason"]
    assert result["comparison"]["ci_high"] < 0
    assert weights(state_dir, name) == {"2": 100}
    assert client.get_registered_model(name).aliases["champion"] == "2"
    assert len([e for e in events(name, "champion") if e.get("reason") == "experiment"]) == 1

    # bad input: with the traffic seen, a deadline minutes away cannot collect the planned rows: said at the start
    capfd.readouterr()
    refused = experiment({"model": name, "challenger": "1", "overrides": {"deadline_hours": 0.001}})
    assert states(refused)["plan"] == "failed" and states(refused)["split"] == "upstream_failed"
    said = "".join(capfd.readouterr())
    assert "labelled rows per hour over the last" in said and "Raise `experiment.minimum_detectable_effect`" in said
    assert weights(state_dir, name) == {"2": 100}
