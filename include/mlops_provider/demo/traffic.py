"""Demo traffic: requests for a model, with a drift knob, ending up in its inference log.

When the model's local server runs (the local deployment target), the requests go to its `/invocations` in
MLflow's scoring format and the server logs them itself. Otherwise they are scored here by the registry's
`champion` and written as one window in the same folder, format and columns (`mlops_provider.inference_log`),
each row with its own prediction id and score as the server would log them. Either way the answer lists the
prediction ids, which labels (`mlops feedback`) refer to.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.config import load_model_config
from mlops_provider.inference_log import (
    PREDICTION,
    REQUEST_ID,
    SCORE,
    TIMESTAMP,
    VERSION,
    inference_uri,
    write_window,
)
from mlops_provider.serving.headers import PIN_HEADER
from mlops_provider.tracking import CHAMPION

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig


def requests_for(config: ModelConfig, rows: int, *, drift: float, seed: int, concept: float = 0.0,
                 with_target: bool = False) -> pd.DataFrame:
    """Feature rows as clients would send them; `drift` in [0, 1] moves them away from training data,
    `concept` (credit_default only) changes what their true target depends on, `with_target` keeps that
    target (for the demo's delayed labels, `credit.labels_for`). The generator is chosen by the model's
    features (any copy of a demo model works)."""
    import numpy as np

    from mlops_provider.demo import credit
    from mlops_provider.demo.datasets import breast_cancer_frame, diabetes_frame

    features = set(config.features.all)
    if features <= {*credit.NUMERIC, *credit.CATEGORICAL}:
        frame = credit.generate(rows, seed=seed, drift=drift, concept=concept)
        return frame if with_target else frame.drop(columns=[credit.TARGET])
    if features <= set(breast_cancer_frame().columns):
        rng = np.random.default_rng(seed)
        frame = breast_cancer_frame()
        sample = frame.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
        target = sample.pop("benign")
        noise = rng.normal(1.0, 0.02, sample.shape)
        scale = 1.0 + drift * np.linspace(0.2, 0.8, sample.shape[1])
        moved = sample * noise * scale
        return moved.assign(benign=target) if with_target else moved
    diabetes = diabetes_frame()
    if features <= set(diabetes.columns):
        rng = np.random.default_rng(seed)
        sample = diabetes.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
        target = sample.pop("progression")
        numeric = [c for c in sample.columns if c != "sex"]
        scale = 1.0 + drift * np.linspace(0.2, 0.8, len(numeric))
        sample[numeric] = sample[numeric] * rng.normal(1.0, 0.02, (rows, len(numeric))) * scale
        return sample.assign(progression=target) if with_target else sample
    raise ValueError(f"no demo traffic generator for the features of model '{config.name}' "
                     "(demo generators: credit_default, breast_cancer, diabetes_progression)")


def send_traffic(model: str, *, tracking_uri: str, rows: int = 500, drift: float = 0.0, seed: int = 1,
                 alias: str = CHAMPION, start: datetime | None = None, via_server: bool = True,
                 batch: int = 50, concept: float = 0.0, labels_to: str | None = None) -> dict[str, Any]:
    """Send `rows` requests to the model's running local server (`batch` rows per request), or, with no
    server (or `via_server=False`), score them with `<model>@<alias>` and write them as one window. The answer's
    `prediction_ids` are the ids of the rows, in order. With `labels_to`, the requests' true labels (the ground
    truth that arrives later) are written there as a labels file (`request_id`, `label`, `event_time`), for
    `mlops feedback` or the labels inbox."""
    config = load_model_config(model, check_paths=False)
    frame = requests_for(config, rows, drift=drift, seed=seed, concept=concept, with_target=True)
    requests = frame.drop(columns=[config.target])
    sent: dict[str, Any] | None = None
    if via_server:
        from mlops_provider.deploy.local import LocalTarget

        server = LocalTarget(tracking_uri=tracking_uri).running(model)
        if server is not None:
            sent = _through_server(model, server.url, server.admin_url, requests, batch)
    if sent is None:
        sent = _scored_here(config, requests, tracking_uri=tracking_uri, alias=alias, start=start)
    sent.update({"rows": rows, "drift": drift, "concept": concept})
    if labels_to is not None:
        write_labels_file(labels_to, sent["prediction_ids"], frame[config.target])
        sent["labels"] = labels_to
    return sent


def write_labels_file(path: str, ids: list[str], labels: Any) -> None:
    """A labels delivery as a monitor or a backfill sends it: `request_id`, `label`, `event_time` (now)."""
    import pandas as pd

    from mlops_provider.labels import EVENT_TIME_COLUMN, ID_COLUMN, LABEL_COLUMN

    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} prediction ids for {len(labels)} labels: the answers lost rows")
    pd.DataFrame({ID_COLUMN: ids, LABEL_COLUMN: list(labels),
                  EVENT_TIME_COLUMN: pd.Timestamp.now(tz="UTC").isoformat()}).to_csv(path, index=False)


def _scored_here(config: ModelConfig, requests: pd.DataFrame, *, tracking_uri: str, alias: str,
                 start: datetime | None) -> dict[str, Any]:
    """Score with `<model>@<alias>` in this process and write one inference-log window."""
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.data import features_frame
    from mlops_provider.serving.scoring import predict_scored
    from mlops_provider.tracking import load_version
    from mlops_provider.tracking import tracking_uri as tracking

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version_by_alias(config.name, alias).version
    with tracking(tracking_uri):
        estimator = load_version(config.name, version)
    features = features_frame(config, requests)
    predictions, scores = predict_scored(estimator, features)
    ids = [uuid.uuid4().hex for _ in range(len(features))]  # one request per row, as a client would send
    scored = features.assign(**{
        PREDICTION: predictions,
        VERSION: str(version),
        TIMESTAMP: pd.Timestamp.now(tz="UTC"),
        REQUEST_ID: ids,
        SCORE: pd.Series(scores if scores is not None else [None] * len(ids), dtype="float64").to_numpy(),
    })
    path = write_window(inference_uri(config), scored, start=start)
    return {"model": config.name, "version": str(version), "window": path, "prediction_ids": ids}


def _through_server(model: str, url: str, admin_url: str, frame: pd.DataFrame, batch: int) -> dict[str, Any]:
    """POST the requests to the server in MLflow's `dataframe_split` format, then flush its inference log."""
    import httpx

    from mlops_provider.deploy.smoke import split_payload

    served: set[str] = set()
    ids: list[str] = []
    with httpx.Client(timeout=60, trust_env=False) as http:
        for begin in range(0, len(frame), batch):
            answer = http.post(f"{url}/invocations", json=split_payload(frame.iloc[begin:begin + batch]))
            if answer.status_code != 200:
                raise RuntimeError(f"model '{model}': the server at {url} answered {answer.status_code}: "
                                   f"{answer.text[:300]}")
            served.add(answer.headers.get(PIN_HEADER, "?"))
            ids += answer.json().get("metadata", {}).get("prediction_ids", [])
        window = http.post(f"{admin_url}/admin/flush").json().get("window")
    return {"model": model, "version": ",".join(sorted(served)),
            "window": f"{window} (logged by the server at {url})", "prediction_ids": ids}
