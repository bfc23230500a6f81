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

MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CALLABLE_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "f1": True, "log_loss": False, "rmse": False, "r2": True,
                    "precision": True, "recall": True, "mae": False}
TASK_METRICS = {"classification": ("roc_auc", "accuracy", "f1", "log_loss"), "regression": ("rmse", "r2")}
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


class GateConfig(_Strict):
    metric: Literal["roc_auc", "accuracy", "f1", "log_loss", "rmse", "r2"] = "roc_auc"
    minimum: float = Field(description="the candidate must reach this score (or stay under it, for losses)")
    max_regression: float = Field(0.0, ge=0, description="how much worse than the champion is still accepted")
    approval: ApprovalConfig = Field(ApprovalConfig(), description="a person signs off before the alias moves")

    @field_validator("approval", mode="before")
    @classmethod
    def _approval_shorthand(cls, value: Any) -> Any:
        # `approval: true` predates the mapping and stays valid; only a real bool is shorthand (not "yes" or 1)
        return {"required": value} if isinstance(value, bool) else value

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]


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


class DeployConfig(_Strict):
    target: Literal["local", "kubernetes", "sagemaker"] = "local"
    strategy: Literal["rolling", "blue_green", "canary"] = "rolling"
    canary_steps: list[int] = [10, 50, 100]
    options: dict[str, Any] = {}

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
    suite: str | None = Field(None, description="Great Expectations suite file in include/expectations")
    drift: DriftConfig = DriftConfig()
    deploy: DeployConfig = DeployConfig()
    monitor: MonitorConfig = MonitorConfig()
    alerts: list[AlertSpec] = Field([], description="who is told of drift, degradation, rollbacks, promotions, "
                                                    "rejected challengers and failed tasks, and how")
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
    def _target_not_a_feature(self) -> ModelConfig:
        if self.target in self.features.all:
            raise ValueError(f"target '{self.target}' is also listed as a feature")
        return self

    @model_validator(mode="after")
    def _metric_fits_task(self) -> ModelConfig:
        if self.gate.metric not in TASK_METRICS[self.task]:
            raise ValueError(f"key 'gate.metric': '{self.gate.metric}' does not fit task '{self.task}' "
                             f"(use one of {', '.join(TASK_METRICS[self.task])})")
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
        raw = yaml.safe_load(path.read_text())
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
