"""Assemble a model's training set: a file, or a window of dated partitions, plus labelled production rows.

`data.train` names a file (as ever) or a folder of `date=YYYY-MM-DD/*.parquet|csv` partitions. With
`data.window_days: N` only the partitions of the window `[now - N days, now)` are read (a partition is in it when
its day overlaps it); without, every partition before `now`. With `data.feedback: true` the labelled production
rows of the same window (inference log joined with the labels log, `labels.labelled_predictions`) are added, their
label as the target. Validation and training both call `assemble_training_set` with the DAG run's time, so the
set trained on is the set validated (same digest), and a retry assembles it again byte for byte. No Airflow import.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from mlops_provider.data import as_path, digest, features_frame, read_table, require_columns, split_holdout, uri_of
from mlops_provider.exceptions import DataError
from mlops_provider.inference_log import REQUEST_ID, TIMESTAMP, inference_uri
from mlops_provider.labels.store import LABEL, LABEL_TIME, RECEIVED

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)

PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # the feedback window without `window_days`
SOURCES_ARTIFACT = "data/sources.json"


class DataSource(TypedDict):
    """One part of an assembled training set, as `data/sources.json` of the training run lists it."""

    uri: str
    rows: int
    kind: Literal["file", "partition", "feedback"]
    digest: str
    start: NotRequired[str]  # feedback: the window of the predictions, [start, end) in UTC
    end: NotRequired[str]
    dropped: NotRequired[int]  # feedback: labelled rows whose label does not fit the target's dtype


@dataclass(frozen=True)
class TrainingSet:
    """The assembled frame (the sources' rows in source order), its digest, and where it came from."""

    frame: pd.DataFrame
    digest: str
    uri: str  # `data.train` resolved: the file or the partitions folder
    sources: list[DataSource]
    now: datetime  # the end of the window
    start: datetime | None  # the start of the window; None: all data before `now`
    feedback_ids: tuple[str, ...] = ()  # the request ids of the feedback rows, the last rows of `frame`

    @property
    def summary(self) -> str:
        """A short line for the `mlops.data_sources` tag: `2 partitions 2026-11-21..2026-11-22: 4000 rows +
        feedback [2026-11-16T00:00, 2026-11-23T00:00): 1800 rows (12 dropped)`."""
        files = [s for s in self.sources if s["kind"] == "file"]
        parts = [s for s in self.sources if s["kind"] == "partition"]
        text = [f"file {s['uri'].rsplit('/', 1)[-1]}: {s['rows']} rows" for s in files]
        if parts:
            days = sorted({_day_of(s["uri"]) for s in parts})
            span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
            text.append(f"{len(days)} partition{'s' if len(days) > 1 else ''} {span}: "
                        f"{sum(s['rows'] for s in parts)} rows")
        elif self.uri and not files:
            text.append("no partitions")
        for s in (s for s in self.sources if s["kind"] == "feedback"):
            dropped = f" ({s['dropped']} dropped)" if s.get("dropped") else ""
            since = s.get("start", "")
            span = (f"before {s.get('end', '')[:16]}" if since.startswith(ALL_TIME.isoformat()[:10])
                    else f"[{since[:16]}, {s.get('end', '')[:16]})")
            text.append(f"feedback {span}: {s['rows']} rows{dropped}")
        return " + ".join(text)


@dataclass(frozen=True)
class Batches:
    """What training and evaluation read: the train part, the holdout, and the assembled set they came from."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    training_set: TrainingSet


def run_time(context: Mapping[str, Any]) -> datetime | None:
    """The time a DAG run assembles its data as of: its logical date, else (a run triggered without one) its
    `run_after`; the same for every task and every try of the run. None outside a DAG run."""
    logical = context.get("logical_date")
    if logical is not None:
        return logical
    return getattr(context.get("dag_run"), "run_after", None)


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def assemble_training_set(config: ModelConfig, *, now: datetime | None = None,
                          check_columns: bool = True) -> TrainingSet:
    """The training set of `config` as of `now` (default: now, UTC); see the module's docstring.

    Every source must hold the model's columns (an error names the file), unless `check_columns` is off (the
    data gate: its suite says which columns it expects); an empty window is a `DataError` naming the folder and
    the window. The check reads nothing and changes no row, so the digest is the same either way."""
    import pandas as pd

    end = _utc(now)
    start = end - timedelta(days=config.data.window_days) if config.data.window_days else None
    uri = config.resolve(config.data.train)
    # the gate's evaluation-only columns (slices) too: a column some batches lack fails here, naming the batch
    required = [*config.features.all, config.target, *config.gate.evaluation_columns] if check_columns else []
    path = as_path(uri, config.data.conn_id)
    folder = path.is_dir()
    parts: list[tuple[DataSource, pd.DataFrame]] = []
    if folder:
        for file in _partition_files(path, start=start, end=end):
            frame = read_table(file, conn_id=config.data.conn_id, what=f"model '{config.name}': training data",
                               allow_empty=True)
            parts.append(_source(config, frame, uri_of(file), "partition", required))
    else:
        frame = read_table(uri, conn_id=config.data.conn_id, what=f"model '{config.name}': training data")
        parts.append(_source(config, frame, uri, "file", required))
    feedback_ids: tuple[str, ...] = ()
    if config.data.feedback:
        reference = next((f[config.target] for _, f in parts if len(f) and config.target in f), None)
        source, rows, ids = _feedback(config, start=start or ALL_TIME, end=end, target=reference)
        parts.append((source, rows))
        feedback_ids = tuple(ids)
    frames = [f for _, f in parts if len(f)]
    if not frames:
        window = f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC" if start else f"before {end:%Y-%m-%d %H:%M} UTC"
        extra = " and no labelled production rows" if config.data.feedback else ""
        raise DataError(f"model '{config.name}': no training rows in {uri} for the window {window} (data.window_days: "
                        f"{config.data.window_days}): no date=YYYY-MM-DD partition with rows{extra}")
    assembled = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return TrainingSet(frame=assembled, digest=digest(assembled), uri=uri, sources=[s for s, _ in parts],
                       now=end, start=start, feedback_ids=feedback_ids)


def _source(config: ModelConfig, frame: pd.DataFrame, uri: str, kind: Literal["file", "partition"],
            required: list[str]) -> tuple[DataSource, pd.DataFrame]:
    if len(frame) and required:
        require_columns(frame, required, what=f"model '{config.name}': training data {uri}")
    return {"uri": uri, "rows": len(frame), "kind": kind, "digest": digest(frame)}, frame


def _day_of(uri: str) -> str:
    found = re.search(r"date=(\d{4}-\d{2}-\d{2})", uri)
    return found.group(1) if found else "?"


def _partition_files(folder: Any, *, start: datetime | None, end: datetime) -> list[Any]:
    """The data files of the `date=` partitions whose day overlaps [start, end), oldest day first, by name within
    a day. Hidden and `_`-prefixed files (`.x.tmp`, Spark's `_SUCCESS`) are not data."""
    days: list[tuple[date, Any]] = []
    for entry in folder.iterdir():
        found = PARTITION.match(entry.name)
        if not found or not entry.is_dir():
            continue
        try:
            day = date.fromisoformat(found.group(1))
        except ValueError:
            raise DataError(f"partition folder {entry}: '{found.group(1)}' is not a date") from None
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if midnight < end and (start is None or midnight + timedelta(days=1) > start):
            days.append((day, entry))
    files = []
    for _, entry in sorted(days, key=lambda item: item[0]):
        files += sorted((f for f in entry.iterdir() if not f.name.startswith((".", "_")) and not f.is_dir()),
                        key=lambda f: f.name)
    return files


def _feedback(config: ModelConfig, *, start: datetime, end: datetime,
              target: pd.Series | None) -> tuple[DataSource, pd.DataFrame, list[str]]:
    """The labelled production rows predicted in [start, end) whose label was known before `end` (received, when
    the join carries `mlops_received`; else by its event time), so that labels arriving later change as little
    as possible of the set a retry assembles; the label as `config.target`, features as the served model
    received them; sorted by prediction time and request id; and their request ids."""
    from mlops_provider.labels import labelled_predictions

    rows = labelled_predictions(config, start=start, end=end)
    where = f"model '{config.name}': labelled production rows of {inference_uri(config)} [{start:%Y-%m-%d %H:%M}, " \
            f"{end:%Y-%m-%d %H:%M})"
    received = RECEIVED if RECEIVED in rows.columns else LABEL_TIME
    if len(rows) and received in rows.columns:
        import pandas as pd

        rows = rows[pd.to_datetime(rows[received], utc=True) < end]
    dropped = 0
    if len(rows):
        kept = config.gate.evaluation_columns  # the inference log holds them only if the callers sent them
        require_columns(rows, [*config.features.all, LABEL, *kept], what=where)
        order = [c for c in (TIMESTAMP, REQUEST_ID) if c in rows.columns]
        rows = rows.sort_values(order, kind="mergesort") if order else rows
        labels, fits = fit_labels(rows[LABEL], target, task=config.task)
        dropped = int((~fits).sum())
        if dropped:
            bad = rows.loc[~fits.to_numpy(), LABEL].head(3).tolist()
            log.warning("%s: %d row(s) dropped, their label does not fit the target '%s' (%s), e.g. %r", where,
                        dropped, config.target, labels.dtype, bad)
        fitting = rows.loc[fits.to_numpy()]
        ids = fitting[REQUEST_ID].astype(str).tolist()
        rows = features_frame(config, fitting).assign(**{config.target: labels[fits].to_numpy()},
                                                      **{c: fitting[c].to_numpy() for c in kept})
    else:
        ids = []
    frame = rows.reset_index(drop=True) if len(rows) else rows.iloc[0:0]
    source: DataSource = {"uri": inference_uri(config), "rows": len(frame), "kind": "feedback",
                          "digest": digest(frame) if len(frame) else "", "start": start.isoformat(),
                          "end": end.isoformat(), "dropped": dropped}
    return source, frame, ids


def fit_labels(labels: pd.Series, target: pd.Series | None, *, task: str) -> tuple[pd.Series, pd.Series]:
    """(labels as the target's dtype, which of them fit it). A label fits an integer target when it is an
    integral number, a float target when it is a number, a boolean target when it is true/false/1/0, a text
    target when it is present. Without a target column to follow (no file rows), regression labels are floats
    and classification labels integers when they all are, else text."""
    import pandas as pd

    labels = labels.reset_index(drop=True)
    dtype = target.dtype if target is not None else None
    numeric = pd.to_numeric(labels.astype("int64") if pd.api.types.is_bool_dtype(labels) else labels,
                            errors="coerce").astype("float64")
    if dtype is None:
        whole = numeric.notna() & (numeric == numeric.round())
        dtype = (pd.Series(dtype="float64").dtype if task == "regression" else
                 pd.Series(dtype="int64").dtype if labels.notna().any() and whole[labels.notna()].all() else
                 pd.Series(dtype="object").dtype)
    if pd.api.types.is_bool_dtype(dtype):
        words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
        mapped = labels.map(lambda v: words.get(str(v).strip().lower()))
        fits = mapped.notna()
        return mapped.where(fits, False).astype(dtype), fits
    if pd.api.types.is_integer_dtype(dtype):
        fits = numeric.notna() & (numeric == numeric.round())
        return numeric.where(fits, 0).astype(dtype), fits
    if pd.api.types.is_float_dtype(dtype):
        fits = numeric.notna() & numeric.abs().lt(float("inf"))
        return numeric.where(fits, 0.0).astype(dtype), fits
    fits = labels.notna()
    return labels.astype(str).where(fits, None).astype(object), fits


def training_batches(config: ModelConfig, *, now: datetime | None = None) -> Batches:
    """The assembled set as of `now`, split: the holdout is `data.holdout` when given, else a seeded split."""
    assembled = assemble_training_set(config, now=now)
    if config.data.holdout:
        holdout_uri = config.resolve(config.data.holdout)
        holdout = read_table(holdout_uri, conn_id=config.data.conn_id, what=f"model '{config.name}': holdout data")
        require_columns(holdout, [*config.features.all, config.target, *config.gate.evaluation_columns],
                        what=f"model '{config.name}': holdout data {holdout_uri}")
        return Batches(assembled.frame, holdout, assembled)
    train, holdout = _split(config, assembled)
    return Batches(train, holdout, assembled)


def held_out(request_id: str, fraction: float) -> bool:
    """Whether a labelled production row belongs to the holdout: a stable hash of its request id."""
    import hashlib

    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) < fraction * 2 ** 32


