"""Operators of `mlops_lifecycle`: apply a model's archive rule, and do the retirement phases that are due."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.operators.base import ModelOperator, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig


class _LifecycleOperator(ModelOperator):
    ui_color = "#ece4f5"

    def __init__(self, *, target_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_kwargs = target_kwargs or {}

    def _config(self) -> ModelConfig:
        from mlops_provider.config import load_model_config

        with fail_without_retry():
            return load_model_config(self.model, check_paths=False)

    def _serving(self, config: ModelConfig) -> Any:
        from mlops_provider.lifecycle.serving import every_environment

        return every_environment(config, target_kwargs=self.target_kwargs)


class ArchiveVersionsOperator(_LifecycleOperator):
    """Archive the versions the model's `lifecycle.archive_after_days` selects: no alias of any kind for that
    many days. Each is tagged `mlops.lifecycle.archived` and loses its serving objects on the model's target; a
    rule that would archive the champion or previous_champion fails the task without retry, archiving nothing.
    Returns `{"model", "archived": {version: [removed...]}, "skipped": {version: why}}`.

    :param model: name of the model's config file in `include/models/` (templated).
    :param target_kwargs: keyword arguments of the deployment target's constructor (e.g. `kubernetes_conn_id`,
        `aws_conn_id`), as `DeployModelOperator` takes them.
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.lifecycle.archive import ArchiveOutcome, apply_archive_rule
        from mlops_provider.registry import model_exists

        config = self._config()
        with self.hook.fluent() as client:
            if config.lifecycle.archive_after_days is None or not model_exists(client, config.name):
                self.log.info("Model %s: no archive rule, or nothing registered", config.name)
                return ArchiveOutcome(config.name).to_dict()
            with fail_without_retry():
                outcome = apply_archive_rule(client, config, serving=self._serving(config))
        for version, removed in outcome.archived.items():
            self.log.info("Model %s: archived v%s (%s)", config.name, version, "; ".join(removed) or "nothing served")
        return outcome.to_dict()


class RetirementPhaseOperator(_LifecycleOperator):
    """Do the model's retirement phases that are due (dated today, UTC, or earlier) and not done yet, each once,
    alerting (kind `lifecycle`) after each is recorded. A plan seen for the first time with a phase in the past,
    or a replacement that is not configured, fails the task without retry. Returns `{"model", "ran": [...]}`.

    :param model: name of the model's config file in `include/models/` (templated).
    :param target_kwargs: keyword arguments of the deployment target's constructor (e.g. `kubernetes_conn_id`,
        `aws_conn_id`), as `DeployModelOperator` takes them.
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.lifecycle.phases import run_due_phases
        from mlops_provider.operators.alerting import alert
        from mlops_provider.registry import model_exists

        config = self._config()
        if config.lifecycle.retirement is None:
            return {"model": config.name, "ran": []}

        def tell(summary: str, details: str) -> None:
            alert(self, context, config, kind="lifecycle", summary=summary, details=details)

        with self.hook.fluent() as client:
            if not model_exists(client, config.name):
                self.log.info("Model %s: nothing registered yet; the plan waits", config.name)
                return {"model": config.name, "ran": []}
            with fail_without_retry():
                ran = run_due_phases(client, config, serving=self._serving(config), alert=tell)
        for done in ran:
            self.log.info("Model %s: phase %d (%s) done: %s", config.name, done["index"], done["phase"],
                          "; ".join(done["did"]))
        return {"model": config.name, "ran": ran}
