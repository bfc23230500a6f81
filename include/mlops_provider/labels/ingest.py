"""Ingest a delivery of labels: check every row, append the good ones to the labels log, audit the rest.

A delivery is a frame with `request_id`, `label` and optionally `event_time` (when the outcome happened; default:
now). Each row ends in exactly one count of the `LabelReport`:

- `missing_id`: no prediction id;
- `bad_time`: an event time that is not a time;
- `wrong_type`: no label, or one that does not fit the task (a class the model does not predict; a regression
  target that is not a finite number);
- `unknown_ids`: the id is not in the inference log (a typo, or a smoke request, which is not logged);
- `conflicting`: another label than the log already has for the id, or than another row of the same delivery
  gives it: refused and reported, never merged or overwritten;
- `already_known`: the same label as the log already has (or as an earlier row of the delivery): nothing is
  written, so sending a delivery twice changes nothing;
- `accepted`: appended to the log.

Deliveries to one labels folder are serialized in this process by a lock, so two concurrent deliveries of the same
labels cannot both be accepted.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DataError
from mlops_provider.inference_log import REQUEST_ID
from mlops_provider.labels.store import (
    LABEL,
    LABEL_TIME,
    RECEIVED,
    SOURCE,
    labels_uri,
    lookup_request_ids,
    read_labels,
    write_log_file,
    write_rejected,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

# the columns of a delivery (a file in the inbox, a CLI file, the rows of POST /feedback)
ID_COLUMN, LABEL_COLUMN, EVENT_TIME_COLUMN = "request_id", "label", "event_time"
REJECTIONS = ("missing_id", "bad_time", "wrong_type", "unknown_ids", "conflicting")
MAX_PROBLEMS = 10  # reasons quoted in a report (all of them are in the rejected file)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass
class LabelReport:
    """What became of one delivery of labels (counts of rows; `rejected` is the sum of the refusals)."""

    source: str
    received: int = 0
    accepted: int = 0
    already_known: int = 0
    conflicting: int = 0
    unknown_ids: int = 0
    wrong_type: int = 0
    bad_time: int = 0
    missing_id: int = 0
    log_file: str | None = None  # the labels-log file the accepted rows went to
    rejected_file: str | None = None  # the audit of the refused rows, each with its reason
    note: str | None = None
    problems: list[str] = field(default_factory=list)  # the first refusals, for people

    @property
    def rejected(self) -> int:
        return sum(getattr(self, name) for name in REJECTIONS)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rejected": self.rejected}

    def refuse(self, kind: str, reason: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(reason)


def _lock(folder: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(folder, threading.Lock())


def require_delivery_columns(frame: pd.DataFrame, source: str) -> None:
    """DataError naming the source and the first required column it lacks."""
    for column in (ID_COLUMN, LABEL_COLUMN):
        if column not in frame.columns:
            raise DataError(f"labels from {source}: missing column '{column}' (a labels file needs "
                            f"'{ID_COLUMN}' and '{LABEL_COLUMN}', optionally '{EVENT_TIME_COLUMN}'); "
                            f"it has {[str(c) for c in frame.columns]}")


def ingest_labels(config: ModelConfig, frame: pd.DataFrame, *, source: str, known_ids: set[str] | None = None,
                  now: datetime | None = None, classes: Collection[Any] | None = None) -> LabelReport:
    """Check a delivery row by row and append its new labels to the model's labels log (see the module doc).

    `known_ids`: the prediction ids to accept labels for (the model server passes the ids it logged); without it
    the inference log is searched for the delivery's ids. `classes`: what a classification label may be (the
    server passes its models' `classes_`); without it, 0 and 1 and the predictions seen in the inference log."""
    require_delivery_columns(frame, source)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    report = LabelReport(source=source, received=len(frame))
    if frame.empty:
        return report
    ids = [_id(value) for value in frame[ID_COLUMN].tolist()]
    times = _event_times(frame, now)
    seen: set[Any] = set()
    if known_ids is None:  # the inference log only grows: no need to hold the lock while reading it
        known_ids, seen = lookup_request_ids(config, {i for i in ids if i is not None})
    allowed = _allowed(config, classes, seen)
    with _lock(labels_uri(config)):
        rejected: list[dict[str, Any]] = []
        candidates: dict[str, list[tuple[int, Any]]] = {}
        for row, (request_id, raw, event) in enumerate(zip(ids, frame[LABEL_COLUMN].tolist(), times, strict=True)):
            why = _problem(config, request_id, raw, event, allowed, known_ids)
            if why is not None:
                kind, reason = why
                report.refuse(kind, f"row {row}: {reason}")
                rejected.append(_audit(row, request_id, raw, event, kind, reason))
                continue
            assert request_id is not None
            candidates.setdefault(request_id, []).append((row, _canonical(config, raw, allowed)))
        logged = _logged(config, set(candidates))
        accepted: list[tuple[int, str, Any]] = []
        for request_id, rows in candidates.items():
            labels = {label for _, label in rows}
            earlier = logged.get(request_id, _NONE)
            if len(labels) > 1 or (earlier is not _NONE and earlier not in labels):
                why_text = (f"prediction {request_id!r} is given different labels {sorted(map(str, labels))} "
                            "in this delivery" if len(labels) > 1 else
                            f"prediction {request_id!r} already has label {earlier!r} in the labels log")
                for row, label in rows:
                    report.refuse("conflicting", f"row {row}: {why_text}")
                    rejected.append(_audit(row, request_id, label, times[row], "conflicting", why_text))
                continue
            fresh = rows if earlier is _NONE else []
            report.already_known += len(rows) - min(len(fresh), 1)
            if fresh:
                accepted.append((fresh[0][0], request_id, fresh[0][1]))
        report.accepted = len(accepted)
        if accepted:
            report.log_file = write_log_file(config, _log_frame(config, accepted, times, now, source), now)
        if rejected:
            for line in rejected:
                line.update(source=source, received=now.isoformat())
            report.rejected_file = write_rejected(config, rejected, now)
    return report


