"""Operator that deploys a registered model version to the model's configured target, or to its environments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from mlops_provider.links import MLflowModelVersionLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry
from mlops_provider.operators.passport import task_actor

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy import DeploymentResult, Pending
    from mlops_provider.environments import Environment

PRODUCTION = "production"
BEFORE_PRODUCTION = "before_production"  # never an environment's name: those are lowercase words without "_"


class DeployModelOperator(ModelOperator):
    """Deploy `version` of `model` to its `deploy.target` with its `deploy.strategy` (or to one or more of its
    `deploy.environments`), verify it, and roll back when verification fails.

    `version` is a version number or an alias (`champion`). The target records what it really serves as the
    alias `serving_<target>` (`serving_<environment>` for a model with environments); a failed deployment leaves
    the previous version serving, tags the failed version with the reason, and fails this task without retry.
    Deploying the version already served is a no-op, so a retry never deploys twice. With `deferrable=True`
    (default: `[operators] default_deferrable`), targets that wait on something remote (a Kubernetes rollout, a
    SageMaker endpoint update) hand each wait to the triggerer instead of holding a worker slot, and the task
    resumes in `execute_complete`.

    `environment` says where to: `production` (default: the last of `deploy.environments`, or the single target),
    `before_production` (every environment before production in order, each deployed and then verified by its
    target's own status before the next one starts; nothing for a model without environments), or one
    environment's name. Production of a model with environments is refused unless every environment before it
    records `version` as served (it passed its checks there). Returns the `DeploymentResult` as a dict (with
    `environment`); with `before_production`, `{model, version, environments: [result, ...]}`.

    :param model: the configured model (`include/models/<model>.yaml`); templated.
    :param version: the version to deploy: a version number or an alias such as `champion`; templated.
    :param environment: `production`, `before_production` or an environment's name; templated.
    :param target_kwargs: keyword arguments of the target's constructor (e.g. `kubernetes_conn_id`,
        `aws_conn_id`, `poll_interval`).
    :param deferrable: hand the target's waits to the triggerer (default: `[operators] default_deferrable`).
    :param mlflow_conn_id: the MLflow connection of the registry (default: `mlflow_default`).
    """

    template_fields = ("model", "version", "environment")
    operator_extra_links = (MLflowModelVersionLink(),)
    ui_color = "#fbe8c8"

    def __init__(self, *, version: Any, environment: str = PRODUCTION, target_kwargs: dict[str, Any] | None = None,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.environment = environment
        self.target_kwargs = target_kwargs or {}
        self.deferrable = deferrable

    def execute(self, context: Any) -> dict[str, Any]:
        config = self._config()
        version = self._resolve(config, str(self.version))
        MLflowModelVersionLink.persist(context, self.hook.model_version_url(config.name, version))
        envs = self._environments(config)
        if not envs:
            self.log.info("Model %s has no environment before production: nothing to stage", config.name)
            return {"model": config.name, "version": version, "environments": []}
        return self._deploy_from(context, config, version, envs, 0, [])

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None,
                         state: dict[str, Any] | None = None, logged: int = 0, version: str = "", at: int = 0,
                         done: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Called when the trigger of a `Pending` fired: check the event, continue the deployment from `state`
        (in environment `at` of this task's, after the results `done` of the ones before it)."""
        from mlops_provider.deploy import DeferrableTarget
        from mlops_provider.history import acting

        config = self._config()
        envs = self._environments(config)
        env = envs[at]
        event = self._validate_event(env, event)
        done = list(done or [])
        with self.hook.fluent(), fail_without_retry(), acting(task_actor(context, self)):
            target = env.deployment_target(**self.target_kwargs)
            assert isinstance(target, DeferrableTarget)
            outcome = target.resume(dict(state or {}), event, env.config)
            done.append(self._settle(env, outcome, version, at, done, logged))
        return self._deploy_from(context, config, version, envs, at + 1, done)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _environments(self, config: ModelConfig) -> list[Environment]:
        from mlops_provider.environments import before_production, environment, production

        with fail_without_retry():
            if self.environment == PRODUCTION:
                return [production(config)]
            if self.environment == BEFORE_PRODUCTION:
                return before_production(config)
            return [environment(config, self.environment)]

    def _deploy_from(self, context: Any, config: ModelConfig, version: str, envs: list[Environment], at: int,
                     done: list[dict[str, Any]]) -> dict[str, Any]:
        """Deploy to `envs[at:]` in order (deferring where a target waits); the task's return value."""
        from mlops_provider.deploy import DeferrableTarget
        from mlops_provider.history import acting

        with self.hook.fluent(), fail_without_retry(), acting(task_actor(context, self)):
            for index in range(at, len(envs)):
                env = envs[index]
                if env.production and not env.single:
                    self._check_staged(config, version)
                self.log.info("Model %s: deploying v%s to %s (%s)", config.name, version, env.label, env.strategy)
                target = env.deployment_target(**self.target_kwargs)
                outcome: DeploymentResult | Pending
                if self.deferrable and isinstance(target, DeferrableTarget):
                    outcome = target.begin(config.name, version, env.strategy, env.config)
                else:
                    outcome = target.deploy(config.name, version, env.strategy, env.config)
                done.append(self._settle(env, outcome, version, index, done))
        if self.environment == BEFORE_PRODUCTION:
            return {"model": config.name, "version": version, "environments": done}
        return done[-1]

    def _settle(self, env: Environment, outcome: DeploymentResult | Pending, version: str, at: int,
                done: list[dict[str, Any]], logged: int = 0) -> dict[str, Any]:
        """The result of one environment, verified there when it is not production (the `verify` task checks
        production); or defer on the outcome's trigger (`logged`: steps already logged by earlier deferrals)."""
        from mlops_provider.deploy import Pending

        if isinstance(outcome, Pending):
            self._defer(env, outcome, version, at, done, logged)
        assert not isinstance(outcome, Pending)
        result = self._finish(env, outcome, logged)
        if not env.production:
            from mlops_provider.deployment_request import verify_environment

            self.log.info("%s", verify_environment(env, version, self.target_kwargs))
        return result

    def _defer(self, env: Environment, outcome: Pending, version: str, at: int, done: list[dict[str, Any]],
               logged: int) -> None:
        import importlib

        self._log_steps(env, outcome.steps)
        module, _, name = outcome.trigger.rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**outcome.trigger_kwargs)
        self.log.info("Model %s on %s: waiting in the triggerer (%s)", env.config.name, env.label, name)
        self.defer(trigger=trigger, method_name="execute_complete",
                   kwargs={"state": outcome.state, "logged": logged + len(outcome.steps), "version": version,
                           "at": at, "done": done})

    def _check_staged(self, config: ModelConfig, version: str) -> None:
        """Refuse production unless every environment before it records `version` as served."""
        from airflow.sdk.exceptions import AirflowFailException

        from mlops_provider.environments import before_production
        from mlops_provider.registry import recorded_version

        client = self.hook.get_conn()
        for env in before_production(config):
            served = recorded_version(client, config.name, env.key)
            if served != version:
                raise AirflowFailException(
                    f"model '{config.name}' v{version} is not deployed to production: {env.label} records "
                    f"{f'v{served}' if served else 'nothing'} as {env.alias}, not v{version}; a version reaches "
                    "production only after it served and passed its checks in every environment before it")

    def _validate_event(self, env: Environment, event: dict[str, Any] | None) -> dict[str, Any]:
        """The trigger's event, when it has a `status`. Every status, `error` included, is the target's to judge
        (a rollout `done` or `failed`, an endpoint that settled, timed out, or could not be read from the
        triggerer): the target looks at what really serves, so a failed change is still rolled back."""
        from airflow.sdk.exceptions import AirflowException

        where = f"model '{env.config.name}' on {env.label}"
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

    def _finish(self, env: Environment, result: DeploymentResult, logged: int = 0) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        model = env.config.name
        result.environment = None if env.single else env.name
        self._log_steps(env, result.steps[logged:])
        if not result.success:  # verified and rolled back: the same version would fail the same way
            still = f"v{result.served_version} is still serving" if result.served_version else "nothing serves"
            untouched = "" if env.production else "; production was not touched"
            raise AirflowFailException(f"model '{model}' v{result.version} on {env.label}: {result.message}; "
                                       f"{still}{untouched}")
        self.log.info("Model %s: %s serves v%s (%s)", model, env.label, result.served_version, result.message)
        return result.to_dict()

    def _log_steps(self, env: Environment, steps: list[str]) -> None:
        for step in steps:
            self.log.info("Model %s on %s: %s", env.config.name, env.label, step)
