"""Operators that train a model in an MLflow run and score it against the champion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from mlops_provider.links import MLflowRunLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry, skip_if_retired

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.xcom import Evaluation, TrainingResult


class TrainModelOperator(ModelOperator):
    """Train `model` with its configured trainer inside an MLflow run in experiment `mlops/<model>`.

    Logs params, the holdout metric, signature, input example, the training data as a dataset input
    with its digest, and the drift reference profile. A retry of the same DAG run reuses its finished
    MLflow run. Returns ``{model, run_id, model_uri, metrics, data_digest, ...}``.

    :param model: name of the model's config file in `include/models/` (templated).
    :param reason: why it is trained (`schedule`, `drift`, ...), recorded on the run (templated).
    :param validation: the result of `ValidateDataOperator`; training refuses data whose digest differs
        (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    :param deferrable: wait for a remote training in the triggerer (default: `[operators] default_deferrable`).
    """

    template_fields = ("model", "reason", "validation")
    template_fields_renderers = {"validation": "json"}
    operator_extra_links = (MLflowRunLink(),)

    def __init__(self, *, reason: str = "schedule", validation: Any = None,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason
        self.validation = validation
        self.deferrable = deferrable

    def execute(self, context: Any) -> TrainingResult:
        from mlops_provider.monitoring import reference_profile_writer
        from mlops_provider.training.run import train_and_log

        with fail_without_retry():
            config = self.load_config()
            if config.trainer.runner != "local":  # a retired model's remote result is refused by register
                result = self._train_remotely(config, context)
            else:
                with self.hook.fluent() as client:
                    skip_if_retired(client, config.name)
                    result = train_and_log(config, client, dag_run_id=context["run_id"], reason=self.reason,
                                           profile_writer=reference_profile_writer(), validation=self.validation)
        return self._trained(context, result)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> TrainingResult:
        """The pod or job has ended (or did not start): read its result back, as `execute` would have."""
        from mlops_provider.training.remote import finish_remotely

        with fail_without_retry():
            result = finish_remotely(self.load_config(), event)
        return self._trained(context, result)

    def _trained(self, context: Any, result: TrainingResult) -> TrainingResult:
        url = self.hook.run_url(result["experiment_id"], result["run_id"])
        MLflowRunLink.persist(context, url)
        self.log.info("Model %s: %s run %s (%s)", self.model, "reused" if result["reused"] else "trained",
                      result["run_id"], url)
        return result

    def _train_remotely(self, config: ModelConfig, context: Any) -> TrainingResult:
        from mlops_provider.training.remote import RemoteTraining, begin_remotely, train_remotely

        ti = context["ti"]
        training = RemoteTraining(model=config.name, dag_id=ti.dag_id, run_id=context["run_id"],
                                  try_number=ti.try_number, reason=self.reason, validation=self.validation,
                                  tracking_uri=self.hook.tracking_uri)
        if not self.deferrable:
            return train_remotely(config, training, has_login=self.hook.has_login, log=self.log.info)
        trigger = begin_remotely(config, training, has_login=self.hook.has_login, log=self.log.info)
        self.defer(trigger=trigger, method_name="execute_complete")  # raises TaskDeferred


class EvaluateModelOperator(ModelOperator):
    """Score the candidate of `training` and the current champion on the same holdout, and judge every
    criterion of the model's `gate` there (the verdicts go on to the promote task).

    :param model: name of the model's config file in `include/models/` (templated).
    :param training: the result of `TrainModelOperator` (its `model_uri` is scored) (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "training")

    def __init__(self, *, training: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training

    def execute(self, context: Any) -> Evaluation:
        from mlops_provider.training.run import evaluate

        with fail_without_retry():
            config = self.load_config()
            with self.hook.fluent() as client:
                result = evaluate(config, client, candidate_uri=self.training["model_uri"])
        if result["champion_error"]:
            self.log.warning("Champion could not be scored, gating on the minimum only: %s",
                             result["champion_error"])
        self.log.info("Model %s: candidate %s=%.4f, champion v%s %s", self.model, result["metric"],
                      result["candidate_score"], result["champion_version"], result["champion_score"])
        for criterion in result.get("criteria") or []:
            self.log.info("Gate criterion %s %s: %s (%s)", criterion["index"], criterion["name"],
                          criterion["verdict"], criterion["why"])
        return result
