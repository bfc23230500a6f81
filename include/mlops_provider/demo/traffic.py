"""Demo traffic: scored requests for a model written to its inference log, with a drift knob.

Stands in for the model server's request log until a server runs: the same folder, file format and
columns (`mlops_provider.inference_log`). Requests are scored by the registry's `champion`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.config import load_model_config
from mlops_provider.inference_log import PREDICTION, TIMESTAMP, VERSION, inference_uri, write_window

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig


def requests_for(config: ModelConfig, rows: int, *, drift: float, seed: int) -> pd.DataFrame:
    """Feature rows as clients would send them; `drift` in [0, 1] moves them away from training data.
    The generator is chosen by the model's features (any copy of a demo model works)."""
    import numpy as np

    from mlops_provider.demo import credit
    from mlops_provider.demo.datasets import breast_cancer_frame

    features = set(config.features.all)
    if features <= {*credit.NUMERIC, *credit.CATEGORICAL}:
        return credit.generate(rows, seed=seed, drift=drift).drop(columns=[credit.TARGET])
    if features <= set(breast_cancer_frame().columns):
        rng = np.random.default_rng(seed)
        frame = breast_cancer_frame().drop(columns=["benign"])
        sample = frame.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
        noise = rng.normal(1.0, 0.02, sample.shape)
        scale = 1.0 + drift * np.linspace(0.2, 0.8, sample.shape[1])
        return sample * noise * scale
    raise ValueError(f"no demo traffic generator for the features of model '{config.name}' "
                     "(demo generators: credit_default, breast_cancer)")


def send_traffic(model: str, *, tracking_uri: str, rows: int = 500, drift: float = 0.0, seed: int = 1,
                 alias: str = "champion", start: datetime | None = None) -> dict[str, Any]:
    """Score `rows` requests with `<model>@<alias>` and write them as one inference window."""
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.training.run import features_frame, load_sklearn
    from mlops_provider.training.run import tracking_uri as tracking

    config = load_model_config(model, check_paths=False)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version_by_alias(model, alias).version
    with tracking(tracking_uri):
        estimator = load_sklearn(f"models:/{model}/{version}")
    features = features_frame(config, requests_for(config, rows, drift=drift, seed=seed))
    scored = features.assign(**{
        PREDICTION: estimator.predict(features),
        VERSION: str(version),
        TIMESTAMP: pd.Timestamp.now(tz="UTC"),
    })
    path = write_window(inference_uri(config), scored, start=start)
    return {"model": model, "version": str(version), "rows": rows, "drift": drift, "window": path}
