"""Reading batches: every failure names the file and what was wrong; a good file reads the same twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_provider.data import digest, read_table, require_columns
from mlops_provider.exceptions import DataError


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    with pytest.raises(DataError, match=rf"training data file .*{path} does not exist"):
        read_table(path, what="training data")


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("")
    with pytest.raises(DataError, match=rf"{path} is empty"):
        read_table(path)


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("age,income\n")
    with pytest.raises(DataError, match=rf"{path} has no rows"):
        read_table(path)


def test_truncated_parquet(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pd.DataFrame({"a": range(1000)}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=rf"{path} is not a readable parquet file"):
        read_table(path)


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "train.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"unsupported format '.xlsx' \(use .csv or .parquet\)"):
        read_table(path)


def test_missing_column_lists_what_is_there() -> None:
    frame = pd.DataFrame({"age": [1], "income": [2]})
    with pytest.raises(DataError, match=r"training data x.parquet: missing column\(s\) \['default'\]; it has"):
        require_columns(frame, ["age", "default"], what="training data x.parquet")


def test_csv_and_parquet_read_alike_and_digest_is_stable(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [30, 41], "region": ["north", "south"]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    from_csv, from_parquet = read_table(tmp_path / "a.csv"), read_table(f"file://{tmp_path}/a.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert digest(from_csv) == digest(read_table(tmp_path / "a.csv"))
    assert digest(from_csv) != digest(from_csv.assign(age=[30, 42]))


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "batch.parquet"
    folder.mkdir()
    with pytest.raises(DataError, match=r"batch.parquet is a folder; name one .csv or .parquet file"):
        read_table(folder)