_NONE = object()


def _id(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _event_times(frame: pd.DataFrame, now: datetime) -> list[Any]:
    """Each row's event time (UTC), `now` where none is given, None where the value is not a time."""
    import pandas as pd

    if EVENT_TIME_COLUMN not in frame.columns:
        return [now] * len(frame)
    times: list[Any] = []
    for value in frame[EVENT_TIME_COLUMN].tolist():
        if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            times.append(now)
        elif isinstance(value, datetime):
            stamp = pd.Timestamp(value)
            times.append((stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime())
        elif isinstance(value, str):
            times.append(_parse_time(value))
        else:
            times.append(None)
    return times


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed).astimezone(UTC)


def _allowed(config: ModelConfig, classes: Collection[Any] | None, seen: set[Any]) -> dict[Any, Any] | None:
    """Classification: each acceptable label mapped to the class it stands for (1.0 and True stand for 1); None
    for regression."""
    if config.task != "classification":
        return None
    known = list(classes) if classes is not None else [0, 1, *seen]
    allowed: dict[Any, Any] = {}
    for value in known:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        allowed[value] = value
    return allowed


def _canonical(config: ModelConfig, raw: Any, allowed: dict[Any, Any] | None) -> Any:
    if allowed is None:
        return float(raw)
    found = _class(raw, allowed)
    return found if all(isinstance(c, int) for c in allowed.values()) else str(found)


def _class(raw: Any, allowed: dict[Any, Any]) -> Any:
    """The class `raw` stands for (numbers by value, so True, 1 and 1.0 are 1; text as text, or as the number it
    spells when the classes are numbers); `_NONE` when it is none of them."""
    if hasattr(raw, "item"):  # numpy scalars
        raw = raw.item()
    if isinstance(raw, float) and not math.isfinite(raw):
        return _NONE
    if isinstance(raw, int | float) and not isinstance(raw, bool) and not float(raw).is_integer():
        return allowed.get(raw, _NONE)
    found = allowed.get(raw, _NONE)
    if found is _NONE and isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        found = allowed.get(int(raw.strip()), _NONE)
    if found is _NONE and isinstance(raw, int) and not isinstance(raw, bool):
        found = allowed.get(str(raw), _NONE)
    return found


def _problem(config: ModelConfig, request_id: str | None, raw: Any, event: Any, allowed: dict[Any, Any] | None,
             known_ids: set[str]) -> tuple[str, str] | None:
    """(count, reason) for a row that cannot be accepted as it is; None for a candidate."""
    if request_id is None:
        return "missing_id", "no request_id"
    if event is None:
        return "bad_time", f"prediction {request_id!r}: event_time is not an ISO 8601 time"
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return "wrong_type", f"prediction {request_id!r}: no label"
    if allowed is None:
        number = raw.item() if hasattr(raw, "item") else raw
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            return "wrong_type", (f"prediction {request_id!r}: label {raw!r} is not a finite number "
                                  f"(model '{config.name}' is a regression)")
    elif _class(raw, allowed) is _NONE:
        return "wrong_type", (f"prediction {request_id!r}: label {raw!r} is not a class of model "
                              f"'{config.name}' ({sorted(map(str, allowed.values()))})")
    if request_id not in known_ids:
        return "unknown_ids", f"prediction {request_id!r} is not in the inference log of model '{config.name}'"
    return None


def _logged(config: ModelConfig, ids: set[str]) -> dict[str, Any]:
    """The labels already in the log for `ids`."""
    if not ids:
        return {}
    logged = read_labels(config)
    logged = logged[logged[REQUEST_ID].isin(ids)]
    return dict(zip(logged[REQUEST_ID].tolist(), logged[LABEL].tolist(), strict=True))


def _audit(row: int, request_id: str | None, label: Any, event: Any, kind: str, reason: str) -> dict[str, Any]:
    if hasattr(label, "item"):
        label = label.item()
    if isinstance(label, float) and not math.isfinite(label):
        label = None
    return {"row": row, ID_COLUMN: request_id, LABEL_COLUMN: label,
            EVENT_TIME_COLUMN: event.isoformat() if isinstance(event, datetime) else event,
            "rejected": kind, "reason": reason}


def _log_frame(config: ModelConfig, accepted: list[tuple[int, str, Any]], times: list[Any], now: datetime,
               source: str) -> pd.DataFrame:
    import pandas as pd

    labels = [label for _, _, label in accepted]
    kind = "float64" if config.task != "classification" else (
        "int64" if all(isinstance(v, int) for v in labels) else object)
    return pd.DataFrame({
        REQUEST_ID: pd.Series([request_id for _, request_id, _ in accepted], dtype=object),
        LABEL: pd.Series(labels, dtype=kind),
        LABEL_TIME: pd.to_datetime([times[row] for row, _, _ in accepted], utc=True).as_unit("us"),
        RECEIVED: pd.to_datetime([now] * len(accepted), utc=True).as_unit("us"),
        SOURCE: pd.Series([source] * len(accepted), dtype=object),
    })
