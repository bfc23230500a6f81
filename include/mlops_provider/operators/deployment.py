"""Operator that deploys a registered model version to the model's configured target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from mlops_provider.links import MLflowModelVersionLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry
from mlops_provider.operators.passport import task_actor

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy import DeploymentResult, DeploymentTarget, Pending


class DeployModelOperator(ModelOperator):
    """Deploy `version` of `model` to its `deploy.target` with its `deploy.strategy`, verify it, and roll
    back when verification fails.

    `version` is a version number or an alias (`champion`). The target records what it really serves as the
    alias `serving_<target>`; a failed deployment leaves the previous version serving, tags the failed version
    with the reason, and fails this task without retry. Deploying the version already served is a no-op, so a
    retry never deploys twice. With `deferrable=True` (default: `[operators] default_deferrable`), targets that
    wait on something remote (a Kubernetes rollout, a SageMaker endpoint update) hand each wait to the
    triggerer instead of holding a worker slot, and the task resumes in `execute_complete`. Returns the
    `DeploymentResult` as a dict.

    :param model: the configured model (`include/models/<model>.yaml`); templated.
    :param version: the version to deploy: a version number or an alias such as `champion`; templated.
    :param target_kwargs: keyword arguments of the target's constructor (e.g. `kubernetes_conn_id`,
        `aws_conn_id`, `poll_interval`).
    :param deferrable: hand the target's waits to the triggerer (default: `[operators] default_deferrable`).
    :param mlflow_conn_id: the MLflow connection of the registry (default: `mlflow_default`).
    """

    template_fields = ("model", "version")
    operator_extra_links = (MLflowModelVersionLink(),)
    ui_color = "#fbe8c8"

    def __init__(self, *, version: Any, target_kwargs: dict[str, Any] | None = None,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.target_kwargs = target_kwargs or {}
        self.deferrable = deferrable

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.deploy import DeferrableTarget
        from mlops_provider.history import acting

        config = self._config()
        version = self._resolve(config, str(self.version))
        MLflowModelVersionLink.persist(context, self.hook.model_version_url(config.name, version))
        self.log.info("Model %s: deploying v%s to %s (%s)", config.name, version, config.deploy.target,
                      config.deploy.strategy)
        with self.hook.fluent(), fail_without_retry(), acting(task_actor(context, self)):
            target = self._target(config)
            if self.deferrable and isinstance(target, DeferrableTarget):
                return self._next(config, target.begin(config.name, version, config.deploy.strategy, config))
            result = target.deploy(config.name, version, config.deploy.strategy, config)
        return self._finish(config, result)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None,
                         state: dict[str, Any] | None = None, logged: int = 0) -> dict[str, Any]:
        """Called when the trigger of a `Pending` fired: check the event, continue the deployment from `state`."""
        from mlops_provider.deploy import DeferrableTarget
        from mlops_provider.history import acting

        config = self._config()
        event = self._validate_event(config, event)
        with self.hook.fluent(), fail_without_retry(), acting(task_actor(context, self)):
            target = self._target(config)
            assert isinstance(target, DeferrableTarget)
            return self._next(config, target.resume(dict(state or {}), event, config), logged)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _validate_event(self, config: ModelConfig, event: dict[str, Any] | None) -> dict[str, Any]:
        """The trigger's event, when it has a `status`. Every status, `error` included, is the target's to judge
        (a rollout `done` or `failed`, an endpoint that settled, timed out, or could not be read from the
        triggerer): the target looks at what really serves, so a failed change is still rolled back."""
        from airflow.sdk.exceptions import AirflowException

        where = f"model '{config.name}' on {config.deploy.target}"
        if not isinstance(event, dict) or "status" not in event:
            raise AirflowException(f"{where}: the deployment resumed without a trigger event (got {event!r})")
        return dict(event)

    def _config(self) -> ModelConfig:
        with fail_without_retry():
            return self.load_config()

    def _resolve(self, config: ModelConfig, version: str) -> str:
        """A version number as given, or the version behind an alias (e.g. `champion` for a run started by hand)."""
        from airflow.sdk.exceptions import AirflowFailException

        if version.isdigit():
            return version
        from mlops_provider.registry import alias_version

        resolved = alias_version(self.hook.get_conn(), config.name, version)
        if resolved is None:
            raise AirflowFailException(f"model '{config.name}' has no version under alias '{version}'")
        return resolved

    def _target(self, config: ModelConfig) -> DeploymentTarget:
        from mlops_provider.deploy import get_target

        return get_target(config.deploy.target, **self.target_kwargs)

    def _next(self, config: ModelConfig, outcome: DeploymentResult | Pending, logged: int = 0) -> dict[str, Any]:
        """Finish, or log the steps so far and defer on the outcome's trigger (`logged`: steps already logged by
        earlier deferrals of this task, so that the final summary does not repeat them)."""
        from mlops_provider.deploy import Pending

        if not isinstance(outcome, Pending):
            return self._finish(config, outcome, logged)
        import importlib

        self._log_steps(config, outcome.steps)
        module, _, name = outcome.trigger.rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**outcome.trigger_kwargs)
        self.log.info("Model %s: waiting in the triggerer (%s)", config.name, name)
        self.defer(trigger=trigger, method_name="execute_complete",
                   kwargs={"state": outcome.state, "logged": logged + len(outcome.steps)})

    def _finish(self, config: ModelConfig, result: DeploymentResult, logged: int = 0) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        self._log_steps(config, result.steps[logged:])
        if not result.success:  # verified and rolled back: the same version would fail the same way
            still = f"v{result.served_version} is still serving" if result.served_version else "nothing serves"
            raise AirflowFailException(
                f"model '{config.name}' v{result.version} on {config.deploy.target}: {result.message}; {still}")
        self.log.info("Model %s: %s serves v%s (%s)", config.name, config.deploy.target, result.served_version,
                      result.message)
        return result.to_dict()

    def _log_steps(self, config: ModelConfig, steps: list[str]) -> None:
        for step in steps:
            self.log.info("Model %s on %s: %s", config.name, config.deploy.target, step)
