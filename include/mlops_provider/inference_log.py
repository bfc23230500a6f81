"""The inference log: Parquet windows of scored requests under a model's inference path, one file per window.

The model server (and, in the demo, the traffic generator) writes; the drift monitor reads. A window file
holds the request features plus `mlops_prediction`, `mlops_version` (the served model version),
`mlops_timestamp` (UTC), `mlops_request_id` (the prediction's id, which labels refer to) and `mlops_score` (the
positive class's probability of a binary classifier, else null); windows written before the last two existed are
read as they are (readers of features need neither). Its name carries the window's UTC start, so listing needs no
file reads, and it lives in the folder of its UTC date and hour, so a look at the last hour lists one or two
folders however long the log: `date=2026-11-23/hour=09/window-20261123T090000000000-<id>.parquet`. Windows of the
first, flat layout (`window-*.parquet` right in the inference folder) are still found. Windows that cannot be read
(empty, truncated) are skipped with a warning naming the file; windows the server could not write are set aside in
`quarantine/` as JSON lines. No Airflow import; paths are local or `ObjectStoragePath`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from mlops_provider.data import as_path, uri_of
from mlops_provider.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)

PREDICTION, VERSION, TIMESTAMP = "mlops_prediction", "mlops_version", "mlops_timestamp"
REQUEST_ID = "mlops_request_id"  # str: the prediction id (`<request id>` or `<request id>.<row>`)
SCORE = "mlops_score"  # float: P(classes_[1]) of a binary classifier; null for regressors and multiclass
META_COLUMNS = (PREDICTION, VERSION, TIMESTAMP, REQUEST_ID, SCORE)
REQUIRED_COLUMNS = (PREDICTION, VERSION, TIMESTAMP)  # a window without ids (older writers, tests) is still valid
QUARANTINE = "quarantine"
SHADOW = "shadow"  # `<inference>/shadow`: a shadow version's answers, never listed as production traffic
QUARANTINE_REASON = "mlops_quarantine_reason"
_NAME = re.compile(r"^window-(\d{8}T\d{12})-([0-9a-f]{8})\.(parquet|jsonl)$")
_DAY = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_HOUR = re.compile(r"^hour=(\d{2})$")
_STAMP = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class WindowFile:
    uri: str
    start: datetime


def inference_uri(config: ModelConfig) -> str:
    """The model's inference folder: `data.inference`, default `<model>/inference` under MLOPS_DATA_DIR."""
    return config.resolve(config.data.inference or f"{config.name}/inference")


def shadow_uri(config: ModelConfig) -> str:
    """The model's shadow log: `<inference folder>/shadow`, the same window format. `list_windows` of the
    inference folder lists only `date=`/`hour=` folders and flat `window-*` files, so the drift and performance
    monitors, label joins and retraining feedback (all reading `inference_uri`) never see a shadow row."""
    return f"{inference_uri(config).rstrip('/')}/{SHADOW}"


def storage_path(folder: Any, conn_id: str | None = None) -> Any:
    """The folder as an `ObjectStoragePath`, a `pathlib` path too: `Path.as_uri()` would percent-encode the `=`
    of the partition folders, and such a URI does not open again."""
    return as_path(str(folder) if isinstance(folder, PurePath) else folder, conn_id)


def _partition(root: Any, start: datetime) -> Any:
    return root / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"


def write_atomically(folder: Any, name: str, write: Any) -> Any:
    """`write(handle)` into a hidden temporary file, fsync it, rename it to `name`: the file appears complete or
    not at all, and a failed attempt leaves nothing behind."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{name}.tmp"
    try:
        with staging.open("wb") as handle:
            write(handle)
            _fsync(handle)
        target = folder / name
        staging.rename(target)
    except BaseException:
        try:
            staging.unlink(missing_ok=True)
        except OSError as err:
            log.warning("Could not remove the temporary file %s: %s", staging, err)
        raise
    if getattr(folder, "protocol", "file") in ("file", "local"):
        _fsync_folder(folder.path if hasattr(folder, "protocol") else str(folder))
    return target


def _fsync(handle: Any) -> None:
    handle.flush()
    try:
        number = handle.fileno()
    except (AttributeError, OSError, ValueError):  # an object store's buffered upload: nothing to sync here
        return
    os.fsync(number)


def _fsync_folder(path: str) -> None:
    """Make the rename itself durable (a crash right after it could otherwise lose the directory entry)."""
    number = os.open(path, os.O_RDONLY)
    try:
        os.fsync(number)
    finally:
        os.close(number)


def write_window(folder: Any, frame: pd.DataFrame, *, start: datetime | None = None,
                 conn_id: str | None = None) -> str:
    """Write one window into the partition of its start (written aside, fsynced, then renamed)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"inference window for {folder}: missing column(s) {missing}")
    start = (start or datetime.now(UTC)).astimezone(UTC)
    name = f"window-{start.strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.parquet"
    text = [str(c) for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) in ("category", "string")]

    def write(handle: Any) -> None:  # dictionary-encode text only: for floats it costs much and saves little
        frame.to_parquet(handle, index=False, use_dictionary=text)

    return uri_of(write_atomically(_partition(storage_path(folder, conn_id), start), name, write))


