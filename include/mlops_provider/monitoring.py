"""What the drift monitor does for one model: find the served version, its reference profile, the newest
inference window, and the engine's verdict. The training run writes the reference profile
(`reference_profile_writer`); the monitor reads it. Plain MLflow + pandas; the Airflow parts call these."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DriftError
from mlops_provider.inference_log import META_COLUMNS, WindowFile, read_windows
from mlops_provider.registry import alias_version
from mlops_provider.tracking import CHAMPION, HOLDOUT_ARTIFACT, PROFILE_ARTIFACT
from mlops_provider.xcom import DriftCheck

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.drift import ReferenceProfile


def served_version(client: MlflowClient, config: ModelConfig) -> tuple[str, str]:
    """(version, alias): what the model serves in production (`serving_<target>`, or `serving_<environment>` of
    its last `deploy.environments` entry), else `champion`."""
    from mlops_provider.environments import production

    for alias in (production(config).alias, CHAMPION):
        version = alias_version(client, config.name, alias)
        if version:
            return version, alias
    raise DriftError(f"model '{config.name}': no version is served or champion yet; nothing to compare against")


def reference_profile(client: MlflowClient, config: ModelConfig, version: str) -> ReferenceProfile:
    """The drift reference profile logged by the training run of `version`."""
    from mlflow.exceptions import MlflowException

    from mlops_provider.drift import ReferenceProfile

    run_id = str(client.get_model_version(config.name, version).run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, PROFILE_ARTIFACT, tmp)
        except (MlflowException, OSError) as err:
            raise DriftError(f"model '{config.name}' v{version}: run {run_id} has no reference profile "
                             f"'{PROFILE_ARTIFACT}' (trained before drift profiles were logged?): {err}") from err
        return ReferenceProfile.load(Path(path))


def reference_profile_writer() -> Callable[[pd.DataFrame, str], None] | None:
    """What logs the drift reference profile of the training data to the active MLflow run (`frame, run_id`),
    or None when the drift engine is not installed."""
    try:
        from mlops_provider.drift import ReferenceProfile
    except ImportError:
        return None

    def write(frame: pd.DataFrame, run_id: str) -> None:
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(PROFILE_ARTIFACT).name
            ReferenceProfile.fit(frame).save(path)
            mlflow.log_artifact(str(path), artifact_path=str(Path(PROFILE_ARTIFACT).parent))

    return write


def holdout_scores(model: Any, holdout: pd.DataFrame, config: ModelConfig) -> pd.DataFrame:
    """The holdout as the model scores it: `y_true`, `y_pred` and, for a binary classifier, `y_pred_proba` (the
    probability of its second class, the positive one), which the served model logs as `mlops_score`."""
    import pandas as pd

    features = holdout[config.features.all]
    frame = pd.DataFrame({"y_true": holdout[config.target].to_numpy()})
    classes = getattr(model, "classes_", None)
    if config.task == "classification" and hasattr(model, "predict_proba") and classes is not None \
            and len(classes) == 2:
        proba = model.predict_proba(features)
        frame["y_pred"] = classes[proba.argmax(axis=1)]
        frame["y_pred_proba"] = proba[:, 1]
    else:
        frame["y_pred"] = model.predict(features)
    return frame


def log_holdout_scores(model: Any, holdout: pd.DataFrame, config: ModelConfig) -> None:
    """Log `holdout_scores` to the active MLflow run as `HOLDOUT_ARTIFACT`."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(HOLDOUT_ARTIFACT).name
        holdout_scores(model, holdout, config).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(HOLDOUT_ARTIFACT).parent))


def load_holdout_scores(client: MlflowClient, config: ModelConfig, version: str) -> pd.DataFrame | None:
    """The holdout scores the training run of `version` logged, or None for a version trained before they were."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    run_id = str(client.get_model_version(config.name, version).run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(path)


def training_data_uri(client: MlflowClient, config: ModelConfig, version: str) -> str:
    """Where the training data of `version` came from (its MLflow dataset input), else the config's path."""
    run = client.get_run(str(client.get_model_version(config.name, version).run_id))
    for item in run.inputs.dataset_inputs if run.inputs else []:
        try:
            source = json.loads(item.dataset.source)
        except (TypeError, ValueError):
            continue
        uri = source.get("uri") if isinstance(source, dict) else None
        if uri:
            return str(uri)
    return config.resolve(config.data.train)


def current_features(config: ModelConfig, windows: list[WindowFile]) -> pd.DataFrame:
    frame = read_windows(windows, conn_id=config.data.conn_id)
    missing = [c for c in config.features.all if c not in frame.columns]
    if missing:
        raise DriftError(f"model '{config.name}': inference windows lack feature column(s) {missing}")
    return frame[[c for c in frame.columns if c not in META_COLUMNS and c in config.features.all]]


def declared_kinds(config: ModelConfig) -> dict[str, str]:
    """The drift engine's column kinds from the features the config declares, so no declared feature is
    typed by guess (a categorical feature whose values are mostly new would otherwise be skipped as text)."""
    kinds = {name: "numerical" for name in config.features.numeric}
    kinds.update({name: "categorical" for name in config.features.categorical})
    return kinds


def check_drift(config: ModelConfig, client: MlflowClient, windows: list[WindowFile]) -> DriftCheck:
    """The engine's verdict for the windows against the served version's reference profile (JSON-able)."""
    from mlops_provider.drift import detect_drift

    version, alias = served_version(client, config)
    profile = reference_profile(client, config, version)
    current = current_features(config, windows)
    method = config.drift.method if isinstance(config.drift.method, str) else "auto"
    per_column = config.drift.method if isinstance(config.drift.method, dict) else None
    result = detect_drift(profile, current, columns=config.features.all, method=method,
                          threshold=config.drift.threshold, drift_share=config.drift.drift_share,
                          per_column=per_column, kinds=declared_kinds(config))
    return {
        "model": config.name, "version": version, "alias": alias,
        "windows": [w.uri for w in windows], "window_start": windows[0].start.isoformat(),
        "rows": len(current), "drifted": result.dataset_drifted, "result": result.to_dict(),
    }


def drift_summary(check: DriftCheck) -> dict[str, Any]:
    """The small summary that travels as the asset event's extra and the retraining conf's `drift`."""
    result = check["result"]
    return {
        "model": check["model"], "version": check["version"], "rows": check["rows"],
        "window_start": check["window_start"], "drift_share": round(float(result["drift_share"]), 4),
        "drifted_columns": [n for n, c in result["columns"].items() if c["drifted"]][:20],
        "summary": result["summary"][:500],
        **({"report_url": check["report_url"]} if check.get("report_url") else {}),
    }
