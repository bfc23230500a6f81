"""The MLflow tracking contract: tag and alias names, artifact paths, finding a stage's run, loading a version.

Every module that reads or writes MLflow takes these names from here. Plain MLflow, imported inside functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import EvaluationError, UntrustedModel

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

# version and run tags
TAG_DAG_RUN = "mlops.dag_run_id"
TAG_REASON = "mlops.reason"
TAG_DIGEST = "mlops.data_digest"
TAG_MODEL = "mlops.model"
TAG_VALIDATION = "mlops.validation"
TAG_STAGE = "mlops.stage"  # training, validation, drift: runs of one experiment told apart
TAG_REQUESTED_BY = "mlops.requested_by"
TAG_DRIFT = "mlops.drift"
TAG_DATA_SOURCES = "mlops.data_sources"  # the training set's sources in one line (all of them: data/sources.json)
# version tag: JSON of the version's last production check (realized and estimated performance, prediction drift,
# the policy's verdict and actions); written by the monitor, read by the Models page and `mlops models`
TAG_MONITOR = "mlops.monitor"
TAG_DEGRADED = "mlops.degraded"  # version tag: the evidence of the policy that rolled it back
TAG_MANAGED = "mlops.managed"  # registered-model tag: created by this package
# version tags of the gate (`registry.record_decision`): the decision, its reason, the primary metric's scores
TAG_DECISION = "mlops.decision"  # promoted | rejected
TAG_GATE = "mlops.gate"  # the reason
TAG_METRIC = "mlops.metric"
TAG_SCORE_CANDIDATE = "mlops.score.candidate"
TAG_SCORE_CHAMPION = "mlops.score.champion"
TAG_CHAMPION_AT_DECISION = "mlops.champion_at_decision"
# every criterion's verdict: one JSON list (name, value, bound, interval, verdict, why, groups), and one tag per
# criterion holding its verdict (`pass`, `fail`, `not judged`) so a search can filter on it
TAG_CRITERIA = "mlops.criteria"
TAG_CRITERION = "mlops.gate.{index}.{name}"
# the criteria table (Markdown) as an artifact of the candidate's training run
CRITERIA_ARTIFACT = "gate/criteria.md"
# version tags of a person's sign-off (gate.approval): approved | rejected | timed_out, who, their comment, when
TAG_APPROVAL = "mlops.approval"
TAG_APPROVAL_BY = "mlops.approval.by"
TAG_APPROVAL_COMMENT = "mlops.approval.comment"
TAG_APPROVAL_AT = "mlops.approval.at"

# registry aliases
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"

# artifacts of a training run
PROFILE_ARTIFACT = "drift/reference_profile.npz"
# the holdout scored by the trained model (y_true, y_pred, y_pred_proba): the reference of prediction and
# confidence drift, of performance estimation (CBPE) and the baseline of the performance policy's max_drop
HOLDOUT_ARTIFACT = "monitoring/holdout_scores.parquet"


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


# Types a model of the default trainers holds that skops does not trust by itself. A model config extends the list
# (`trainer.trusted_types`); the list a model artifact carries in its MLmodel file is never read.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


@dataclass(frozen=True)
class ModelTrust:
    """What loading a model of one configured model may run: skops types beyond `TRUSTED_TYPES`, and pickle."""

    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False

    @classmethod
    def of(cls, config: ModelConfig) -> ModelTrust:
        return cls(tuple(config.trainer.trusted_types), config.trainer.allow_pickle)

    @classmethod
    def for_model(cls, model: str) -> ModelTrust:
        """The trust of a configured model; the package's list alone for a model without a config."""
        from mlops_provider.config import load_model_config
        from mlops_provider.exceptions import ConfigError

        try:
            return cls.of(load_model_config(model, check_paths=False))
        except ConfigError:
            return cls()


def skops_format(model: Any) -> dict[str, Any]:
    """`log_model` keywords saving `model` with skops. MLflow checks the saved file by loading it with the types
    given here, so they are the model's own types that skops does not trust by itself (this list is for saving
    only: loading reads the package's and the config's lists, never the artifact's)."""
    import skops.io

    own = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    return {"serialization_format": "skops", "skops_trusted_types": own}


