"""Labels files: read one (CSV or Parquet), and ingest every file dropped in a model's labels `inbox/`.

After ingestion a file moves to `processed/` as `<digest>--<stamp>--<name>`: a file whose content was processed
before is not ingested again (a no-op, reported with a note). A file that cannot be read, or lacks a required
column, moves to `rejected/` beside a `.reason.json` saying why; no file is ever deleted. A storage failure
(OSError) leaves the file in the inbox for the next run, which is safe: ingestion is idempotent.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.data import as_path
from mlops_provider.exceptions import DataError
from mlops_provider.inference_log import write_atomically
from mlops_provider.labels.ingest import ID_COLUMN, LabelReport, ingest_labels, require_delivery_columns
from mlops_provider.labels.store import INBOX, PROCESSED, REJECTED, labels_path, move, stamp

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
IN_PROGRESS = (".tmp", ".part", ".partial", ".crdownload")  # uploads not finished yet: left alone
DIGEST_CHARS = 16


def parse_labels(content: bytes, name: str) -> pd.DataFrame:
    """A labels file's rows from its bytes (`name` picks the format and names the file in errors). Request ids
    are read as text, so `007` stays `007`."""
    import pandas as pd

    kind = FORMATS.get(_suffix(name))
    if kind is None:
        raise DataError(f"labels file {name}: unsupported format (use .csv or .parquet)")
    try:
        if kind == "csv":
            frame = pd.read_csv(io.BytesIO(content), dtype={ID_COLUMN: str})
        else:
            frame = pd.read_parquet(io.BytesIO(content))
    except pd.errors.EmptyDataError:
        raise DataError(f"labels file {name} is empty") from None
    except Exception as err:
        raise DataError(f"labels file {name} is not a readable {kind} file: {err}") from None
    require_delivery_columns(frame, f"file {name}")
    return frame


def read_labels_file(uri: Any, *, conn_id: str | None = None) -> pd.DataFrame:
    """Read and check a labels file (local path or URI): DataError naming the file and what is wrong."""
    path = as_path(uri, conn_id)
    if not path.exists():
        raise DataError(f"labels file {uri} does not exist")
    if path.is_dir():
        raise DataError(f"labels file {uri} is a folder; name one .csv or .parquet file")
    return parse_labels(path.read_bytes(), str(uri))


def ingest_inbox(config: ModelConfig) -> list[tuple[str, LabelReport]]:
    """Ingest each file of the model's labels inbox (oldest name first), then move it to `processed/` (or, when
    unreadable, to `rejected/`). Returns (file name, report) per file."""
    inbox = labels_path(config, INBOX)
    if not inbox.exists():
        return []
    results = []
    for entry in sorted(inbox.iterdir(), key=lambda e: str(e.name)):
        name = str(entry.name)
        if entry.is_dir() or name.startswith(".") or name.endswith(IN_PROGRESS):
            continue
        results.append((name, _ingest_file(config, entry, name)))
    return results


def _ingest_file(config: ModelConfig, entry: Any, name: str) -> LabelReport:
    now = datetime.now(UTC)
    source = f"{INBOX}/{name}"
    content = entry.read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:DIGEST_CHARS]
    processed = labels_path(config, PROCESSED)
    earlier = _processed_as(processed, digest)
    kept_as = f"{digest}--{stamp(now)}--{name}"
    if earlier is not None:
        move(entry, processed, kept_as)
        log.info("Labels file %s of model %s: the same content was processed as %s; nothing to do", name,
                 config.name, earlier)
        return LabelReport(source=source, note=f"already processed as {PROCESSED}/{earlier}: not ingested again")
    try:
        frame = parse_labels(content, name)
        report = ingest_labels(config, frame, source=source, now=now)
    except DataError as err:
        _reject_file(config, entry, name, str(err), now)
        return LabelReport(source=source, note=f"moved to {REJECTED}/: {err}")
    move(entry, processed, kept_as)
    log.info("Labels file %s of model %s: %s", name, config.name, report.to_dict())
    return report


def _processed_as(processed: Any, digest: str) -> str | None:
    if not processed.exists():
        return None
    return next((str(e.name) for e in processed.iterdir() if str(e.name).startswith(f"{digest}--")), None)


def _reject_file(config: ModelConfig, entry: Any, name: str, reason: str, now: datetime) -> None:
    """Set an unusable inbox file aside in `rejected/`, with the reason beside it."""
    folder = labels_path(config, REJECTED)
    kept = f"{stamp(now)}--{name}"
    body = json.dumps({"file": name, "reason": reason, "rejected_at": now.isoformat()}).encode()
    write_atomically(folder, f"{kept}.reason.json", lambda handle: handle.write(body))
    move(entry, folder, kept)
    log.warning("Labels file %s of model %s moved to %s/%s: %s", name, config.name, REJECTED, kept, reason)


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot >= 0 else ""
