"""The inference log: Parquet windows of scored requests under a model's inference path, one file per window.

The model server (and, in the demo, the traffic generator) writes; the drift monitor reads. A window file
holds the request features plus `mlops_prediction`, `mlops_version` (the served model version) and
`mlops_timestamp` (UTC). Its name carries the window's UTC start, so listing needs no file reads:
`window-20261123T090000000000-<id>.parquet`. No Airflow import; paths are local or `ObjectStoragePath`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.data import as_path, uri_of
from mlops_provider.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

PREDICTION, VERSION, TIMESTAMP = "mlops_prediction", "mlops_version", "mlops_timestamp"
META_COLUMNS = (PREDICTION, VERSION, TIMESTAMP)
_NAME = re.compile(r"^window-(\d{8}T\d{12})-([0-9a-f]{8})\.parquet$")
_STAMP = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class WindowFile:
    uri: str
    start: datetime


def inference_uri(config: ModelConfig) -> str:
    """The model's inference folder: `data.inference`, default `<model>/inference` under MLOPS_DATA_DIR."""
    return config.resolve(config.data.inference or f"{config.name}/inference")


def write_window(folder: Any, frame: pd.DataFrame, *, start: datetime | None = None,
                 conn_id: str | None = None) -> str:
    """Write one window; the file appears complete or not at all (written aside, then renamed)."""
    missing = [c for c in META_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"inference window for {folder}: missing column(s) {missing}")
    start = (start or datetime.now(UTC)).astimezone(UTC)
    root = as_path(folder, conn_id)
    root.mkdir(parents=True, exist_ok=True)
    name = f"window-{start.strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.parquet"
    staging = root / f".{name}.tmp"
    text = [str(c) for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) in ("category", "string")]
    with staging.open("wb") as handle:  # dictionary-encode text only: for floats it costs much and saves little
        frame.to_parquet(handle, index=False, use_dictionary=text)
    target = root / name
    staging.rename(target)
    return uri_of(target)


def list_windows(folder: Any, *, since: datetime | None = None, conn_id: str | None = None) -> list[WindowFile]:
    """Window files (oldest first) whose start is at or after `since`; an absent folder has none."""
    root = as_path(folder, conn_id)
    if not root.exists():
        return []
    found = []
    for entry in root.iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        start = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
        if since is None or start >= since:
            found.append(WindowFile(uri_of(entry), start))
    return sorted(found, key=lambda w: (w.start, w.uri))


def recent_windows(folder: Any, *, minutes: int, now: datetime | None = None,
                   conn_id: str | None = None) -> list[WindowFile]:
    """The windows of the last `minutes` (the monitor's current data)."""
    now = now or datetime.now(UTC)
    return list_windows(folder, since=now - timedelta(minutes=minutes), conn_id=conn_id)


def count_rows(windows: list[WindowFile], conn_id: str | None = None) -> int:
    """Rows in the windows, from Parquet footers only (cheap enough for a trigger's polling loop)."""
    import pyarrow.parquet as pq

    total = 0
    for window in windows:
        with as_path(window.uri, conn_id).open("rb") as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def read_windows(windows: list[WindowFile], conn_id: str | None = None) -> pd.DataFrame:
    """All rows of the windows as one DataFrame."""
    import pandas as pd

    from mlops_provider.data import read_table

    if not windows:
        raise DataError("no inference windows to read")
    frames = [read_table(w.uri, conn_id=conn_id, what="inference window") for w in windows]
    return pd.concat(frames, ignore_index=True)