def _split(config: ModelConfig, assembled: TrainingSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and holdout parts that never leak into each other across versions: the file or partition rows are
    split by the seeded split as they always were, and each labelled production row goes to the holdout by a
    hash of its request id, so a row that is in one version's holdout is in every later version's holdout too.
    (One seeded split of the whole, grown set would move rows an earlier champion trained on into the holdout
    it is judged on, and flatter it against every challenger.)"""
    import pandas as pd

    fraction, frame = config.data.holdout_fraction, assembled.frame
    base = frame.iloc[:len(frame) - len(assembled.feedback_ids)]
    fresh = frame.iloc[len(base):]
    if len(base):
        train, holdout = split_holdout(base, target=config.target, fraction=fraction, seed=config.trainer.seed)
    else:
        train, holdout = base, base
    if not len(fresh):
        return train, holdout
    held = [held_out(i, fraction) for i in assembled.feedback_ids]
    mask = pd.Series(held, index=fresh.index)
    return (pd.concat([train, fresh[~mask]], ignore_index=True),
            pd.concat([holdout, fresh[mask]], ignore_index=True))


def read_training_data(uri: str, *, conn_id: str | None = None, what: str = "training data") -> pd.DataFrame:
    """A training file, or every partition of a training folder (for a reference sample such as the drift
    report's): the rows of `uri` whatever its layout."""
    import pandas as pd

    path = as_path(uri, conn_id)
    if not path.is_dir():
        return read_table(uri, conn_id=conn_id, what=what)
    frames = [read_table(f, conn_id=conn_id, what=what, allow_empty=True)
              for f in _partition_files(path, start=None, end=datetime.max.replace(tzinfo=UTC))]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise DataError(f"{what} {uri}: no date=YYYY-MM-DD partition with rows")
    return pd.concat(frames, ignore_index=True)


def data_to_validate(config: ModelConfig, data: str | None = None, *, now: datetime | None = None,
                     what: str = "data to validate") -> TrainingSet:
    """What the data gate validates: the one file `data` when given (any batch; `what` names it in errors),
    else the training set assembled as of `now`, exactly as training will assemble it. The suite judges the
    columns; training refuses a set that lacks the model's own (naming the file)."""
    if not data:
        return assemble_training_set(config, now=now, check_columns=False)
    frame = read_table(data, conn_id=config.data.conn_id, what=f"model '{config.name}': {what}")
    source: DataSource = {"uri": str(data), "rows": len(frame), "kind": "file", "digest": digest(frame)}
    return TrainingSet(frame=frame, digest=source["digest"], uri=str(data), sources=[source], now=_utc(now),
                       start=None)
