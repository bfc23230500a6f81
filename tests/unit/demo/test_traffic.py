"""Demo traffic without a server: the champion scores the rows and the window has the server's columns, ids and
scores included, so labels can refer to demo predictions too."""

from __future__ import annotations

from typing import Any


def test_traffic_without_a_server_logs_ids_and_scores_like_the_server(mlflow_conn: str, private_model: Any) -> None:
    from mlflow import MlflowClient

    from mlops_provider import inference_log
    from mlops_provider.config import load_model_config
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.tracking import load_version, tracking_uri
    from tests.helpers.trained_versions import register_versions

    model = private_model("traffic_ids")
    [version] = register_versions(model, mlflow_conn, [30])
    MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn).set_registered_model_alias(model, "champion",
                                                                                                 version)
    sent = send_traffic(model, tracking_uri=mlflow_conn, rows=40, via_server=False)
    frame = inference_log.read_windows(inference_log.windows_at([sent["window"]]))
    config = load_model_config(model, check_paths=False)
    assert list(frame.columns) == [*config.features.all, *inference_log.META_COLUMNS]
    assert frame[inference_log.REQUEST_ID].tolist() == sent["prediction_ids"] and len(set(sent["prediction_ids"])) == 40
    with tracking_uri(mlflow_conn):
        champion = load_version(model, version)
    features = frame[config.features.all]
    assert frame[inference_log.SCORE].tolist() == champion.predict_proba(features)[:, 1].tolist()
    assert frame[inference_log.PREDICTION].tolist() == champion.predict(features).tolist()


def test_diabetes_requests_keep_the_features_and_drift_moves_the_numbers() -> None:
    import yaml

    from mlops_provider.config import ModelConfig
    from mlops_provider.demo.traffic import requests_for
    from tests.helpers.model_configs import MODELS

    config = ModelConfig.model_validate(yaml.safe_load((MODELS / "diabetes_progression.yaml").read_text()))
    calm = requests_for(config, 300, drift=0.0, seed=1)
    moved = requests_for(config, 300, drift=0.8, seed=1)
    assert list(calm.columns) == list(moved.columns) and set(config.features.all) == set(calm.columns)
    assert set(calm["sex"]) <= {"1", "2"} and "progression" not in calm.columns
    assert abs(calm["bmi"].mean() / 26.4 - 1) < 0.05, "calm traffic looks like the training data"
    assert moved["glu"].mean() > 1.5 * calm["glu"].mean(), "drift moves the last column most"
    assert "progression" in requests_for(config, 10, drift=0.0, seed=1, with_target=True).columns
