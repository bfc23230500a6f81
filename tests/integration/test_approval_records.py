"""What the approve task writes on a version, on the real MLflow server: the criteria the person judges (before it
asks) and a person's refusal, which the passport then shows."""

from __future__ import annotations

import json
import uuid

from tests.helpers.registry_versions import bare_versions, client_for

CRITERIA = [
    {"index": 0, "name": "rmse", "value": 54.2, "bound": "<= 65", "verdict": "pass", "why": "54.2 <= 65"},
    {"index": 1, "name": "rmse_by_sex", "value": 61.0, "bound": "<= 70, gap <= 15", "verdict": "pass", "why": "ok",
     "groups": [{"group": "1", "rows": 70, "value": 58.1, "verdict": "pass"},
                {"group": "2", "rows": 63, "value": 61.0, "verdict": "pass"}]},
]


def test_the_criteria_are_recorded_without_a_decision_and_a_refusal_is_one(mlflow_server: str) -> None:
    from mlops_provider.passport import build_passport
    from mlops_provider.registry import record_criteria, record_refusal
    from mlops_provider.tracking import CHAMPION

    client, model = client_for(mlflow_server), f"signed_{uuid.uuid4().hex[:6]}"
    (version,) = bare_versions(client, model, 1)
    record_criteria(client, model, version, {"criteria": CRITERIA})
    tags = client.get_model_version(model, version).tags
    assert json.loads(tags["mlops.criteria"])[1]["groups"][1]["value"] == 61.0
    assert tags["mlops.gate.0.rmse"] == "pass" and tags["mlops.gate.1.rmse_by_sex"] == "pass"
    assert "mlops.decision" not in tags, "asking a person is not a decision"

    record_refusal(client, model, version, "rejected by admin: same data as the champion")
    tags = client.get_model_version(model, version).tags
    assert (tags["mlops.decision"], tags["mlops.gate"]) == ("rejected", "rejected by admin: same data as the champion")
    assert CHAMPION not in client.get_registered_model(model).aliases
    passport = build_passport(client, model, version, mlflow_ui_url=mlflow_server)
    assert passport["gate"]["criteria"][1]["name"] == "rmse_by_sex" and passport["gate"]["decision"] == "rejected"


def test_no_criteria_writes_nothing(mlflow_server: str) -> None:
    from mlops_provider.registry import record_criteria

    client, model = client_for(mlflow_server), f"signed_{uuid.uuid4().hex[:6]}"
    (version,) = bare_versions(client, model, 1)
    record_criteria(client, model, version, {"criteria": []})
    tags = client.get_model_version(model, version).tags
    assert not [tag for tag in tags if tag.startswith(("mlops.criteria", "mlops.gate"))]
