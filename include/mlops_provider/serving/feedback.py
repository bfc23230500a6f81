"""Prediction ids and labels on the model server: the ids every scored request gets, and `POST /feedback`.

A request's id is the caller's `x-request-id` (checked) or one the server makes; the prediction of a one-row
request has the request's id, those of an n-row request `<id>.<i>`. Labels sent to `/feedback` are checked against
the ids this server logged (kept in memory, a bounded number of the latest) and, for older ones, the inference log
on storage, then ingested into the model's labels log (`mlops_provider.labels`).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlops_provider.serving.headers import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from mlops_provider.serving.scoring import PayloadError, load_json, model_classes

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.labels import LabelReport
    from mlops_provider.serving.app import Service

RECENT_IDS = 200_000  # prediction ids the server remembers (about 20 MB); older ones are looked up in the log
FEEDBACK_FIELDS = ("labels",)
LABEL_FIELDS = ("request_id", "label", "event_time")


def request_id(given: str | None) -> str:
    """The caller's request id when it is a valid one, a new one (uuid4 hex) when none was sent."""
    if given is None:
        return uuid.uuid4().hex
    if not REQUEST_ID_PATTERN.match(given):
        shown = given if len(given) <= 40 else f"{given[:40]}..."
        raise PayloadError(f"header {REQUEST_ID_HEADER} {shown!r} is not a request id: 1 to 128 characters of "
                           "letters, digits and . _ : -")
    return given


def prediction_ids(request: str, rows: int) -> list[str]:
    """The ids of a request's predictions: the request id itself for one row, `<request id>.<i>` for more."""
    return [request] if rows == 1 else [f"{request}.{i}" for i in range(rows)]


class RecentIds:
    """The last `capacity` prediction ids this server logged (oldest forgotten first), safe across threads."""

    def __init__(self, capacity: int = RECENT_IDS) -> None:
        self.capacity = max(1, capacity)
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, ids: Iterable[str]) -> None:
        with self._lock:
            for one in ids:
                self._ids[one] = None
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)

    def known(self, ids: Iterable[str]) -> set[str]:
        with self._lock:
            return {one for one in ids if one in self._ids}

    def __len__(self) -> int:
        return len(self._ids)


def parse_feedback(body: bytes) -> pd.DataFrame:
    """`{"labels": [{"request_id": "...", "label": 1, "event_time": "2026-12-01T10:00:00Z"}, ...]}` as a delivery
    frame (labels keep their JSON types). A body that is not of this shape is a PayloadError naming the field and
    the index; a null `request_id` or `label` is left for the labels check to count and report."""
    import pandas as pd

    payload = load_json(body)
    if not isinstance(payload, dict) or "labels" not in payload:
        raise PayloadError('expected a JSON object {"labels": [{"request_id": ..., "label": ...}, ...]}')
    unknown = sorted(set(payload) - set(FEEDBACK_FIELDS))
    if unknown:
        raise PayloadError(f"unknown field(s) {unknown} beside labels")
    items = payload["labels"]
    if not isinstance(items, list) or not items:
        raise PayloadError("'labels' must be a non-empty list of objects")
    columns: dict[str, list[Any]] = {name: [] for name in LABEL_FIELDS}
    for i, item in enumerate(items):
        _check_item(i, item)
        for name in LABEL_FIELDS:
            columns[name].append(item.get(name))
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def _check_item(i: int, item: Any) -> None:
    where = f"labels[{i}]"
    if not isinstance(item, dict):
        raise PayloadError(f"{where} must be an object with request_id and label, got {type(item).__name__}")
    unknown = sorted(set(item) - set(LABEL_FIELDS))
    if unknown:
        raise PayloadError(f"{where}: unknown field(s) {unknown} (expected {list(LABEL_FIELDS)})")
    for name in ("request_id", "label"):
        if name not in item:
            raise PayloadError(f"{where}.{name} is missing")
    if not (item["request_id"] is None or isinstance(item["request_id"], str)):
        raise PayloadError(f"{where}.request_id must be a string, got {type(item['request_id']).__name__}")
    if isinstance(item["label"], list | dict):
        raise PayloadError(f"{where}.label must be a number, a boolean or a string, got "
                           f"{type(item['label']).__name__}")
    event = item.get("event_time")
    if not (event is None or isinstance(event, str)):
        raise PayloadError(f"{where}.event_time must be an ISO 8601 time string, got {type(event).__name__}")


def ingest_feedback(service: Service, frame: pd.DataFrame, source: str) -> LabelReport:
    """Ingest a delivery: ids this server logged are known at once; the others are looked up in the inference
    log on storage (newest windows first). Classification labels must be classes of a loaded version."""
    from mlops_provider.labels import find_request_ids, ingest_labels

    ids = {value.strip() for value in frame["request_id"] if isinstance(value, str) and value.strip()}
    known = service.recent_ids.known(ids)
    if ids - known:
        known |= find_request_ids(service.config, ids - known)
    return ingest_labels(service.config, frame, source=source, known_ids=known, classes=_classes(service))


def _classes(service: Service) -> list[Any] | None:
    """The classes the loaded versions predict (None when no loaded model says)."""
    found: list[Any] = []
    for loaded in service.pool.routing.versions:
        classes = model_classes(loaded.model)
        found += [c for c in classes or [] if c not in found]
    return found or None
