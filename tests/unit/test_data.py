"""Reading batches: every failure names the file and what was wrong (a DataError, no retry); a good file reads
the same twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_provider.data import digest, read_table, require_columns
from mlops_provider.demo import credit
from mlops_provider.exceptions import DataError

WHAT = "model 'credit_default': data"


@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.parquet"
    credit.generate(300).to_parquet(path)
    return path.read_bytes()


def source(path: Path, form: str) -> Path | str:
    """read_table opens a local `Path` as it is and a string through ObjectStoragePath (named `file://...`)."""
    return path if form == "path" else str(path)


def shown(path: Path, form: str) -> str:
    return str(path) if form == "path" else f"file://{path}"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    with pytest.raises(DataError, match=rf"training data file .*{path} does not exist"):
        read_table(path, what="training data")


def test_path_not_found_is_a_data_error_not_an_oserror(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "train.parquet"
    with pytest.raises(DataError) as err:
        read_table(f"file://{path}", what=WHAT)
    assert str(err.value) == f"{WHAT} file file://{path} does not exist"


@pytest.mark.parametrize("form", ["path", "str"])
@pytest.mark.parametrize(("name", "content", "problem"), [
    ("empty.csv", b"", " is empty"),
    ("header_only.csv", b"age,income\n", " has no rows"),
    ("empty.parquet", b"", " is not a readable parquet file"),
    ("batch.txt", b"age\n1\n", ": unsupported format '.txt' (use .csv or .parquet)"),
    ("batch.json", b"[]", ": unsupported format '.json'"),
    ("train.xlsx", b"x", ": unsupported format '.xlsx' (use .csv or .parquet)"),
    ("csv_named.parquet", b"age,income\n1,2\n", " is not a readable parquet file"),
])
def test_unreadable_file_is_named(tmp_path: Path, name: str, content: bytes, problem: str, form: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_table(source(path, form), what=WHAT)
    assert str(err.value).startswith(f"{WHAT} file {shown(path, form)}{problem}")


@pytest.mark.parametrize("form", ["path", "str"])
def test_truncated_parquet(tmp_path: Path, parquet_bytes: bytes, form: str) -> None:
    path = tmp_path / "truncated.parquet"
    path.write_bytes(parquet_bytes[: len(parquet_bytes) // 2])
    expected = rf"^data file {shown(path, form)} is not a readable parquet file: .*magic bytes"
    with pytest.raises(DataError, match=expected):
        read_table(source(path, form))


def test_binary_file_named_csv(tmp_path: Path, parquet_bytes: bytes) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(parquet_bytes)
    with pytest.raises(DataError, match=rf"file://{path} is not a readable csv file"):
        read_table(str(path))


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
