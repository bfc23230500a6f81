"""Per-model config: the demo configs load, and every kind of mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_provider.config import load_model_config
from mlops_provider.exceptions import ConfigError
from tests.helpers.paths import ROOT

BASE = yaml.safe_load((ROOT / "include/models/credit_default.yaml").read_text())


@pytest.fixture
def models(tmp_path: Path, demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))

    def write(raw: Any, name: str = "credit_default") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
        return path

    return write


@pytest.mark.parametrize("model", ["credit_default", "breast_cancer"])
def test_demo_configs_load(model: str, demo_env: Path) -> None:
    config = load_model_config(model)
    assert config.name == model
    assert config.experiment_name == f"mlops/{model}"
    assert config.resolve(config.data.train).startswith(str(demo_env))


@pytest.mark.parametrize(("change", "expected"), [
    ({"colour": "red"}, "key 'colour': unknown key"),
    ({"gate": {"metric": "roc_auc", "minimum": 0.7, "max_regresion": 0.1}}, "key 'gate.max_regresion': unknown key"),
    ({"gate": {"metric": "roc_auc"}}, "key 'gate.minimum': Field required"),
    ({"gate": {"metric": "roc_auc", "minimum": "high"}}, "key 'gate.minimum'"),
    ({"gate": {"metric": "auc", "minimum": 0.7}}, "key 'gate.metric'"),
    ({"features": {"numeric": "age"}}, "key 'features.numeric'"),
    ({"trainer": {"callable": "no_such_package.mod:fit"}}, "key 'trainer.callable': module 'no_such_package.mod'"),
    ({"trainer": {"callable": "not a path"}}, "key 'trainer.callable': 'not a path' is not of the form"),
    ({"deploy": {"strategy": "canary", "canary_steps": [50, 20]}}, "key 'deploy.canary_steps'"),
    ({"deploy": {"strategy": "canary", "canary_steps": [25, 50]}}, "canary steps must rise and end at 100"),
    ({"deploy": {"target": "heroku"}}, "key 'deploy.target'"),
    ({"deploy": {"strategy": "shadow"}}, "key 'deploy.strategy'"),
    ({"target": "age"}, "target 'age' is also listed as a feature"),
    ({"gate": {"metric": "roc_auc", "minimum": float("nan")}}, "key 'gate.minimum': Input should be a finite number"),
    ({"gate": {"metric": "roc_auc", "minimum": 0.7, "max_regression": float("inf")}},
     "key 'gate.max_regression': Input should be a finite number"),
    ({"drift": {"threshold": float("nan")}}, "key 'drift.threshold': Input should be a finite number"),
    ({"task": "regression"},  # credit_default's gate lists criteria: the first one's metric is named
     "key 'gate.criteria.0.metric': 'roc_auc' does not fit task 'regression' (use one of rmse, mae, r2)"),
    ({"gate": {"metric": "rmse", "minimum": 1.0}}, "key 'gate.metric': 'rmse' does not fit task 'classification'"),
    ({"name": "other_name"}, "key 'name': 'other_name' must match the file name 'credit_default'"),
    ({"monitor": {"performance": {"metric": "rmse", "minimum": 1}}},
     "key 'monitor.performance.metric': 'rmse' does not fit task 'classification'"),
    ({"monitor": {"performance": {"metric": "roc_auc"}}}, "key 'monitor.performance': give `minimum`, `max_drop`"),
    ({"monitor": {"estimated": {"metric": "log_loss", "max_drop": 0.05}}},
     "key 'monitor.estimated.metric': 'log_loss' cannot be estimated"),
    ({"monitor": {"on_degradation": ["alert", "page"]}}, "key 'monitor.on_degradation.1'"),
    ({"monitor": {"on_degradation": ["alert", "alert"]}}, "an action is listed twice"),
    ({"monitor": {"prediction_drift": "panic"}}, "key 'monitor.prediction_drift'"),
    ({"monitor": {"performance": {"metric": "roc_auc", "max_drop": -0.1}}}, "key 'monitor.performance.max_drop'"),
    ({"data": {"train": "credit_default/train.parquet", "window_days": 0}}, "key 'data.window_days'"),
])
def test_config_mistakes_name_file_and_key(models: Any, change: dict[str, Any], expected: str) -> None:
    path = models({**BASE, **change})
    with pytest.raises(ConfigError) as caught:
        load_model_config("credit_default")
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_monitor_policy_is_parsed(models: Any) -> None:
    models({**BASE, "monitor": {"performance": {"metric": "roc_auc", "minimum": 0.7, "max_drop": 0.05},
                                "estimated": {"metric": "roc_auc", "max_drop": 0.05},
                                "on_degradation": ["alert", "rollback", "retrain"]}})
    monitor = load_model_config("credit_default").monitor
    assert monitor.performance is not None and monitor.performance.min_labels == 200
    assert monitor.on_degradation == ["alert", "rollback", "retrain"]
    assert monitor.prediction_drift == "alert" and not monitor.rollback_moves_champion


@pytest.mark.parametrize(("task", "trainer", "expected"), [
    ("regression", {}, "mlops_provider.training.sklearn:train_regressor"),
    ("regression", {"params": {"estimator": "ridge"}}, "mlops_provider.training.sklearn:train_regressor"),
    ("classification", {}, "mlops_provider.training.sklearn:train_classifier"),
    ("regression", {"callable": "mlops_provider.training.sklearn:train_classifier"},
     "mlops_provider.training.sklearn:train_classifier"),  # said explicitly: kept
])
def test_default_trainer_follows_the_task(models: Any, task: str, trainer: dict[str, Any], expected: str) -> None:
    metric = {"metric": "r2", "minimum": 0.1} if task == "regression" else BASE["gate"]
    monitor = {"performance": {"metric": "rmse", "max_drop": 5.0}} if task == "regression" else BASE["monitor"]
    models({**BASE, "task": task, "trainer": trainer, "gate": metric, "monitor": monitor})
    assert load_model_config("credit_default").trainer.callable == expected


def test_missing_required_section(models: Any) -> None:
    path = models({k: v for k, v in BASE.items() if k != "data"})
    with pytest.raises(ConfigError, match=r"key 'data': Field required") as caught:
        load_model_config("credit_default")
    assert str(path) in str(caught.value)


def test_missing_data_file_names_file_and_key(models: Any) -> None:
    models({**BASE, "data": {"train": "nowhere/train.parquet"}})
    with pytest.raises(ConfigError, match=r"key 'data.train': file .*nowhere/train.parquet does not exist"):
        load_model_config("credit_default")


def test_invalid_yaml_and_unknown_model(models: Any) -> None:
    path = models("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_model_config("credit_default")
    assert str(path) in str(caught.value)
    with pytest.raises(ConfigError, match=r"model 'nope' has no config file .*configured models: credit_default"):
        load_model_config("nope")
    with pytest.raises(ConfigError, match="not a valid model name"):
        load_model_config("../etc/passwd")


SAGEMAKER = {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.1",
             "execution_role_arn": "arn:aws:iam::123456789012:role/mlops-sagemaker", "s3_prefix": "s3://models/deploy"}
VALID_OPTIONS = {
    "local": {"latency_budget_ms": 400, "smoke_rows": 5, "canary_interval_seconds": 1, "port": 8080,
              "admin_port": 8081},
    "kubernetes": {"image": "registry.example/server:1", "namespace": "models", "replicas": 3, "hpa":
                   {"min": 2, "max": 5, "cpu": 70}, "smoke_test": True, "latency_budget_ms": 300, "istio": True},
    "sagemaker": {**SAGEMAKER, "instance_count": 2, "rollback_alarms": ["credit-5xx"], "timeout": 600},
}


@pytest.mark.parametrize(("target", "typo"), [
    ("local", "latency_budget_msec"),
    ("kubernetes", "replica"),
    ("sagemaker", "instance_type_name"),
])
def test_an_unknown_deploy_option_is_refused_naming_file_and_key(models: Any, target: str, typo: str) -> None:
    path = models({**BASE, "deploy": {"target": target, "options": {**VALID_OPTIONS[target], typo: 1}}})
    with pytest.raises(ConfigError) as caught:
        load_model_config("credit_default")
    assert str(caught.value).startswith(f"{path}: key 'deploy.options.{typo}': unknown option for target "
                                        f"'{target}' (known: ")


@pytest.mark.parametrize("target", ["local", "kubernetes", "sagemaker"])
def test_the_options_of_each_target_are_accepted_and_parsed(models: Any, target: str) -> None:
    from mlops_provider.deploy.options import parse_options

    models({**BASE, "deploy": {"target": target, "options": VALID_OPTIONS[target]}})
    config = load_model_config("credit_default")
    assert config.deploy.options == VALID_OPTIONS[target]
    parsed = parse_options(target, config.name, config.deploy.options)
    assert type(parsed).target == target
    assert all(getattr(parsed, key) is not None for key in VALID_OPTIONS[target])


@pytest.mark.parametrize("target", ["local", "kubernetes", "sagemaker"])
def test_a_target_refuses_an_unknown_option_of_a_config_not_loaded_from_a_file(target: str) -> None:
    from mlops_provider.deploy.options import parse_options
    from mlops_provider.exceptions import DeploymentRefused

    with pytest.raises(DeploymentRefused, match=f"model 'credit': deploy.options.colour: unknown option for "
                                                f"target '{target}'"):
        parse_options(target, "credit", {**VALID_OPTIONS[target], "colour": "red"})


def test_checking_deploy_options_imports_no_client_library() -> None:
    import subprocess
    import sys

    code = ("import sys; from mlops_provider.deploy.options import SCHEMAS, option_schema; "
            "[option_schema(t) for t in SCHEMAS]; "
            "print(sorted(m for m in ('kubernetes', 'boto3', 'botocore', 'mlflow', 'httpx', 'pandas', 'airflow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- gate criteria -------------------------------------------------------------------------------------------------

CRITERIA = [{"metric": "roc_auc", "minimum": 0.7, "max_regression": 0.01, "confidence": 0.95},
            {"metric": "recall", "minimum": 0.35},
            {"slice": "region", "metric": "roc_auc", "minimum": 0.65, "max_gap": 0.08},
            {"latency_p95_ms": 100, "rows": 1}]


def with_criterion(index: int, **changes: Any) -> dict[str, Any]:
    criteria = [dict(c) for c in CRITERIA]
    criteria[index] = {**criteria[index], **changes}
    return {**BASE, "gate": {"criteria": criteria}}


def refused(models: Any, raw: dict[str, Any]) -> str:
    path = models(raw)
    with pytest.raises(ConfigError) as caught:
        load_model_config("credit_default")
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_a_criterion_naming_an_unknown_metric(models: Any) -> None:
    assert "key 'gate.criteria.1.metric': unknown metric 'recal' (known: roc_auc," in refused(
        models, with_criterion(1, metric="recal"))


def test_a_criterion_whose_metric_does_not_fit_the_task(models: Any) -> None:
    assert ("key 'gate.criteria.1.metric': 'mae' does not fit task 'classification' (use one of roc_auc, accuracy, "
            "precision, recall, f1, log_loss)") in refused(models, with_criterion(1, metric="mae"))


def test_a_slice_column_that_does_not_exist_is_named_at_load(models: Any) -> None:
    message = refused(models, with_criterion(2, slice="country"))
    assert "key 'gate.criteria.2.slice': column 'country' is neither a feature nor listed in " \
           "`gate.evaluation_columns`" in message


def test_a_latency_budget_of_zero(models: Any) -> None:
    assert "key 'gate.criteria.3.latency_p95_ms': Input should be greater than 0" in refused(
        models, with_criterion(3, latency_p95_ms=0))


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.2])
def test_confidence_outside_zero_and_one(models: Any, confidence: float) -> None:
    assert "key 'gate.criteria.0.confidence'" in refused(models, with_criterion(0, confidence=confidence))


@pytest.mark.parametrize(("index", "changes", "expected"), [
    (2, {"max_gap": -0.1}, "key 'gate.criteria.2.max_gap': Input should be greater than or equal to 0"),
    (3, {"metric": "roc_auc"}, "a latency criterion takes `latency_p95_ms` and `rows` only, not ['metric']"),
    (2, {"max_regression": 0.1}, "a slice criterion takes `minimum`, `max_gap` and `min_rows`"),
    (1, {"minimum": None}, "metric 'recall': give `minimum`"),
    (1, {"confidence": 0.9}, "`confidence` needs `max_regression`"),
])
def test_criteria_mistakes(models: Any, index: int, changes: dict[str, Any], expected: str) -> None:
    assert expected in refused(models, with_criterion(index, **changes))


def test_criteria_and_the_single_metric_form_together_are_refused(models: Any) -> None:
    raw = {**BASE, "gate": {"criteria": CRITERIA, "metric": "accuracy", "minimum": 0.5}}
    assert "give `gate.criteria` or the single-metric keys ['metric', 'minimum'], not both" in refused(models, raw)


def test_the_single_metric_form_is_one_criterion(models: Any) -> None:
    models({**BASE, "gate": {"metric": "f1", "minimum": 0.4, "max_regression": 0.02}})
    gate = load_model_config("credit_default").gate
    assert gate.simple and (gate.metric, gate.minimum, gate.max_regression) == ("f1", 0.4, 0.02)
    [one] = gate.criteria
    assert (one.kind, one.metric, one.minimum, one.max_regression, one.confidence) == ("metric", "f1", 0.4, 0.02, None)


def test_the_primary_metric_is_the_first_metric_criterion(models: Any) -> None:
    first_slice = [CRITERIA[2], CRITERIA[1], CRITERIA[0]]
    models({**BASE, "gate": {"criteria": first_slice}})
    gate = load_model_config("credit_default").gate
    assert (gate.metric, gate.minimum, gate.higher_is_better, gate.simple) == ("recall", 0.35, True, False)
    assert [c.name for c in gate.criteria] == ["roc_auc_by_region", "recall", "roc_auc"]
    assert gate.slice_columns == ["region"]


def test_an_evaluation_column_may_be_sliced(models: Any) -> None:
    models({**BASE, "gate": {"criteria": [CRITERIA[0], {"slice": "branch", "metric": "recall", "max_gap": 0.1}],
                             "evaluation_columns": ["branch"]}})
    gate = load_model_config("credit_default").gate
    assert gate.slice_columns == ["branch"] and gate.criteria[1].min_rows == 30
    assert "key 'gate.evaluation_columns': 'default' is the target" in refused(
        models, {**BASE, "gate": {"criteria": CRITERIA, "evaluation_columns": ["default"]}})
