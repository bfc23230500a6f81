"""The MLflow tracking contract: tag and alias names, artifact paths, finding a stage's run, loading a version.

Every module that reads or writes MLflow takes these names from here. Plain MLflow, imported inside functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import EvaluationError

if TYPE_CHECKING:
    from mlflow import MlflowClient

# version and run tags
TAG_DAG_RUN = "mlops.dag_run_id"
TAG_REASON = "mlops.reason"
TAG_DIGEST = "mlops.data_digest"
TAG_MODEL = "mlops.model"
TAG_VALIDATION = "mlops.validation"
TAG_STAGE = "mlops.stage"  # training, validation, drift: runs of one experiment told apart
TAG_REQUESTED_BY = "mlops.requested_by"
TAG_DRIFT = "mlops.drift"
TAG_MANAGED = "mlops.managed"  # registered-model tag: created by this package

# registry aliases
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"

# artifacts of a training run
PROFILE_ARTIFACT = "drift/reference_profile.npz"


def serving_alias(target: str) -> str:
    """The alias recording what deployment target `target` really serves."""
    return f"serving_{target}"


@contextmanager
def tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (`mlflow.start_run`, `log_model`, `load_model`) at `uri` for the block.

    `mlflow.set_tracking_uri` and `set_registry_uri` also write MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI into os.environ; both they and MLflow's globals are restored on exit.
    """
    import os

    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_env = {name: os.environ.get(name) for name in names}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def find_stage_run(client: MlflowClient, experiment_id: str, *, stage: str, dag_run_id: str, digest: str,
                   finished_only: bool = False) -> Any | None:
    """The run of `stage` (training, validation) this DAG run already made on this data, if any: a retry
    finds it instead of starting another."""
    status = " and attributes.status = 'FINISHED'" if finished_only else ""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`{TAG_DAG_RUN}` = '{dag_run_id}' and tags.`{TAG_DIGEST}` = '{digest}' "
                       f"and tags.`{TAG_STAGE}` = '{stage}'{status}"),
        max_results=1,
    )
    return runs[0] if runs else None


def load_registered_model(model_uri: str) -> Any:
    """Load a model of our registry (`models:/...` only). MLflow refuses to deserialize any sklearn
    model unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true; we allow it for this one load, since the
    URI can only name a model our own training registered in the configured registry."""
    import os

    import mlflow.sklearn

    if not model_uri.startswith("models:/"):
        raise EvaluationError(f"refusing to load '{model_uri}': models are loaded only from the registry")
    flag = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(flag)
    os.environ[flag] = "true"
    try:
        return mlflow.sklearn.load_model(model_uri)
    finally:
        if before is None:
            os.environ.pop(flag, None)
        else:
            os.environ[flag] = before


def load_version(model: str, version: str | int) -> Any:
    """`load_registered_model` for one version of a registered model."""
    return load_registered_model(f"models:/{model}/{version}")
