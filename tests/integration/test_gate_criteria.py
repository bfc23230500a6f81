"""The gate's criteria through the real chain: mlops_training in dag.test() against a real MLflow server records
every criterion on the version and refuses a candidate that fails a slice; a promotion whose champion moved judges
every criterion again against the new one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# the demo's criteria with a latency budget no busy test machine misses (the budget's own check is a unit test)
CRITERIA = [{"metric": "roc_auc", "minimum": 0.7, "max_regression": 0.01, "confidence": 0.95},
            {"metric": "recall", "minimum": 0.35},
            {"slice": "region", "metric": "roc_auc", "minimum": 0.65, "max_gap": 0.08, "min_rows": 30},
            {"latency_p95_ms": 5000, "rows": 1}]
# every region ranks far better than the demo model can: the slice criterion fails, the others pass
UNFAIR = [CRITERIA[0], {"slice": "region", "metric": "roc_auc", "minimum": 0.95}]


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def only_version(client: Any, name: str) -> Any:
    [version] = client.search_model_versions(f"name = '{name}'")
    return version


def test_training_records_every_criterion_and_a_failing_slice_refuses(mlflow_conn: str, private_model: Any,
                                                                      load_dag: Any, tmp_path: Path) -> None:
    from mlops_provider.tracking import CRITERIA_ARTIFACT

    fair = private_model("credit_gate_fair", gate={"criteria": CRITERIA})
    unfair = private_model("credit_gate_unfair", gate={"criteria": UNFAIR})
    run = load_dag("mlops_training").test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states[f"{fair}.promote"] == "success" and states[f"{unfair}.promote"] == "success", states
    client = client_for(mlflow_conn)

    promoted = only_version(client, fair)
    tags = promoted.tags
    assert tags["mlops.decision"] == "promoted", tags["mlops.gate"]
    assert [tags[f"mlops.gate.{i}.{n}"] for i, n in enumerate(
        ["roc_auc", "recall", "roc_auc_by_region", "latency_p95_ms"])] == ["pass"] * 4
    criteria = json.loads(tags["mlops.criteria"])
    assert [c["name"] for c in criteria] == ["roc_auc", "recall", "roc_auc_by_region", "latency_p95_ms"]
    assert abs(criteria[0]["value"] - float(tags["mlops.score.candidate"])) < 1e-6
    assert criteria[0]["interval"] is None and "no scored champion" in criteria[0]["why"]  # the first champion
    assert {g["group"] for g in criteria[2]["groups"]} == {"north", "south", "east", "west"}
    assert all(g["rows"] >= 30 and g["verdict"] == "pass" for g in criteria[2]["groups"])
    assert 0 < criteria[3]["value"] < 5000 and criteria[3]["bound"] == "p95 <= 5000 ms"
    assert client.get_registered_model(fair).aliases["champion"] == promoted.version
    text = Path(client.download_artifacts(promoted.run_id, CRITERIA_ARTIFACT, str(tmp_path))).read_text()
    assert "| 2 | roc_auc_by_region |" in text and "| north |" in text and text.count("**pass**") == 4

    refused = only_version(client, unfair)
    assert refused.tags["mlops.decision"] == "rejected"
    assert refused.tags["mlops.gate.0.roc_auc"] == "pass"
    assert refused.tags["mlops.gate.1.roc_auc_by_region"] == "fail"
    assert "roc_auc by region: worst" in refused.tags["mlops.gate"] and "misses 0.9500" in refused.tags["mlops.gate"]
    assert "champion" not in client.get_registered_model(unfair).aliases, "a failed slice must not promote"


class XComSink:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


def test_a_champion_moved_meanwhile_is_judged_again_on_every_criterion(mlflow_conn: str,
                                                                       private_model: Any) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.operators.registry import PromoteModelOperator
    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import evaluate
    from tests.helpers.trained_versions import register_versions

    name = private_model("credit_gate_moved", gate={"criteria": [CRITERIA[0], CRITERIA[2]]})
    weak, strong = register_versions(name, mlflow_conn, [150, 150])  # the same model twice: non-inferior
    client = client_for(mlflow_conn)
    with tracking_uri(mlflow_conn):  # judged when there was no champion yet
        evaluation = evaluate(load_model_config(name), client, candidate_uri=f"models:/{name}/{strong}")
    assert evaluation["champion_version"] is None and evaluation["criteria"][0]["interval"] is None
    client.set_registered_model_alias(name, "champion", weak)  # another promotion moved it meanwhile

    operator = PromoteModelOperator(task_id="promote", model=name, outlets=[], evaluation=evaluation,
                                    registration={"version": strong, "model_uri": f"models:/{name}/{strong}"})
    result = operator.execute({"run_id": "manual__moved", "ti": XComSink()})

    tags = client.get_model_version(name, strong).tags
    assert tags["mlops.champion_at_decision"] == weak
    criteria = json.loads(tags["mlops.criteria"])
    assert criteria[0]["champion"] is not None and criteria[0]["interval"] == [0.0, 0.0], criteria[0]
    assert f"vs champion v{weak} " in criteria[0]["why"]
    assert result["promoted"] and result["previous_champion"] == weak
