"""The serving objects of a model's configured target (`deploy.target`), as archiving and retiring remove them:
one object per target that `remove_version` and `remove_model` dispatch to (`deploy/local/retire.py`,
`deploy/kubernetes/retire.py`, `deploy/sagemaker_retire.py`). Clients are made on first use, or injected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig


class ServingObjects:
    """Removes what the model's target runs for one version or for the whole model.

    :param config: the model's config (its `deploy.target` and `deploy.options` say where and how things are named).
    :param target: a ready deployment target object (`LocalTarget`, `KubernetesTarget`, `SageMakerTarget`) to use
        instead of one built from defaults (tests inject one talking to a fake cluster or a stubbed client).
    :param target_kwargs: keyword arguments of the target's constructor when it is built here (e.g.
        `kubernetes_conn_id`, `aws_conn_id`), as the deployment operator takes them.
    """

    def __init__(self, config: ModelConfig, *, target: Any = None, target_kwargs: dict[str, Any] | None = None
                 ) -> None:
        self.config = config
        self._target = target
        self.target_kwargs = target_kwargs or {}

    @property
    def name(self) -> str:
        return self.config.deploy.target

    def target(self) -> Any:
        if self._target is None:
            from mlops_provider.deploy.base import get_target

            self._target = get_target(self.name, **self.target_kwargs)
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
        return self.target()._cluster(options.namespace)

    def _sagemaker(self) -> Any:
        return self.target()._clients()[0]

    def _endpoint(self) -> str:
        from mlops_provider.deploy.sagemaker import sagemaker_name
        from mlops_provider.deploy.sagemaker_options import SageMakerOptions

        options = SageMakerOptions.parse(self.config.name, self.config.deploy.options)
        return options.endpoint_name or sagemaker_name(self.config.name)