def quarantine(folder: Any, frame: pd.DataFrame, *, start: datetime, reason: str,
               conn_id: str | None = None) -> str:
    """Set aside a window that could not be written as Parquet: one JSON object per row (any value that is not
    JSON becomes its text, so this cannot fail on types), with the reason, in `<folder>/quarantine/`."""
    import pandas as pd

    start = start.astimezone(UTC)
    name = f"window-{start.strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.jsonl"
    columns = [str(c) for c in frame.columns]
    values = frame.astype(object).where(pd.notna(frame), None).itertuples(index=False, name=None)
    lines = (json.dumps({**dict(zip(columns, row, strict=True)), QUARANTINE_REASON: reason}, default=str)
             for row in values)
    body = "".join(f"{line}\n" for line in lines).encode()
    return uri_of(write_atomically(storage_path(folder, conn_id) / QUARANTINE, name, lambda h: h.write(body)))


def _window(entry: Any) -> WindowFile | None:
    match = _NAME.match(entry.name)
    if not match or match.group(3) != "parquet":
        return None
    return WindowFile(uri_of(entry), datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC))


def _dated(entries: Iterator[Any] | list[Any], pattern: re.Pattern[str]) -> list[tuple[str, Any]]:
    return sorted((m.group(1), e) for e in entries if (m := pattern.match(e.name)) and e.is_dir())


def _partitions(root: Any, since: datetime | None) -> tuple[list[Any], list[Any]]:
    """(hour folders at or after `since`'s hour, flat-layout files): the folders not in range are not listed."""
    hours, flat = [], []
    days = []
    for entry in root.iterdir():
        if _DAY.match(entry.name):
            days.append(entry)
        elif entry.name.startswith("window-"):
            flat.append(entry)
    for day, folder in _dated(days, _DAY):
        if since is not None and day < f"{since:%Y-%m-%d}":
            continue
        for hour, hour_folder in _dated(folder.iterdir(), _HOUR):
            if since is not None and (day, hour) < (f"{since:%Y-%m-%d}", f"{since:%H}"):
                continue
            hours.append(hour_folder)
    return hours, flat


def list_windows(folder: Any, *, since: datetime | None = None, conn_id: str | None = None) -> list[WindowFile]:
    """Window files (oldest first) whose start is at or after `since`; an absent folder has none. Only the
    date and hour folders from `since` on are listed (and the inference folder itself, for flat-layout files)."""
    root = storage_path(folder, conn_id)
    if not root.exists():
        return []
    since = since.astimezone(UTC) if since is not None else None
    hours, flat = _partitions(root, since)
    candidates = [*flat, *(entry for hour in hours for entry in hour.iterdir())]
    found = [w for w in map(_window, candidates) if w is not None and (since is None or w.start >= since)]
    return sorted(found, key=lambda w: (w.start, w.uri))


def windows_at(uris: list[str], conn_id: str | None = None) -> list[WindowFile]:
    """The windows named by `uris` (a trigger's or a check's), oldest first, without listing any folder."""
    found = [w for w in (_window(as_path(uri, conn_id)) for uri in uris) if w is not None]
    return sorted(found, key=lambda w: (w.start, w.uri))


def recent_windows(folder: Any, *, minutes: int, now: datetime | None = None,
                   conn_id: str | None = None) -> list[WindowFile]:
    """The windows of the last `minutes` (the monitor's current data)."""
    now = now or datetime.now(UTC)
    return list_windows(folder, since=now - timedelta(minutes=minutes), conn_id=conn_id)


