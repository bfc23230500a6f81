"""Where labels live and how they are read: the labels folder, the labels log, and the join with the inference log.

The labels folder of a model (`data.labels`, default `<model>/labels` under MLOPS_DATA_DIR) holds `inbox/` (files
dropped by people or systems), `log/date=YYYY-MM-DD/labels-<stamp>-<id>.parquet` (the accepted labels, by the UTC
date they were received), `rejected/` (JSON lines: every refused row with its reason; unreadable inbox files) and
`processed/` (inbox files after ingestion, named after their digest). Every file is written aside and renamed, so a
reader sees it complete or not at all.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.data import uri_of
from mlops_provider.inference_log import (
    PREDICTION,
    REQUEST_ID,
    inference_uri,
    list_windows,
    predictions_between,
    read_columns,
    storage_path,
    write_atomically,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)

# the labels log's columns (the prediction id has the inference log's name, so the two join on it)
LABEL, LABEL_TIME, RECEIVED, SOURCE = "mlops_label", "mlops_label_time", "mlops_received", "mlops_source"
LOG_COLUMNS = (REQUEST_ID, LABEL, LABEL_TIME, RECEIVED, SOURCE)
INBOX, LOG, REJECTED, PROCESSED = "inbox", "log", "rejected", "processed"
_DAY = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_STAMP = "%Y%m%dT%H%M%S%f"
# a prediction is logged before its label can arrive; this margin covers clocks of different hosts
CLOCK_MARGIN = timedelta(hours=1)


def labels_uri(config: ModelConfig) -> str:
    """The model's labels folder: `data.labels`, default `<model>/labels` under MLOPS_DATA_DIR."""
    return config.resolve(config.data.labels or f"{config.name}/labels")


def labels_path(config: ModelConfig, *parts: str) -> Any:
    """A path under the model's labels folder (local or object storage)."""
    path = storage_path(labels_uri(config), config.data.conn_id)
    for part in parts:
        path = path / part
    return path


def stamp(now: datetime) -> str:
    """A file-name stamp that sorts in time, and a short random id so two writers never pick the same name."""
    return f"{now.astimezone(UTC).strftime(_STAMP)}-{uuid.uuid4().hex[:8]}"


def write_log_file(config: ModelConfig, frame: pd.DataFrame, now: datetime) -> str:
    """Append accepted labels (LOG_COLUMNS) as one file in the folder of the UTC date they were received."""
    folder = labels_path(config, LOG, f"date={now.astimezone(UTC):%Y-%m-%d}")
    name = f"labels-{stamp(now)}.parquet"
    target = write_atomically(folder, name, lambda handle: frame.to_parquet(handle, index=False))
    return uri_of(target)


def write_rejected(config: ModelConfig, rows: list[dict[str, Any]], now: datetime, *, prefix: str = "labels") -> str:
    """The refused rows of one delivery (each with its reason) as JSON lines in `rejected/`: the audit trail."""
    import json

    body = "".join(f"{json.dumps(row, default=str)}\n" for row in rows).encode()
    target = write_atomically(labels_path(config, REJECTED), f"{prefix}-{stamp(now)}.jsonl",
                              lambda handle: handle.write(body))
    return uri_of(target)


def _log_files(config: ModelConfig, since: datetime | None) -> list[Any]:
    root = labels_path(config, LOG)
    if not root.exists():
        return []
    first_day = f"{since.astimezone(UTC):%Y-%m-%d}" if since is not None else ""
    days = sorted((m.group(1), e) for e in root.iterdir() if (m := _DAY.match(e.name)) and e.is_dir())
    return [entry for day, folder in days if day >= first_day for entry in sorted(folder.iterdir(), key=_name)
            if entry.name.startswith("labels-") and entry.name.endswith(".parquet")]


def _name(entry: Any) -> str:
    return str(entry.name)


