"""The per-model task chain shared by `mlops_training` and `mlops_retraining`: one definition, no copy."""

from __future__ import annotations

from typing import Any

from airflow.sdk import TaskGroup

from mlops_provider.operators.registry import PromoteModelOperator, RegisterModelOperator
from mlops_provider.operators.training import EvaluateModelOperator, TrainModelOperator
from mlops_provider.operators.validation import ValidateDataOperator


def model_pipeline(model: Any, *, reason: Any = "schedule", group_id: str | None = None,
                   extra_tags: Any = None) -> TaskGroup:
    """validate -> train -> evaluate -> register -> promote for one model, as a task group.

    `model`, `reason` and `extra_tags` may be known only at run time (an XComArg or a Jinja template,
    as in `mlops_retraining`); then `group_id` must be given.
    """
    if group_id is None and not isinstance(model, str):
        raise ValueError("model_pipeline: pass group_id when the model is only known at run time")
    label = model if isinstance(model, str) else "the requested model"
    with TaskGroup(group_id or model, tooltip=f"train and gate {label}") as group:
        validate = ValidateDataOperator(task_id="validate", model=model)
        train = TrainModelOperator(task_id="train", model=model, reason=reason, validation=validate.output)
        evaluate = EvaluateModelOperator(task_id="evaluate", model=model, training=train.output)
        register = RegisterModelOperator(task_id="register", model=model, training=train.output, reason=reason,
                                         extra_tags=extra_tags)
        promote = PromoteModelOperator(task_id="promote", model=model, registration=register.output,
                                       evaluation=evaluate.output)
        validate >> train >> evaluate >> register >> promote
    return group
