"""Per-model configuration: load and validate `include/models/<model>.yaml` with errors naming file and key."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_provider import settings
from mlops_provider.alerts import AlertSpec
from mlops_provider.exceptions import ConfigError
from mlops_provider.experiments.options import ExperimentConfig
from mlops_provider.lifecycle.options import LifecycleConfig
from mlops_provider.training.remote.options import KubernetesRunner, SageMakerRunner

# libyaml's safe loader when PyYAML has it (the same safe subset, ~7x faster than the pure-Python one): a DAG file
# reads every model's config at parse time (`approval_required`), and so does every task process, which parses its
# DAG file again; at fifty models the pure-Python loader was most of `mlops_training`'s parse time
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CALLABLE_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{0,19}$")

HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "f1": True, "log_loss": False, "rmse": False, "r2": True,
                    "precision": True, "recall": True, "mae": False}
# what production measures once labels arrive (the gate's metrics and their usual companions)
REALIZED_METRICS = {"classification": ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss"),
                    "regression": ("rmse", "mae", "r2")}
ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")  # CBPE, binary classifiers
DEFAULT_TRAINERS = {"classification": "mlops_provider.training.sklearn:train_classifier",
                    "regression": "mlops_provider.training.sklearn:train_regressor"}


class _Strict(BaseModel):
    # NaN and infinity are refused everywhere: a NaN bound makes every comparison false, so a gate passes
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Strict):
    train: str = Field(description="training batch: a path relative to MLOPS_DATA_DIR, or a URI (file://, s3://)")
    holdout: str | None = Field(None, description="holdout batch; when absent, a seeded split of `train`")
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    inference: str | None = Field(None, description="folder of the inference log windows")
    labels: str | None = Field(None, description="folder of the labels (ground truth): files dropped in its "
                                                 "`inbox/`, the labels log; default `<model>/labels`")
    window_days: int | None = Field(None, ge=1, description="with `train` a folder of `date=YYYY-MM-DD` "
                                                            "partitions: train on the last N days of them")
    feedback: bool = Field(False, description="add the labelled production rows (inference log joined with "
                                              "labels) of the window to the training set")
    conn_id: str | None = Field(None, description="Airflow connection for s3:// paths")


class FeaturesConfig(_Strict):
    numeric: list[str] = []
    categorical: list[str] = []

    @model_validator(mode="after")
    def _some_features(self) -> FeaturesConfig:
        if not self.numeric and not self.categorical:
            raise ValueError("list at least one numeric or categorical feature")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"columns listed as both numeric and categorical: {sorted(both)}")
        return self

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class TrainerConfig(_Strict):
    callable: str = Field(DEFAULT_TRAINERS["classification"], description="default: the task's sklearn trainer")
    params: dict[str, Any] = {}
    seed: int = 42
    trusted_types: list[str] = Field([], description="skops types a model of this config may hold beyond the "
                                                      "package's list (e.g. a function of your own package)")
    allow_pickle: bool = Field(False, description="load (and save) models with pickle, which runs code from the "
                                                  "artifact: only for a registry nobody else can write to")
    runner: Literal["local", "kubernetes", "sagemaker"] = Field("local", description="where the training runs: "
                                                                "in the task, in a pod, as a SageMaker job")
    kubernetes: KubernetesRunner | None = Field(None, description="the pod, for `runner: kubernetes`")
    sagemaker: SageMakerRunner | None = Field(None, description="the training job, for `runner: sagemaker`")

    @field_validator("callable")
    @classmethod
    def _importable(cls, value: str) -> str:
        if not CALLABLE_PATH.match(value):
            raise ValueError(f"'{value}' is not of the form 'package.module:function'")
        module = value.split(":")[0]
        try:
            found = importlib.util.find_spec(module)
        except ImportError as err:  # a parent package is missing
            raise ValueError(f"module '{module}' cannot be imported: {err}") from err
        if found is None:
            raise ValueError(f"module '{module}' cannot be imported: no such module")
        return value


class ApprovalConfig(_Strict):
    """A person signs off a promotion (`gate.approval`); `true`/`false` are shorthand for `required`."""

    required: bool = Field(False, description="wait for a person to approve before the alias moves")
    assigned_to: list[str] = Field([], description="Airflow user ids who may answer (default: anyone allowed to "
                                                   "answer the DAG's required actions)")
    timeout_hours: float = Field(24, gt=0, le=24 * 365, description="without an answer by then, the candidate is "
                                                                  "not promoted (recorded as timed_out)")

    @field_validator("assigned_to")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        blank = [user for user in value if not user.strip()]
        if blank:
            raise ValueError("an empty user id; list Airflow user ids, e.g. [admin]")
        if len(set(value)) != len(value):
            raise ValueError(f"a user is listed twice: {value}")
        return value


GATE_METRICS = REALIZED_METRICS  # the gate judges what production measures
# the single-metric form of `gate` (metric, minimum, max_regression at its top level) is one criterion
SIMPLE_GATE_KEYS = ("metric", "minimum", "max_regression")


def _known_metric(value: str | None) -> str | None:
    known = (*GATE_METRICS["classification"], *GATE_METRICS["regression"])
    if value is not None and value not in known:
        raise ValueError(f"unknown metric '{value}' (known: {', '.join(known)})")
    return value


class Criterion(_Strict):
    """One condition of the gate: a metric (minimum, non-inferiority to the champion), the metric per group of a
    column (`slice`), or the p95 latency of predictions (`latency_p95_ms`)."""

    metric: str | None = None
    minimum: float | None = Field(None, description="the candidate must reach this (stay under it, for losses)")
    max_regression: float | None = Field(None, ge=0, description="how much worse than the champion is accepted")
    confidence: float | None = Field(None, gt=0, lt=1, description="judge `max_regression` on a paired bootstrap "
                                     "interval of candidate - champion at this confidence, not on the point")
    slice: str | None = Field(None, description="judge the metric per group of this column")
    max_gap: float | None = Field(None, ge=0, description="largest allowed gap between the best and worst group")
    min_rows: int = Field(30, ge=1, description="groups with fewer holdout rows are reported, not judged")
    latency_p95_ms: float | None = Field(None, gt=0, description="p95 of the candidate's predictions, in ms")
    rows: int = Field(1, ge=1, le=1000, description="rows per timed prediction")

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, value: str | None) -> str | None:
        return _known_metric(value)

    @property
    def kind(self) -> Literal["metric", "slice", "latency"]:
        if self.latency_p95_ms is not None:
            return "latency"
        return "slice" if self.slice is not None else "metric"

    @property
    def name(self) -> str:
        """A tag-safe name: `roc_auc`, `roc_auc_by_region`, `latency_p95_ms`."""
        if self.kind == "latency":
            return "latency_p95_ms" if self.rows == 1 else f"latency_p95_ms_{self.rows}_rows"
        return f"{self.metric}_by_{self.slice}" if self.kind == "slice" else str(self.metric)

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER.get(self.metric or "", True)

    @model_validator(mode="after")
    def _one_kind(self) -> Criterion:
        # keys given a value other than their default (a dumped config lists every key, most at their default)
        given = {k for k in self.model_fields_set if getattr(self, k) != type(self).model_fields[k].default}
        if self.kind == "latency":
            extra = sorted(given & {"metric", "minimum", "max_regression", "confidence", "slice", "max_gap",
                                    "min_rows"})
            if extra:
                raise ValueError(f"a latency criterion takes `latency_p95_ms` and `rows` only, not {extra}")
            return self
        if "rows" in given:
            raise ValueError("`rows` belongs to a latency criterion (`latency_p95_ms`)")
        if self.metric is None:
            raise ValueError("give `metric` (or `latency_p95_ms` for a latency criterion)")
        if self.kind == "slice":
            extra = sorted(given & {"max_regression", "confidence"})
            if extra:
                raise ValueError(f"a slice criterion takes `minimum`, `max_gap` and `min_rows`, not {extra}")
            if self.minimum is None and self.max_gap is None:
                raise ValueError(f"slice '{self.slice}': give `minimum`, `max_gap` or both")
            return self
        extra = sorted(given & {"max_gap", "min_rows"})
        if extra:
            raise ValueError(f"{extra} belong to a slice criterion (`slice: <column>`)")
        if self.minimum is None:
            raise ValueError(f"metric '{self.metric}': give `minimum`")
        if self.confidence is not None and self.max_regression is None:
            raise ValueError(f"metric '{self.metric}': `confidence` needs `max_regression`")
        return self


class GateConfig(_Strict):
    """What a candidate must pass to become champion: every criterion of `criteria`, or the single-metric form
    (`metric`, `minimum`, `max_regression` at the top level), which is one criterion."""

    metric: str = Field("roc_auc", description="the primary metric: that of the first metric criterion")
    minimum: float | None = Field(None, description="single-metric form: the candidate must reach this score "
                                                    "(or stay under it, for losses)")
    max_regression: float = Field(0.0, ge=0, description="single-metric form: how much worse than the champion "
                                                         "is still accepted")
    criteria: list[Criterion] = Field([], description="all must pass; built from the single-metric form")
    evaluation_columns: list[str] = Field([], description="columns kept for evaluation only (e.g. a slice "
                                          "column that is not a feature); every batch must hold them")
    approval: ApprovalConfig = Field(ApprovalConfig(), description="a person signs off before the alias moves")

    @field_validator("approval", mode="before")
    @classmethod
    def _approval_shorthand(cls, value: Any) -> Any:
        # `approval: true` predates the mapping and stays valid; only a real bool is shorthand (not "yes" or 1)
        return {"required": value} if isinstance(value, bool) else value

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, value: str) -> str:
        return str(_known_metric(value))

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, data: Any) -> Any:
        """`criteria`, or the single-metric form made into one criterion; `metric` is the primary metric."""
        if not isinstance(data, dict):
            return data
        if "criteria" not in data:
            if "minimum" not in data:
                raise ValueError("key 'gate.minimum': Field required (or give `gate.criteria`)")
            return data
        criteria = data["criteria"]
        if not isinstance(criteria, list) or not criteria:
            raise ValueError("key 'gate.criteria': list at least one criterion")
        first = next((c for c in criteria if isinstance(c, dict) and c.get("metric") and not c.get("slice")), None)
        if first is None:
            raise ValueError("key 'gate.criteria': list at least one metric criterion (without `slice`): the "
                             "first is the primary metric")
        primary = {"metric": first["metric"], "minimum": first.get("minimum"),
                   "max_regression": first.get("max_regression") or 0.0}
        # a dumped config (model_dump) carries both forms; they must agree
        mixed = [k for k in SIMPLE_GATE_KEYS if k in data and data[k] != primary[k]]
        if mixed:
            raise ValueError(f"give `gate.criteria` or the single-metric keys {mixed}, not both")
        return {**data, **primary}

    @model_validator(mode="after")
    def _simple_form_is_one_criterion(self) -> GateConfig:
        if "criteria" not in self.model_fields_set:
            # as before criteria existed: no worse than the champion at all unless `max_regression` says more
            one = Criterion(metric=self.metric, minimum=self.minimum, max_regression=self.max_regression)
            object.__setattr__(self, "criteria", [one])  # frozen; `criteria` stays out of model_fields_set
        return self

    @property
    def simple(self) -> bool:
        """Written in the single-metric form (errors then name `gate.metric`, not `gate.criteria.0.metric`)."""
        return "criteria" not in self.model_fields_set

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    @property
    def slice_columns(self) -> list[str]:
        return list(dict.fromkeys(c.slice for c in self.criteria if c.slice is not None))

    @property
    def measures_latency(self) -> bool:
        return any(c.kind == "latency" for c in self.criteria)


class DriftConfig(_Strict):
    method: str | dict[str, str] = "auto"
    threshold: float | None = None
    drift_share: float = Field(0.5, gt=0, le=1)
    min_rows: int = Field(200, ge=1)
    window_minutes: int = Field(60, ge=1)
    cooldown_minutes: int = Field(360, ge=0)
    retention_days: int | None = Field(30, ge=1, description="the model server deletes inference-log windows "
                                       "older than this (hourly); null keeps them forever")

    @model_validator(mode="after")
    def _keeps_a_window(self) -> DriftConfig:
        if self.retention_days is not None and self.retention_days * 24 * 60 < self.window_minutes:
            raise ValueError(f"retention_days ({self.retention_days}) would delete windows the drift check "
                             f"still reads (window_minutes {self.window_minutes})")
        return self


class PerformancePolicy(_Strict):
    metric: str = "roc_auc"
    minimum: float | None = Field(None, description="realized metric below this (above, for losses) degrades")
    max_drop: float | None = Field(None, ge=0, description="worse than the version's holdout score by more than "
                                                           "this degrades")
    min_labels: int = Field(200, ge=1, description="labelled rows needed before a verdict")


class EstimatedPolicy(_Strict):
    metric: str = "roc_auc"
    max_drop: float = Field(ge=0, description="CBPE estimate worse than the holdout score by more than this "
                                              "degrades (acts before labels arrive)")


class MonitorConfig(_Strict):
    performance: PerformancePolicy | None = None
    estimated: EstimatedPolicy | None = None
    prediction_drift: Literal["alert", "retrain", "ignore"] = "alert"
    on_degradation: list[Literal["alert", "rollback", "retrain"]] = ["alert"]
    rollback_moves_champion: bool = Field(False, description="a rollback also moves `champion` back")
    window_hours: int = Field(24, ge=1, description="predictions of the last N hours are judged")
    label_wait_minutes: int = Field(0, ge=0, description="wait (deferred, no worker slot) up to this long for "
                                                         "`min_labels` labels before judging")
    cooldown_minutes: int = Field(360, ge=0, description="the same action for the same model at most this often")

    @field_validator("on_degradation")
    @classmethod
    def _once_each(cls, actions: list[str]) -> list[str]:
        if len(set(actions)) != len(actions):
            raise ValueError(f"an action is listed twice: {actions}")
        return actions


class EnvironmentConfig(_Strict):
    """One entry of `deploy.environments` (staging, then production: the last one is production). Unset keys take
    the top-level `deploy` value; `options` are laid over the top-level `deploy.options` key by key when the
    environment keeps the top-level target (see `mlops_provider.environments`)."""

    name: str
    target: Literal["local", "kubernetes", "sagemaker"] | None = None
    strategy: Literal["rolling", "blue_green", "canary"] | None = None
    canary_steps: list[int] | None = None
    options: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _lowercase_word(cls, value: str) -> str:
        if not ENVIRONMENT_NAME.match(value):
            raise ValueError(f"'{value}' is not an environment name (a lowercase word of up to 20 letters or "
                             "digits, such as staging or production)")
        return value

    @field_validator("canary_steps")
    @classmethod
    def _ends_at_100(cls, steps: list[int] | None) -> list[int] | None:
        if steps is not None and (not steps or steps[-1] != 100
                                  or any(b <= a for a, b in zip(steps, steps[1:], strict=False))):
            raise ValueError(f"canary steps must rise and end at 100, got {steps}")
        return steps


class DeployConfig(_Strict):
    target: Literal["local", "kubernetes", "sagemaker"] = "local"
    strategy: Literal["rolling", "blue_green", "canary"] = "rolling"
    canary_steps: list[int] = [10, 50, 100]
    options: dict[str, Any] = {}
    environments: list[EnvironmentConfig] = []

    @field_validator("canary_steps")
    @classmethod
    def _ends_at_100(cls, steps: list[int]) -> list[int]:
        if not steps or steps[-1] != 100 or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError(f"canary steps must rise and end at 100, got {steps}")
        return steps


class ModelConfig(_Strict):
    name: str
    description: str = ""
    task: Literal["classification", "regression"] = "classification"
    target: str
    features: FeaturesConfig
    data: DataConfig
    trainer: TrainerConfig = TrainerConfig()
    gate: GateConfig
    suite: str | None = Field(None, description="Great Expectations suite file in include/expectations "
                                               "(MLOPS_EXPECTATIONS_DIR), or an absolute path")
    drift: DriftConfig = DriftConfig()
    deploy: DeployConfig = DeployConfig()
    monitor: MonitorConfig = MonitorConfig()
    experiment: ExperimentConfig | None = None
    alerts: list[AlertSpec] = Field([], description="who is told of drift, degradation, rollbacks, promotions, "
                                                    "rejected challengers and failed tasks, and how")
    lifecycle: LifecycleConfig = LifecycleConfig()
    source: str = Field("", exclude=True, description="the file this config came from")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not MODEL_NAME.match(value):
            raise ValueError(f"'{value}' must be lowercase letters, digits and '_', starting with a letter")
        return value

    @model_validator(mode="before")
    @classmethod
    def _trainer_follows_task(cls, data: Any) -> Any:
        """Without `trainer.callable`, the default trainer of the model's `task`."""
        if not isinstance(data, dict) or data.get("task") not in DEFAULT_TRAINERS:
            return data
        trainer = data.get("trainer") or {}
        if isinstance(trainer, dict) and "callable" not in trainer:
            data = {**data, "trainer": {**trainer, "callable": DEFAULT_TRAINERS[data["task"]]}}
        return data

    @model_validator(mode="after")
    def _runner_has_its_block(self) -> ModelConfig:
        for name in ("kubernetes", "sagemaker"):
            given = getattr(self.trainer, name) is not None
            if self.trainer.runner == name and not given:
                raise ValueError(f"key 'trainer.{name}': required with `runner: {name}` (at least its "
                                 f"{'`image`' if name == 'kubernetes' else '`image_uri`, `role_arn`, `output_s3`'})")
            if given and self.trainer.runner != name:
                raise ValueError(f"key 'trainer.{name}': only read with `runner: {name}` (runner is "
                                 f"'{self.trainer.runner}')")
        return self

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> ModelConfig:
        if self.target in self.features.all:
            raise ValueError(f"target '{self.target}' is also listed as a feature")
        return self

    @model_validator(mode="after")
    def _metric_fits_task(self) -> ModelConfig:
        simple = self.gate.simple
        allowed = GATE_METRICS[self.task]
        for index, criterion in enumerate(self.gate.criteria):
            if criterion.metric is not None and criterion.metric not in allowed:
                key = "gate.metric" if simple else f"gate.criteria.{index}.metric"
                raise ValueError(f"key '{key}': '{criterion.metric}' does not fit task '{self.task}' "
                                 f"(use one of {', '.join(allowed)})")
        return self

    @model_validator(mode="after")
    def _slices_are_known_columns(self) -> ModelConfig:
        known = [*self.features.all, *self.gate.evaluation_columns]
        if self.target in self.gate.evaluation_columns:
            raise ValueError(f"key 'gate.evaluation_columns': '{self.target}' is the target")
        for index, criterion in enumerate(self.gate.criteria):
            if criterion.slice is not None and criterion.slice not in known:
                raise ValueError(f"key 'gate.criteria.{index}.slice': column '{criterion.slice}' is neither a "
                                 "feature nor listed in `gate.evaluation_columns` (features: "
                                 f"{', '.join(self.features.all)})")
        return self

    @model_validator(mode="after")
    def _monitor_fits_task(self) -> ModelConfig:
        policy = self.monitor.performance
        if policy is not None:
            if policy.metric not in REALIZED_METRICS[self.task]:
                raise ValueError(f"key 'monitor.performance.metric': '{policy.metric}' does not fit task "
                                 f"'{self.task}' (use one of {', '.join(REALIZED_METRICS[self.task])})")
            if policy.minimum is None and policy.max_drop is None:
                raise ValueError("key 'monitor.performance': give `minimum`, `max_drop` or both")
        estimated = self.monitor.estimated
        if estimated is not None:
            if self.task != "classification":
                raise ValueError("key 'monitor.estimated': performance is estimated for binary classifiers only")
            if estimated.metric not in ESTIMATED_METRICS:
                raise ValueError(f"key 'monitor.estimated.metric': '{estimated.metric}' cannot be estimated "
                                 f"(use one of {', '.join(ESTIMATED_METRICS)})")
        return self

    def resolve(self, path: str) -> str:
        """A data path as a URI: relative paths resolve against `MLOPS_DATA_DIR`."""
        if "://" in path or path.startswith("/"):
            return path
        return f"{settings.data_dir().rstrip('/')}/{path}"

    @property
    def suite_path(self) -> Path:
        return settings.expectations_dir() / (self.suite or f"{self.name}.json")

    @property
    def experiment_name(self) -> str:
        return f"mlops/{self.name}"


