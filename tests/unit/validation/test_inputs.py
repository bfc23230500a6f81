"""Unreadable batches fail before validation with a DataError naming the file (no retry, no GE trace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_provider.data import read_table
from mlops_provider.demo import credit
from mlops_provider.exceptions import DataError


@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.parquet"
    credit.generate(300).to_parquet(path)
    return path.read_bytes()


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("empty.csv", b"", "is empty"),
    ("header_only.csv", b"age,income\n", "has no rows"),
    ("empty.parquet", b"", "is not a readable parquet file"),
    ("batch.txt", b"age\n1\n", "unsupported format '.txt' (use .csv or .parquet)"),
    ("batch.json", b"[]", "unsupported format '.json'"),
    ("csv_named.parquet", b"age,income\n1,2\n", "is not a readable parquet file"),
])
def test_unreadable_file_is_named(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_table(str(path), what="model 'credit_default': data")
    assert str(err.value).startswith(f"model 'credit_default': data file file://{path}")
    assert problem in str(err.value)


def test_truncated_parquet(tmp_path: Path, parquet_bytes: bytes) -> None:
    path = tmp_path / "truncated.parquet"
    path.write_bytes(parquet_bytes[: len(parquet_bytes) // 2])
    with pytest.raises(DataError, match=rf"file://{path} is not a readable parquet file: .*magic bytes"):
        read_table(str(path))


def test_binary_file_named_csv(tmp_path: Path, parquet_bytes: bytes) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(parquet_bytes)
    with pytest.raises(DataError, match=rf"file://{path} is not a readable csv file"):
        read_table(str(path))


def test_path_not_found_is_a_data_error_not_an_oserror(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "train.parquet"
    with pytest.raises(DataError) as err:
        read_table(f"file://{path}", what="model 'credit_default': data")
    assert str(err.value) == f"model 'credit_default': data file file://{path} does not exist"
