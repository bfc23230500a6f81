"""Toy training data for the assembly tests: rows, partitions, served predictions and their labels, built with the
package's own writers (`inference_log.write_window`, `labels.ingest_labels`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig, parse_model_config


def toy_rows(n: int, *, seed: int) -> pd.DataFrame:
    """`n` rows of the toy model: `x`, `colour` and a `label` that follows `x`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n).round(3)
    return pd.DataFrame({"x": x, "colour": rng.choice(["red", "blue"], n),
                         "label": (x + rng.normal(0, 1, n) > 0).astype("int64")})


def configured(base: ModelConfig, **data: Any) -> ModelConfig:
    """`base` with `data` keys changed."""
    return parse_model_config({**base.model_dump(), "data": {**base.data.model_dump(), **data}}, "toy.yaml")


def write_partition(root: Path, day: str, frame: pd.DataFrame, name: str = "part-0.parquet") -> Path:
    path = root / f"date={day}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def log_predictions(config: ModelConfig, frame: pd.DataFrame, *, start: datetime, prefix: str) -> list[str]:
    """One inference-log window of `frame`'s features, one row a minute from `start`; returns the ids."""
    ids = [f"{prefix}-{i}" for i in range(len(frame))]
    served = frame[["x", "colour"]].assign(**{
        inference_log.PREDICTION: 0, inference_log.VERSION: "1", inference_log.SCORE: 0.5,
        inference_log.TIMESTAMP: [start + timedelta(minutes=i) for i in range(len(frame))],
        inference_log.REQUEST_ID: ids,
    })
    inference_log.write_window(inference_log.inference_uri(config), served, start=start)
    return ids


def deliver(config: ModelConfig, ids: list[str], values: list[Any], *, at: datetime) -> None:
    delivery = pd.DataFrame({"request_id": ids, "label": values, "event_time": at})
    report = labels.ingest_labels(config, delivery, source="test", now=at)
    assert report.accepted == len(ids), report.to_dict()
