"""The serving objects of a model, as archiving and retiring remove them: `ServingObjects` for one target (the
single form's `deploy.target`, or one environment's), dispatching to `deploy/local/retire.py`,
`deploy/kubernetes/retire.py`, `deploy/sagemaker_retire.py`; `every_environment` for all of a model's environments
(staging's own server or endpoint too, not only production's). Clients are made on first use, or injected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.environments import Environment


class Removes(Protocol):
    """What archiving and retiring need: remove one version's serving objects, or the whole model's."""

    def remove_version(self, version: str) -> list[str]: ...

    def remove_model(self, versions: list[str]) -> list[str]: ...


class ServingObjects:
    """Removes what the model's target runs for one version or for the whole model.

    :param config: the model's config (its `deploy.target` and `deploy.options` say where and how things are named).
    :param target: a ready deployment target object (`LocalTarget`, `KubernetesTarget`, `SageMakerTarget`) to use
        instead of one built from defaults (tests inject one talking to a fake cluster or a stubbed client).
    :param target_kwargs: keyword arguments of the target's constructor when it is built here (e.g.
        `kubernetes_conn_id`, `aws_conn_id`), as the deployment operator takes them.
    :param environment: the environment whose objects these are (`config` then is `environment.config`); None:
        the single form.
    """

    def __init__(self, config: ModelConfig, *, target: Any = None, target_kwargs: dict[str, Any] | None = None,
                 environment: Environment | None = None) -> None:
        self.config = config
        self._target = target
        self.target_kwargs = target_kwargs or {}
        self.environment = environment

    @property
    def name(self) -> str:
        return self.config.deploy.target

    def target(self) -> Any:
        if self._target is None:
            from mlops_provider.deploy.base import get_target

            self._target = get_target(self.name, environment=self.environment, **self.target_kwargs)
        return self._target

    def remove_version(self, version: str) -> list[str]:
        """Remove what serves `version` only (never what the target routes traffic to); one line per action."""
        model = self.config.name
        if self.name == "local":
            from mlops_provider.deploy.local.retire import remove_local_version

            return remove_local_version(self.target(), model, str(version))
        if self.name == "kubernetes":
            from mlops_provider.deploy.kubernetes.retire import remove_kubernetes_version

            return remove_kubernetes_version(self._cluster(), model, str(version))
        from mlops_provider.deploy.sagemaker_retire import remove_sagemaker_version

        return remove_sagemaker_version(self._sagemaker(), model, str(version), self._endpoint())

    def remove_model(self, versions: list[str]) -> list[str]:
        """Remove everything the target runs for the model (the end of a retirement); `versions`: all the
        registered ones (SageMaker finds each version's objects by name)."""
        model = self.config.name
        if self.name == "local":
            from mlops_provider.deploy.local.retire import remove_local_model

            return remove_local_model(self.target(), model)
        if self.name == "kubernetes":
            from mlops_provider.deploy.kubernetes.retire import remove_kubernetes_model

            return remove_kubernetes_model(self._cluster(), model)
        from mlops_provider.deploy.sagemaker_retire import remove_sagemaker_model

        return remove_sagemaker_model(self._sagemaker(), model, self._endpoint(), [str(v) for v in versions])

    def _cluster(self) -> Any:
        from mlops_provider.deploy.kubernetes.options import KubernetesOptions

        options = KubernetesOptions.parse(self.config.name, self.config.deploy.options)
        return self.target().cluster(options.namespace)

    def _sagemaker(self) -> Any:
        return self.target()._clients()[0]

    def _endpoint(self) -> str:
        from mlops_provider.deploy.sagemaker import sagemaker_name
        from mlops_provider.deploy.sagemaker_options import SageMakerOptions

        options = SageMakerOptions.parse(self.config.name, self.config.deploy.options)
        suffix = self.environment.suffix if self.environment is not None else ""
        return options.endpoint_name or sagemaker_name(self.config.name, suffix)


class EveryEnvironment:
    """The serving objects of all of a model's environments: what one removal does in each, its lines prefixed
    with the environment's name (none in the single form)."""

    def __init__(self, parts: list[tuple[str, ServingObjects]]) -> None:
        self.parts = parts

    def remove_version(self, version: str) -> list[str]:
        return [f"{prefix}{line}" for prefix, part in self.parts for line in part.remove_version(version)]

    def remove_model(self, versions: list[str]) -> list[str]:
        return [f"{prefix}{line}" for prefix, part in self.parts for line in part.remove_model(versions)]


def every_environment(config: ModelConfig, *, target_kwargs: dict[str, Any] | None = None) -> EveryEnvironment:
    """`EveryEnvironment` of `config`: one `ServingObjects` per environment (one in the single form)."""
    from mlops_provider.environments import environments

    parts = []
    for env in environments(config):
        if env.single:
            parts.append(("", ServingObjects(config, target_kwargs=target_kwargs)))
        else:
            parts.append((f"{env.name}: ", ServingObjects(env.config, target_kwargs=target_kwargs, environment=env)))
    return EveryEnvironment(parts)
