"""RegisterModelOperator / PromoteModelOperator arguments and the champion asset alias they emit on."""

from __future__ import annotations

from airflow.sdk import AssetAlias

from mlops_provider.operators.registry import CHAMPION_ALIAS_EVENTS, PromoteModelOperator, RegisterModelOperator


def test_register_stores_its_arguments_with_no_extra_tags_by_default() -> None:
    operator = RegisterModelOperator(task_id="register", model="toy", training={"run_id": "r"}, reason="drift",
                                     extra_tags={"mlops.requested_by": "monitor"})

    assert (operator.training, operator.reason) == ({"run_id": "r"}, "drift")
    assert operator.extra_tags == {"mlops.requested_by": "monitor"}
    assert operator.template_fields == ("model", "training", "reason", "extra_tags")
    assert RegisterModelOperator(task_id="r", model="toy", training={}).extra_tags == {}


def test_promote_emits_on_the_champion_alias_unless_told_otherwise() -> None:
    operator = PromoteModelOperator(task_id="promote", model="toy", registration={"version": "2"},
                                    evaluation={"candidate_score": 0.9})

    assert (operator.registration, operator.evaluation) == ({"version": "2"}, {"candidate_score": 0.9})
    assert operator.template_fields == ("model", "registration", "evaluation")
    assert operator.outlets == [AssetAlias(CHAMPION_ALIAS_EVENTS)]
    assert PromoteModelOperator(task_id="p", model="toy", registration={}, evaluation={}, outlets=[]).outlets == []
