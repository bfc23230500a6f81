"""The act and record steps of mlops_experiment against a real MLflow server: a win moves `champion` once (a retry
finds it moved and does not move it again), a champion moved by someone else since the plan is not replaced, a loss
removes the challenger alias, and the verdict is recorded on both versions with a readable report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.registry_versions import bare_versions, client_for


class Added:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def add(self, asset: Any, extra: dict[str, Any] | None = None) -> None:
        self.events.append((asset.uri, dict(extra or {})))


class OutletEvents(dict):  # type: ignore[type-arg]
    """What a task's `context["outlet_events"]` does with `[alias].add(asset, extra)`: keeps them."""

    def __missing__(self, key: Any) -> Added:
        self[key] = Added()
        return self[key]


def result(model: str, decision: str) -> dict[str, Any]:
    plan = {"model": model, "champion": "1", "challenger": "2", "metric": "roc_auc", "higher_is_better": True,
            "minimum_detectable_effect": 0.05, "alpha": 0.05, "power": 0.8,
            "split": {"champion": 50, "challenger": 50}, "routing_key": "customer id", "baseline": 0.7,
            "per_row_variance": 0.4, "variance_source": "test", "rows": {"champion": 100, "challenger": 100},
            "started": "2026-01-01T00:00:00+00:00", "deadline": "2026-01-02T00:00:00+00:00", "notes": []}
    arms = {arm: {"version": plan[arm], "share": 50, "predictions": 120, "requests": 24, "labelled": 110,
                  "planned": 100,
                  "value": value} for arm, value in (("champion", 0.70), ("challenger", 0.78))}
    comparison = {"champion": 0.70, "challenger": 0.78, "effect": 0.08, "ci_low": 0.02, "ci_high": 0.14,
                  "p_value": 0.008, "confidence": 0.95, "test": "DeLong z test, two independent AUCs"}
    return {"decision": decision, "reason": f"{decision} for the test", "plan": plan, "arms": arms,
            "horizon": "planned size", "srm_p_value": 0.6, "comparison": comparison, "unit": "roc_auc",
            "notes": []}


@pytest.fixture
def versions(mlflow_conn: str, private_model: Any, request: pytest.FixtureRequest,
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))  # no local server runs: nothing to unload
    name = private_model(f"credit_act_{abs(hash(request.node.name)) % 100_000}")
    client = client_for(mlflow_conn)
    assert bare_versions(client, name, 2) == ["1", "2"]
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    return name, client


def act(name: str, decision: str) -> tuple[dict[str, Any], OutletEvents]:
    from mlops_provider.operators.experiment import ActOnExperimentOperator

    outlets = OutletEvents()
    operator = ActOnExperimentOperator(task_id="act", model=name, result=result(name, decision))
    return operator.execute({"run_id": "manual__test", "outlet_events": outlets}), outlets


def test_a_win_moves_the_champion_once_even_when_retried(versions: tuple[str, Any]) -> None:
    from mlops_provider.history import read_history

    name, client = versions
    first, outlets = act(name, "win")
    aliases = client.get_registered_model(name).aliases
    assert aliases == {"champion": "2", "previous_champion": "1"}
    assert first["steps"][0] == "v2 is champion, v1 previous_champion"
    (_, added), = outlets.items()
    assert added.events == [(f"x-mlops://{name}/champion",
                             {"version": "2", "previous_champion": "1", "reason": "experiment"})]

    retry, _ = act(name, "win")
    assert retry["steps"][0] == "v2 is already champion (a retry): not moved again"
    assert client.get_registered_model(name).aliases == {"champion": "2", "previous_champion": "1"}
    moves = [e for e in read_history(client, name) if e.alias == "champion" and e.to == "2"]
    assert len(moves) == 1


def test_a_champion_moved_since_the_plan_is_not_replaced(versions: tuple[str, Any]) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    name, client = versions
    third = client.create_model_version(name, source=client.get_model_version(name, "1").source,
                                                     run_id=client.get_model_version(name, "1").run_id)
    client.set_registered_model_alias(name, "champion", str(third.version))
    with pytest.raises(AirflowFailException, match="the champion moved to v3 since the experiment compared v2"):
        act(name, "win")
    assert client.get_registered_model(name).aliases["champion"] == "3"


@pytest.mark.parametrize("decision", ["lose", "inconclusive", "invalid", "stopped"])
def test_anything_but_a_win_removes_the_challenger_and_keeps_the_champion(versions: tuple[str, Any],
                                                                         decision: str) -> None:
    name, client = versions
    done, outlets = act(name, decision)
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    assert "challenger alias removed" in done["steps"] and not outlets


def test_the_verdict_is_recorded_on_both_versions_with_a_report(versions: tuple[str, Any]) -> None:
    from mlops_provider.experiments.record import record_result
    from mlops_provider.tracking import EXPERIMENT_REPORT_HTML, EXPERIMENT_REPORT_MD

    name, client = versions
    where = record_result(client, result(name, "win"), dag_run_id="manual__test")
    for version, role in (("1", "champion"), ("2", "challenger")):
        tags = client.get_model_version(name, version).tags
        assert tags["mlops.experiment.role"] == role and tags["mlops.experiment.decision"] == "win"
        assert tags["mlops.experiment.effect"] == "0.08" and tags["mlops.experiment.p_value"] == "0.008"
        assert tags["mlops.experiment.interval"] == "[0.02, 0.14]"
        assert json.loads(tags["mlops.experiment.result"])["arms"]["challenger"]["labelled"] == 110
    run_id = client.get_model_version(name, "2").run_id
    assert where == f"runs:/{run_id}/{EXPERIMENT_REPORT_MD}"
    markdown = Path(client.download_artifacts(run_id, EXPERIMENT_REPORT_MD)).read_text()
    assert "**Decision: win**" in markdown and "| challenger | v2 | 50% | 24 | 120 | 110 (100) | 0.78 |" in markdown
    assert "95% interval: [+0.02, +0.14]" in markdown and "p-value: 0.008" in markdown
    page = Path(client.download_artifacts(run_id, EXPERIMENT_REPORT_HTML)).read_text()
    assert "<table><tr><th>arm</th>" in page and "Decision: win" in page
