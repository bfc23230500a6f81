"""Labels (ground truth) for served predictions: one labels log per model, joined with the inference log by id.

Labels are (prediction id, label, event time). They arrive by `POST /feedback` on the model server, by
`mlops feedback MODEL FILE`, or as CSV/Parquet files dropped in the model's labels `inbox/`; each delivery is
checked row by row and appended idempotently (`ingest`), stored under the labels folder (`store`), and joined with
the predictions for realized performance and retraining (`labelled_predictions`). No Airflow import; pandas and
pyarrow are imported inside the functions.
"""

from __future__ import annotations

from mlops_provider.labels.inbox import ingest_inbox, parse_labels, read_labels_file
from mlops_provider.labels.ingest import (
    EVENT_TIME_COLUMN,
    ID_COLUMN,
    LABEL_COLUMN,
    LabelReport,
    ingest_labels,
)
from mlops_provider.labels.store import (
    INBOX,
    LABEL,
    LABEL_TIME,
    LOG_COLUMNS,
    PROCESSED,
    RECEIVED,
    REJECTED,
    SOURCE,
    find_request_ids,
    known_request_ids,
    labelled_predictions,
    labels_path,
    labels_uri,
    read_labels,
)

__all__ = [
    "EVENT_TIME_COLUMN", "ID_COLUMN", "INBOX", "LABEL", "LABEL_COLUMN", "LABEL_TIME", "LOG_COLUMNS", "PROCESSED",
    "RECEIVED", "REJECTED", "SOURCE", "LabelReport", "find_request_ids", "ingest_inbox", "ingest_labels",
    "known_request_ids", "labelled_predictions", "labels_path", "labels_uri", "parse_labels", "read_labels",
    "read_labels_file",
]
