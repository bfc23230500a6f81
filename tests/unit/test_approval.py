"""gate.approval: the config's shorthand and checks, the request's Markdown body, the chain it adds a task to,
and the bad input `mlops approve` / `mlops reject` refuse before calling Airflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_provider.approval import request_body, request_subject, responder
from mlops_provider.config import ApprovalConfig, approval_required, load_model_config
from mlops_provider.exceptions import ConfigError
from tests.helpers.model_configs import write_credit_copy

EVALUATION = {"metric": "roc_auc", "candidate_score": 0.91234, "champion_version": "4", "champion_score": 0.9,
              "champion_error": None, "holdout_rows": 250, "data_digest": "abc123"}


def _gate(approval: Any) -> dict[str, Any]:
    return {"metric": "roc_auc", "minimum": 0.7, "approval": approval}


@pytest.fixture
def models(tmp_path: Path, demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("approval", "expected"), [
    (False, ApprovalConfig(required=False)),
    (True, ApprovalConfig(required=True)),
    ({"required": True, "assigned_to": ["admin", "ana"], "timeout_hours": 0.5},
     ApprovalConfig(required=True, assigned_to=["admin", "ana"], timeout_hours=0.5)),
    ({}, ApprovalConfig()),
])
def test_shorthand_and_mapping(models: Path, approval: Any, expected: ApprovalConfig) -> None:
    write_credit_copy(models, "approved", gate=_gate(approval))
    assert load_model_config("approved").gate.approval == expected


def test_default_is_no_approval(models: Path) -> None:
    write_credit_copy(models, "plain", gate={"metric": "roc_auc", "minimum": 0.7})
    approval = load_model_config("plain").gate.approval
    assert (approval.required, approval.assigned_to, approval.timeout_hours) == (False, [], 24)
    assert approval_required("plain") is False


@pytest.mark.parametrize(("approval", "expected"), [
    ({"required": True, "timeout_hours": 0}, "key 'gate.approval.timeout_hours': Input should be greater than 0"),
    ({"required": True, "timeout_hours": -1}, "key 'gate.approval.timeout_hours'"),
    ({"required": True, "assigned_to": [" "]}, "key 'gate.approval.assigned_to': an empty user id"),
    ({"required": True, "assigned_to": ["ana", "ana"]}, "a user is listed twice"),
    ({"required": True, "who": "ana"}, "key 'gate.approval.who': unknown key"),
    ("yes", "key 'gate.approval'"),
])
def test_bad_approval_names_the_key(models: Path, approval: Any, expected: str) -> None:
    write_credit_copy(models, "approved", gate=_gate(approval))
    with pytest.raises(ConfigError, match="approved.yaml") as err:
        load_model_config("approved")
    assert expected in str(err.value)


def test_approval_required_reads_the_config_and_treats_a_broken_one_as_no(models: Path) -> None:
    write_credit_copy(models, "approved", gate=_gate(True))
    assert approval_required("approved") is True
    (models / "broken.yaml").write_text(yaml.safe_dump({"name": "broken"}))
    assert approval_required("broken") is False


def test_body_shows_both_scores_data_validation_and_links() -> None:
    body = request_body(model="credit", version="5", evaluation=EVALUATION,
                        training={"data_digest": "abc123", "data_sources": "train.parquet (1000 rows)",
                                  "validation": "passed"},
                        validation={"message": "12 of 12 expectations passed"},
                        links={"MLflow version": "http://mlflow/#/models/credit/versions/5", "empty": ""})
    assert "| candidate | v5 | 0.9123 |" in body
    assert "| champion | v4 | 0.9000 |" in body
    assert "250 rows" in body and "`abc123`" in body and "train.parquet (1000 rows)" in body
    assert "validation: 12 of 12 expectations passed" in body
    assert "[MLflow version](http://mlflow/#/models/credit/versions/5)" in body and "[empty]" not in body
    assert "Criteria" not in body


def test_body_without_champion_and_with_a_criteria_table() -> None:
    criteria = [{"metric": "roc_auc", "value": 0.91, "bound": ">= 0.7", "verdict": "pass"},
                {"metric": "recall", "value": 0.3, "bound": ">= 0.4", "verdict": "fail | low"}]
    body = request_body(model="credit", version="1",
                        evaluation={**EVALUATION, "champion_version": None, "champion_score": None,
                                    "criteria": criteria})
    assert "| champion | none yet | |" in body
    assert "| metric | value | bound | verdict |\n|---|---|---|---|" in body
    assert "| recall | 0.3000 | >= 0.4 | fail \\| low |" in body  # a pipe in a cell is escaped
    mapping = request_body(model="credit", version="1",
                           evaluation={**EVALUATION, "criteria": {"latency": {"value": 12, "verdict": "pass"}}})
    assert "| criterion | value | verdict |" in mapping and "| latency | 12.0000 | pass |" in mapping


def test_subject_names_model_and_version_exactly() -> None:
    assert request_subject("credit", 7) == "Promote credit v7 to champion?"
    assert request_subject("credit", 1) not in request_subject("credit", 17)


def test_responder() -> None:
    assert responder({"id": "ana", "name": "ana"}) == "ana"
    assert responder({"id": "7", "name": "Ana"}) == "Ana (7)"
    assert responder(None) is None


def _chain(dag: Any, group: str) -> list[str]:
    """The group's task ids in dependency order (data dependencies add edges that skip steps, so order by the
    number of upstream tasks), after checking each task follows the one before it."""
    tasks = [t for t in dag.tasks if t.task_id.startswith(f"{group}.")]
    order = sorted(tasks, key=lambda t: len(t.get_flat_relative_ids(upstream=True)))
    for before, after in zip(order, order[1:], strict=False):
        assert before.task_id in after.upstream_task_ids, (before.task_id, after.task_id)
    return [t.task_id.split(".", 1)[1] for t in order]


def test_chain_gets_approve_only_for_a_model_that_requires_it(models: Path) -> None:
    from airflow.sdk import DAG

    from mlops_provider.pipeline import model_pipeline

    write_credit_copy(models, "signed", gate=_gate({"required": True, "assigned_to": ["admin"]}))
    write_credit_copy(models, "plain", gate=_gate(False))
    with DAG("approval_chain", schedule=None) as dag:
        model_pipeline("signed")
        model_pipeline("plain")
    assert _chain(dag, "signed") == ["validate", "train", "evaluate", "register", "approve", "promote"]
    assert _chain(dag, "plain") == ["validate", "train", "evaluate", "register", "promote"]
    approve = dag.get_task("signed.approve")
    assert approve.options == ["Approve", "Reject"] and "comment" in approve.params
    assert approve.response_timeout.total_seconds() == 24 * 3600  # not the DAG's execution_timeout


@pytest.mark.parametrize(("main", "argv", "message"), [
    ("approve_main", ["Credit", "3"], "not a valid model name"),
    ("approve_main", ["credit", "three"], "not a version number"),
    ("approve_main", ["credit", "0"], "not a version number"),
    ("reject_main", ["credit", "3"], "--comment"),
    ("reject_main", ["credit", "3", "--comment", "  "], "--comment is required to reject"),
])
def test_cli_bad_input_exits_2(main: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.client import approval

    monkeypatch.setenv("MLOPS_AIRFLOW_URL", "http://127.0.0.1:9")  # never reached: input is checked first
    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", "x")
    assert getattr(approval, main)(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main

    assert main(["reject", "--help"]) == 0
    out = capsys.readouterr().out
    assert "mlops reject credit_default 7 --comment" in out and "exit codes: 0 answered, 1 refused" in out