def count_rows(windows: list[WindowFile], conn_id: str | None = None) -> int:
    """Rows in the windows, from Parquet footers only (cheap enough for a trigger's polling loop). A window that
    is not readable Parquet (empty, truncated) or is gone counts nothing, with a warning naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = 0
    for window in windows:
        try:
            with as_path(window.uri, conn_id).open("rb") as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        except FileNotFoundError:
            log.warning("Inference window %s skipped: it is gone (deleted by retention?)", window.uri)
        except (pa.ArrowException, ValueError) as err:
            log.warning("Inference window %s skipped: not a readable Parquet file: %s", window.uri, err)
    return total


def read_columns(window: WindowFile, columns: list[str], conn_id: str | None = None) -> pd.DataFrame | None:
    """Only the `columns` a window has (the others are not read at all); None when it has none of them (a window
    written before they existed), or is not readable or gone (with a warning naming it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with as_path(window.uri, conn_id).open("rb") as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            if not present:
                return None
            return parquet.read(columns=present).to_pandas()
    except FileNotFoundError:
        log.warning("Inference window %s skipped: it is gone (deleted by retention?)", window.uri)
    except (pa.ArrowException, ValueError) as err:
        log.warning("Inference window %s skipped: not a readable Parquet file: %s", window.uri, err)
    return None


def read_windows(windows: list[WindowFile], conn_id: str | None = None) -> pd.DataFrame:
    """All rows of the windows as one DataFrame; unreadable or empty windows are skipped with a warning naming
    them (DataError when none is left)."""
    import pandas as pd

    from mlops_provider.data import read_table

    if not windows:
        raise DataError("no inference windows to read")
    frames, skipped = [], []
    for window in windows:
        try:
            frames.append(read_table(window.uri, conn_id=conn_id, what="inference window"))
        except DataError as err:
            log.warning("Inference window %s skipped: %s", window.uri, err)
            skipped.append(window.uri)
    if not frames:
        raise DataError(f"none of the {len(windows)} inference window(s) is readable: {', '.join(skipped)}")
    return pd.concat(frames, ignore_index=True)


def delete_before(folder: Any, cutoff: datetime, *, conn_id: str | None = None) -> int:
    """Delete windows (and quarantined windows) of hours that ended before `cutoff`, and flat-layout windows
    that started before it; empty partition folders go too. Returns the number of files deleted."""
    root = storage_path(folder, conn_id)
    if not root.exists():
        return 0
    cutoff = cutoff.astimezone(UTC)
    deleted = 0
    for day, day_folder in _dated(root.iterdir(), _DAY):
        if day > f"{cutoff:%Y-%m-%d}":
            break
        for hour, hour_folder in _dated(day_folder.iterdir(), _HOUR):
            if (day, hour) >= (f"{cutoff:%Y-%m-%d}", f"{cutoff:%H}"):
                break
            deleted += _delete_files(list(hour_folder.iterdir()))
            _remove_folder(hour_folder)
        if day < f"{cutoff:%Y-%m-%d}":
            _remove_folder(day_folder)
    old = [e for e in root.iterdir() if _older(e, cutoff)]
    aside = root / QUARANTINE
    if aside.exists():
        old += [e for e in aside.iterdir() if _older(e, cutoff)]
    return deleted + _delete_files(old)


def _older(entry: Any, cutoff: datetime) -> bool:
    match = _NAME.match(entry.name)
    return match is not None and datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC) < cutoff


def _delete_files(entries: list[Any]) -> int:
    count = 0
    for entry in entries:
        if entry.is_dir():
            continue
        entry.unlink(missing_ok=True)
        count += int(bool(_NAME.match(entry.name)))
    return count


def _remove_folder(folder: Any) -> None:
    with contextlib.suppress(OSError):  # not empty (a file we do not own), or an object store without folders
        folder.rmdir()



WINDOW_MARGIN = timedelta(hours=1)  # a window file is named after its first row: it may hold rows an hour later


def predictions_between(config: ModelConfig, start: datetime, end: datetime, *, shadow: bool = False) -> pd.DataFrame:
    """Every logged prediction of the model with its timestamp in [start, end) (with `shadow`, of its shadow log
    instead); windows written before ids and scores were logged get those columns empty."""
    import pandas as pd

    folder = shadow_uri(config) if shadow else inference_uri(config)
    windows = [w for w in list_windows(folder, since=start - WINDOW_MARGIN,
                                       conn_id=config.data.conn_id) if w.start < end]
    if not windows:
        return pd.DataFrame(columns=list(META_COLUMNS))
    frame = read_windows(windows, conn_id=config.data.conn_id)
    stamps = pd.to_datetime(frame[TIMESTAMP], utc=True)
    frame = frame[(stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))]
    missing = {column: None for column in (REQUEST_ID, SCORE) if column not in frame.columns}
    return frame.assign(**missing) if missing else frame