def _format_errors(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        lines.append(f"key '{key}': {message}" if key else message)
    return "; ".join(lines)


def parse_model_config(raw: Any, source: str) -> ModelConfig:
    """Validate an already-parsed YAML document; `source` names the file in every error."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(raw).__name__}")
    try:
        config = ModelConfig.model_validate({**raw, "source": source})
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format_errors(err)}") from None
    stem = Path(source).stem
    if config.name != stem:
        raise ConfigError(f"{source}: key 'name': '{config.name}' must match the file name '{stem}'")
    check_deploy_options(config)
    from mlops_provider.environments import check_environments

    check_environments(config)
    return config


def check_deploy_options(config: ModelConfig) -> None:
    """Refuse a `deploy.options` key the target does not know, or one it checks on load such as a malformed `env`
    (its options schema imports no client library)."""
    from mlops_provider.deploy.options import option_problem, option_schema

    problem = option_problem(option_schema(config.deploy.target), config.deploy.options)
    if problem is not None:
        key, why = problem
        raise ConfigError(f"{config.source}: key 'deploy.options.{key}': {why}")


def load_model_config(model: str, *, check_paths: bool = True) -> ModelConfig:
    """Load `<models_dir>/<model>.yaml`. With `check_paths`, local data files must exist."""
    if not MODEL_NAME.match(model):
        raise ConfigError(f"model name '{model}' is not a valid model name")
    path = settings.models_dir() / f"{model}.yaml"
    if not path.is_file():
        known = ", ".join(settings.model_names()) or "none"
        raise ConfigError(f"model '{model}' has no config file {path} (configured models: {known})")
    try:
        raw = yaml.load(path.read_text(), Loader=YAML_LOADER)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    config = parse_model_config(raw, str(path))
    if check_paths:
        check_data_paths(config)
    return config


def approval_required(model: str) -> bool:
    """Whether a person signs off `model`'s promotions: read when a DAG is parsed, to add the approve task to
    that model's chain only. A config that does not load counts as no: its validate task fails at run time,
    naming the error, and nothing is promoted."""
    try:
        return load_model_config(model, check_paths=False).gate.approval.required
    except ConfigError:
        return False


def check_data_paths(config: ModelConfig) -> None:
    """Local data files named by the config must exist (remote ones are checked when read)."""
    for key in ("train", "holdout"):
        value = getattr(config.data, key)
        if value is None:
            continue
        uri = config.resolve(value)
        local = uri.removeprefix("file://")
        if "://" not in local and not Path(local).exists():
            raise ConfigError(f"{config.source}: key 'data.{key}': file {local} does not exist")


def load_callable(path: str, *, source: str = "trainer.callable") -> Any:
    """Import `package.module:function`; errors name the key it came from."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise ConfigError(f"{source}: cannot import module '{module_name}': {err}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{source}: module '{module_name}' has no attribute '{attr}'") from None
