"""The per-model task chain shared by `mlops_training` and `mlops_retraining`: one definition, no copy."""

from __future__ import annotations

from typing import Any

from airflow.sdk import TaskGroup

from mlops_provider.config import approval_required
from mlops_provider.operators.registry import PromoteModelOperator, RegisterModelOperator
from mlops_provider.operators.training import EvaluateModelOperator, TrainModelOperator
from mlops_provider.operators.validation import ValidateDataOperator


def model_pipeline(model: Any, *, reason: Any = "schedule", group_id: str | None = None,
                   extra_tags: Any = None, approval: bool | None = None) -> TaskGroup:
    """validate -> train -> evaluate -> register -> promote for one model, as a task group; with approval,
    register -> approve -> promote (a person signs off before the alias moves).

    `model`, `reason` and `extra_tags` may be known only at run time (an XComArg or a Jinja template,
    as in `mlops_retraining`); then `group_id` must be given. `approval` adds the approve task; by default it
    follows the model's `gate.approval.required`. For a model known only at run time, pass whether any model
    may need it: the approve task then reads the model's config and passes at once when it does not.
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
        validate >> train >> evaluate >> register
        if approval if approval is not None else isinstance(model, str) and approval_required(model):
            from mlops_provider.operators.approval import ApproveModelOperator

            approve = ApproveModelOperator(task_id="approve", model=model, registration=register.output,
                                           evaluation=evaluate.output, training=train.output,
                                           validation=validate.output)
            register >> approve >> promote
        else:
            register >> promote
    return group
