"""Read training and holdout batches (CSV or Parquet, local or object storage) with clear errors."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DataError

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

    from mlops_provider.config import ModelConfig

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def as_path(uri: Any, conn_id: str | None = None) -> Any:
    """An `ObjectStoragePath` for a URI or local path (objects with `.open` pass through)."""
    if hasattr(uri, "open") and not isinstance(uri, str):
        return uri
    from airflow.sdk import ObjectStoragePath

    text = str(uri)
    if text.startswith("file:/") and not text.startswith("file://"):
        text = f"file://{text.removeprefix('file:')}"
    if "://" not in text:
        text = f"file://{text}"
    return ObjectStoragePath(text, conn_id=conn_id) if conn_id else ObjectStoragePath(text)


def uri_of(path: Any) -> str:
    """A plain URI for an `ObjectStoragePath` (`file:///tmp/x`, `s3://bucket/key`), without the connection
    id that `str()` embeds, so it can travel through XCom and be opened again with `as_path`."""
    if not hasattr(path, "protocol"):
        return str(path.resolve().as_uri())
    return f"{path.protocol}://{path.path}"


def read_table(uri: Any, *, conn_id: str | None = None, what: str = "data",
               allow_empty: bool = False) -> pd.DataFrame:
    """Read one CSV or Parquet file. Every failure names the file and what was wrong. With `allow_empty`, a file
    without rows (a partition of a day without data) reads as an empty frame."""
    import pandas as pd

    path = as_path(uri, conn_id)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{what} file {path}: unsupported format '{path.suffix}' (use .csv or .parquet)")
    if not path.exists():
        raise DataError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise DataError(f"{what} {path} is a folder; name one .csv or .parquet file")
    try:
        with path.open("rb") as handle:
            frame = pd.read_csv(handle) if kind == "csv" else pd.read_parquet(handle)
    except pd.errors.EmptyDataError:
        if allow_empty:
            return pd.DataFrame()
        raise DataError(f"{what} file {path} is empty") from None
    except (OSError, ConnectionError, TimeoutError):
        raise  # infrastructure: let the task retry
    except Exception as err:
        raise DataError(f"{what} file {path} is not a readable {kind} file: {err}") from None
    if frame.empty and not allow_empty:
        raise DataError(f"{what} file {path} has no rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; it has {list(frame.columns)}")


def digest(frame: pd.DataFrame) -> str:
    """A content digest of a DataFrame, stable across reads of the same data."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    header = ",".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode()
    return hashlib.sha256(header + hashed.tobytes()).hexdigest()[:16]


def split_holdout(frame: pd.DataFrame, *, target: str, fraction: float, seed: int) -> tuple[Any, Any]:
    """A seeded, stratified (for few target values) split into train and holdout."""
    from sklearn.model_selection import train_test_split

    counts = frame[target].value_counts()
    stratify = frame[target] if len(counts) <= 20 and counts.min() >= 2 else None
    train, holdout = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def load_batches(config: ModelConfig, *, now: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """(train, holdout, data digest, data uri) of the training set assembled as of `now` (see
    `training_data.assemble_training_set`): the holdout file or a seeded split."""
    from mlops_provider.training_data import training_batches

    batches = training_batches(config, now=now)
    return batches.train, batches.holdout, batches.training_set.digest, batches.training_set.uri


def features_frame(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns as the served model receives them: categorical ones as object, numeric
    ones as float64 (an integer column with a missing value arrives as float and must pass the signature)."""
    dtypes = {c: "object" for c in config.features.categorical}
    dtypes.update({c: "float64" for c in config.features.numeric})
    return frame[config.features.all].astype(dtypes)