def read_labels(config: ModelConfig, *, since: datetime | None = None) -> pd.DataFrame:
    """The accepted labels (LOG_COLUMNS) received at or after `since`, one row per prediction id: the first one
    received wins (two processes ingesting the same id at once is the only way to log it twice)."""
    import pandas as pd

    frames = []
    for entry in _log_files(config, since):
        with entry.open("rb") as handle:
            frames.append(pd.read_parquet(handle))
    if not frames:
        return _empty_log()
    frame = pd.concat(frames, ignore_index=True)
    if since is not None:
        frame = frame[frame[RECEIVED] >= pd.Timestamp(since.astimezone(UTC))]
    frame = frame.sort_values(RECEIVED, kind="stable")
    twice = frame[REQUEST_ID].duplicated(keep="first")
    if twice.any():
        log.warning("Labels of model %s: %d prediction id(s) logged more than once; the first label received "
                    "counts", config.name, int(twice.sum()))
    return frame[~twice].reset_index(drop=True)


def _empty_log() -> pd.DataFrame:
    import pandas as pd

    stamp_type = pd.DatetimeTZDtype(unit="us", tz="UTC")
    return pd.DataFrame({REQUEST_ID: pd.Series(dtype=object), LABEL: pd.Series(dtype=object),
                         LABEL_TIME: pd.Series(dtype=stamp_type), RECEIVED: pd.Series(dtype=stamp_type),
                         SOURCE: pd.Series(dtype=object)})


def known_request_ids(config: ModelConfig, *, since: datetime | None = None) -> set[str]:
    """Every prediction id in the model's inference log (windows starting at or after `since`). Only the id
    column is read; windows written before ids existed contribute nothing."""
    found: set[str] = set()
    for window in list_windows(inference_uri(config), since=since, conn_id=config.data.conn_id):
        frame = read_columns(window, [REQUEST_ID], config.data.conn_id)
        if frame is not None:
            found.update(frame[REQUEST_ID].dropna().astype(str))
    return found


def lookup_request_ids(config: ModelConfig, ids: set[str], *,
                       since: datetime | None = None) -> tuple[set[str], set[Any]]:
    """(those of `ids` in the inference log, the predictions seen in the windows read). Newest windows first
    (labels mostly follow their predictions closely), stopping once every id is found."""
    wanted, found, seen = set(ids), set[str](), set[Any]()
    if not wanted:
        return found, seen
    windows = list_windows(inference_uri(config), since=since, conn_id=config.data.conn_id)
    for window in reversed(windows):
        frame = read_columns(window, [REQUEST_ID, PREDICTION], config.data.conn_id)
        if frame is None or REQUEST_ID not in frame:
            continue
        found.update(wanted.intersection(frame[REQUEST_ID].dropna()))
        if PREDICTION in frame:
            seen.update(frame[PREDICTION].dropna().unique().tolist())
        if found == wanted:
            break
    return found, seen


def find_request_ids(config: ModelConfig, ids: set[str], *, since: datetime | None = None) -> set[str]:
    """Those of `ids` in the inference log, reading only the id column, newest windows first."""
    return lookup_request_ids(config, ids, since=since)[0]


def labelled_predictions(config: ModelConfig, *, start: datetime, end: datetime) -> pd.DataFrame:
    """The predictions logged in [start, end) that have a label: every inference-log column plus `mlops_label`,
    `mlops_label_time` and `mlops_received`. Unlabelled rows are dropped; how many is in `frame.attrs["unlabelled"]`."""

    start, end = start.astimezone(UTC), end.astimezone(UTC)
    predictions = predictions_between(config, start, end)
    labels = read_labels(config, since=start - CLOCK_MARGIN)[[REQUEST_ID, LABEL, LABEL_TIME, RECEIVED]]
    joined = predictions.merge(labels, on=REQUEST_ID, how="inner", validate="many_to_one")
    joined.attrs["unlabelled"] = int(len(predictions) - len(joined))
    return joined.reset_index(drop=True)


def move(entry: Any, folder: Any, name: str) -> str:
    """Move a file into `folder` under `name` (a rename on local disks, copy and delete on object stores)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    entry.rename(target)
    return uri_of(target)
