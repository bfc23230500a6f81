"""Where a model serves, in order: `deploy.environments` (staging, then production), or the single target.

A model's `deploy` either names one target (the single form: `target`, `strategy`, `canary_steps`, `options`) or
lists environments in order, each `{name, target, strategy, canary_steps, options}`; the last one is production.
An environment's unset keys take the top-level `deploy` values, and its `options` are laid over the top-level
`deploy.options` key by key when it keeps the top-level target (a different target starts from no options).

`environments(config)` gives them as `Environment`s, `production(config)` the last one. What an environment serves
is recorded as the alias `serving_<environment>` (`serving_<target>` in the single form, as before); anything that
asks "what serves in production" (the drift and performance monitors, a rollback) reads `production(config).alias`.
Environments never share serving objects: before production, a local environment gets its own server (state under
`<state dir>/<environment>/`, no inference log: staging traffic is not production traffic) and a SageMaker one its
own endpoint (`mlops-<model>-<environment>`) unless its options name one; production keeps the single form's
names, so moving a model from the single form to environments leaves its production server or endpoint in place.
Two Kubernetes environments must name different namespaces, and explicit local ports or SageMaker endpoint names
must differ: `check_environments` refuses a config where two environments would collide, naming the key.

Plain Python: no Airflow import; the deployment targets are imported only by `Environment.deployment_target`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import ConfigError
from mlops_provider.tracking import serving_alias

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy.base import DeploymentTarget

SINGLE_NAME = "production"  # the name of the only environment of the single form


@dataclass(frozen=True)
class Environment:
    """One place a model serves.

    `name` is the environment's (`production` in the single form); `key` is what the registry records it under
    (the name, or the target's name in the single form), so `alias` is `serving_<key>`. `config` is the model's
    config as this environment sees it: its `deploy` holds the environment's target, strategy, canary steps and
    options, so a target reads it as it reads a single-form config.
    """

    name: str
    key: str
    target: str
    strategy: str
    canary_steps: list[int]
    options: dict[str, Any]
    production: bool
    single: bool
    config: ModelConfig = field(compare=False, repr=False)

    @property
    def alias(self) -> str:
        """The registry alias of the version this environment serves (`serving_<key>`)."""
        return serving_alias(self.key)

    @property
    def suffix(self) -> str:
        """What names of this environment's own serving objects end with: nothing in production (the single
        form's names), `-<name>` before it."""
        return "" if self.production else f"-{self.name}"

    @property
    def label(self) -> str:
        """How logs and messages name it: `local` in the single form, `staging (local)` otherwise."""
        return self.target if self.single else f"{self.name} ({self.target})"

    def deployment_target(self, **kwargs: Any) -> DeploymentTarget:
        """The deployment target of this environment, built with `kwargs` (its module imported only now)."""
        from mlops_provider.deploy.base import get_target

        return get_target(self.target, environment=self, **kwargs)


def environments(config: ModelConfig) -> list[Environment]:
    """The model's environments in order, production last (one, named `production`, in the single form)."""
    deploy = config.deploy
    if not deploy.environments:
        return [Environment(SINGLE_NAME, deploy.target, deploy.target, deploy.strategy, list(deploy.canary_steps),
                            dict(deploy.options), True, True, config)]
    found = []
    last = len(deploy.environments) - 1
    for index, entry in enumerate(deploy.environments):
        target = entry.target or deploy.target
        options = {**deploy.options, **entry.options} if target == deploy.target else dict(entry.options)
        strategy = entry.strategy or deploy.strategy
        steps = list(entry.canary_steps or deploy.canary_steps)
        view = config.model_copy(update={"deploy": deploy.model_copy(update={
            "target": target, "strategy": strategy, "canary_steps": steps, "options": options})})
        found.append(Environment(entry.name, entry.name, target, strategy, steps, options, index == last, False,
                                 view))
    return found


def production(config: ModelConfig) -> Environment:
    """The environment whose version serves the real traffic: the last one (the only one in the single form)."""
    return environments(config)[-1]


def before_production(config: ModelConfig) -> list[Environment]:
    """The environments a version must serve in, and pass its checks in, before production (in order)."""
    return environments(config)[:-1]


def environment(config: ModelConfig, name: str) -> Environment:
    """The environment called `name` (`production` also names the single form's only one)."""
    for env in environments(config):
        if env.name == name:
            return env
    known = ", ".join(env.name for env in environments(config))
    raise ConfigError(f"model '{config.name}' has no deployment environment '{name}' (its environments: {known})")


def check_environments(config: ModelConfig) -> None:
    """Refuse `deploy.environments` whose names repeat, whose options their target does not know, or where two
    environments would deploy onto the same serving objects; the error names the file and the key."""
    from mlops_provider.deploy.options import option_problem, option_schema

    def bad(index: int, key: str, why: str) -> ConfigError:
        return ConfigError(f"{config.source}: key 'deploy.environments.{index}.{key}': {why}")

    seen: dict[str, int] = {}
    for index, entry in enumerate(config.deploy.environments):
        if entry.name in seen:
            raise bad(index, "name", f"'{entry.name}' is already environment {seen[entry.name]}; names are unique")
        seen[entry.name] = index
        if entry.name == SINGLE_NAME and index != len(config.deploy.environments) - 1:
            raise bad(index, "name", f"'{SINGLE_NAME}' can only name the last environment (the last one is "
                                     "production)")
    if not config.deploy.environments:
        return
    found = environments(config)
    for index, env in enumerate(found):
        problem = option_problem(option_schema(env.target), env.options)
        if problem is not None:
            raise bad(index, f"options.{problem[0]}", problem[1])
    claimed: dict[tuple[str, str], str] = {}
    for index, env in enumerate(found):
        for key, value, what in _serving_objects(env):
            other = claimed.get((env.target, value))
            if other is not None:
                raise bad(index, f"options.{key}", f"environments '{other}' and '{env.name}' would both use {what}; "
                                                   f"give each its own {key}")
            claimed[(env.target, value)] = env.name


def _serving_objects(env: Environment) -> list[tuple[str, str, str]]:
    """(option, value, description) of what `env` serves on that no other environment may share."""
    options = env.options
    if env.target == "kubernetes":
        namespace = options.get("namespace")
        return [("namespace", str(namespace or ""),
                 f"namespace '{namespace}'" if namespace else "the connection's namespace")]
    if env.target == "local":
        return [(key, str(options[key]), f"port {options[key]}") for key in ("port", "admin_port")
                if options.get(key)]
    if env.target == "sagemaker" and options.get("endpoint_name"):
        return [("endpoint_name", str(options["endpoint_name"]), f"endpoint '{options['endpoint_name']}'")]
    return []