def load_registered_model(model_uri: str, *, trust: ModelTrust | None = None) -> Any:
    """Load a scikit-learn model of our registry (`models:/...` only) without running code from the artifact.

    A skops model loads when every type it holds is trusted (skops' own defaults, `TRUSTED_TYPES`, the model's
    `trainer.trusted_types`); anything else, a pickle or cloudpickle model, or a model that brings code, raises
    `UntrustedModel` unless the model's config sets `trainer.allow_pickle: true`."""
    import tempfile
    from pathlib import Path

    import mlflow.artifacts
    import yaml

    trust = trust or ModelTrust()
    if not model_uri.startswith("models:/"):
        raise EvaluationError(f"refusing to load '{model_uri}': models are loaded only from the registry")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        flavor = (yaml.safe_load((local / "MLmodel").read_text()).get("flavors") or {}).get("sklearn")
        if flavor is None:
            raise UntrustedModel(f"{model_uri} is not a scikit-learn model (no sklearn flavor in its MLmodel)")
        fmt = flavor.get("serialization_format", "pickle")
        if trust.allow_pickle:
            return _load_allowing_pickle(model_uri)
        if flavor.get("code"):
            raise UntrustedModel(f"{model_uri} brings its own code ({flavor['code']}), which would run on load; "
                                 "set trainer.allow_pickle: true in the model's config to load it anyway")
        if fmt != "skops":
            raise UntrustedModel(f"{model_uri} is serialized with {fmt}, which runs code from the artifact on load; "
                                 "register it with skops, or set trainer.allow_pickle: true in the model's config")
        return _load_skops(model_uri, local / flavor["pickled_model"], trust)


def _load_skops(model_uri: str, path: Any, trust: ModelTrust) -> Any:
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    untrusted = sorted(set(found) - set(TRUSTED_TYPES) - set(trust.trusted_types))
    if untrusted:
        raise UntrustedModel(f"{model_uri} holds types that are not trusted: {', '.join(untrusted)}; add them to "
                             "trainer.trusted_types in the model's config if you trust them")
    return skops.io.load(path, trusted=found)


def _load_allowing_pickle(model_uri: str) -> Any:
    """MLflow's own loader, which runs pickle: only for a model whose config says `trainer.allow_pickle`."""
    import os

    import mlflow.sklearn

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


def load_version(model: str, version: str | int, *, trust: ModelTrust | None = None) -> Any:
    """`load_registered_model` for one version of a registered model, with the trust of its config."""
    return load_registered_model(f"models:/{model}/{version}", trust=trust or ModelTrust.for_model(model))


# -- shadow (issue 16, part 2: a version scoring copies of live traffic, its answers never returned) --
TAG_SHADOW = "mlops.shadow"  # version tag: where it is shadowed and since when, or when that stopped
TAG_SHADOW_REPORT = "mlops.shadow.report"  # version tag: the last shadow report's summary (JSON)
STAGE_SHADOW = "shadow"  # `mlops.stage` of a shadow report's run
SHADOW_REPORT_ARTIFACT = "shadow/report.md"  # the readable shadow report, an artifact of that run

# -- retirement and archive (issue 16, part 4): `mlops_provider.lifecycle` ------------------------------------------
# version tags of an archived version: when (ISO 8601, UTC), why (the rule or the retirement), what of its serving
# objects was removed (one line per object)
TAG_ARCHIVED = "mlops.lifecycle.archived"
TAG_ARCHIVED_WHY = "mlops.lifecycle.archived_why"
TAG_ARCHIVED_REMOVED = "mlops.lifecycle.removed"
# registered-model tags of a retirement plan: the plan as first recorded ({digest, recorded_at}), each phase done
# (`mlops.lifecycle.phase.<index>`: JSON of what it did), the deprecation notice, the traffic share asked for,
# and the retirement itself
TAG_LIFECYCLE_PLAN = "mlops.lifecycle.plan"
TAG_LIFECYCLE_PHASE = "mlops.lifecycle.phase.{index}"
TAG_DEPRECATED = "mlops.lifecycle.deprecated"
TAG_TRAFFIC_PERCENT = "mlops.lifecycle.traffic_percent"
TAG_RETIRED = "mlops.lifecycle.retired"
# the JSON history of lifecycle actions: one artifact per action under `lifecycle/` of a run tagged
# `mlops.stage = lifecycle` in the model's experiment
LIFECYCLE_STAGE = "lifecycle"
LIFECYCLE_DIR = "lifecycle"

# -- A/B experiments (`mlops_experiment`, issue 16 part 3) -----------------------------------------------------------
# version tags on both arms: the role the version played, the experiment's DAG run, the decision and its reason,
# the effect (challenger - champion) with its interval and p-value, and the whole result as JSON
TAG_EXPERIMENT_STATUS = "mlops.experiment.status"  # challenger: pending (set by promote) | decided
TAG_EXPERIMENT_ROLE = "mlops.experiment.role"  # champion | challenger
TAG_EXPERIMENT_RUN = "mlops.experiment.dag_run_id"
TAG_EXPERIMENT_DECISION = "mlops.experiment.decision"  # win | lose | inconclusive | invalid | stopped
TAG_EXPERIMENT_REASON = "mlops.experiment.reason"
TAG_EXPERIMENT_EFFECT = "mlops.experiment.effect"
TAG_EXPERIMENT_INTERVAL = "mlops.experiment.interval"
TAG_EXPERIMENT_P_VALUE = "mlops.experiment.p_value"
TAG_EXPERIMENT_RESULT = "mlops.experiment.result"  # JSON: plan, arms, comparison, decision
# the readable report, artifacts of the challenger's training run
EXPERIMENT_REPORT_MD = "experiment/report.md"
EXPERIMENT_REPORT_HTML = "experiment/report.html"
