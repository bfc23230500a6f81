"""ReferenceProfile: what it keeps, the one-file round trip, and identical results to the DataFrame path."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from mlops_provider.drift import ReferenceProfile, detect_drift
from mlops_provider.exceptions import DriftError


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 5000
    values = rng.normal(0, 1, rows)
    values[:40] = np.nan
    values[40:42] = np.inf
    return pd.DataFrame(
        {
            "float": values,
            "float32": rng.normal(0, 1, rows).astype(np.float32),
            "int": rng.integers(0, 100, rows),
            "few": rng.integers(0, 4, rows),
            "bool": rng.random(rows) < 0.3,
            "nullable": pd.array(rng.integers(0, 9, rows), dtype="Int64"),
            "text": rng.choice(["a", "b", "c", None], rows),
            "category": pd.Categorical(rng.choice(["x", "y"], rows), categories=["x", "y", "unused"]),
            "mixed": pd.Series([["k", 7, 2.5, True][i % 4] for i in range(rows)], dtype=object),
            "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
        }
    )


def test_fit_keeps_sorted_values_and_counts(reference):
    profile = ReferenceProfile.fit(reference)
    assert "when" not in profile  # datetimes are not tested by Evidently's preset
    assert profile.rows == 5000
    column = profile.column("float")
    assert column.kind == "numeric" and column.missing == 42 and column.rows == 4958
    assert np.array_equal(column.values, np.sort(reference["float"].to_numpy()[42:]))
    assert column.std == pytest.approx(float(np.std(reference["float"].iloc[42:])), rel=1e-15)
    assert profile.column("float32").std == float(np.std(reference["float32"]))  # pandas, in float32, as Evidently
    text = profile.column("text")
    assert text.kind == "categorical" and text.counts == reference["text"].value_counts().to_dict()
    assert profile.column("category").counts.keys() == {"x", "y"}  # unused categories are not values
    assert profile.column("nullable").dtype == "int64"


def test_save_load_round_trip(reference, tmp_path):
    profile = ReferenceProfile.fit(reference)
    path = tmp_path / "profile.npz"
    profile.save(path)
    assert path.exists() and not (tmp_path / "profile.npz.npz").exists()
    loaded = ReferenceProfile.load(path)
    assert loaded == profile
    assert loaded.column("mixed").counts == profile.column("mixed").counts
    assert {type(value) for value in loaded.column("mixed").counts} == {str, int, float, bool}
    with zipfile.ZipFile(path) as archive:  # plain arrays and a JSON string: nothing needs pickle
        assert all(name.endswith(".npy") for name in archive.namelist())


def test_profile_results_equal_dataframe_results(reference):
    rng = np.random.default_rng(1)
    current = reference.sample(frac=0.6, random_state=3).assign(
        float=lambda frame: frame["float"] + rng.normal(0.05, 0.01, len(frame)), int=lambda frame: frame["int"] * 2
    )
    columns = ["float", "float32", "int", "few", "bool", "text", "category"]
    profile = ReferenceProfile.fit(reference)
    for options in ({}, {"method": "jensenshannon"}, {"method": "psi"}):
        expected = detect_drift(reference, current, columns=columns, **options)
        assert detect_drift(profile, current, columns=columns, **options) == expected
    small = reference.iloc[:800]
    assert detect_drift(ReferenceProfile.fit(small), current, columns=columns) == detect_drift(
        small, current, columns=columns
    )


class MemoryPath:
    """Stands in for an ObjectStoragePath: only `open` is used."""

    def __init__(self) -> None:
        self.data = b""

    def open(self, mode: str):
        if "w" in mode:
            outer = self

            class Writer(io.BytesIO):
                def close(self) -> None:
                    outer.data = self.getvalue()
                    super().close()

            return Writer()
        return io.BytesIO(self.data)


def test_object_storage_paths(reference):
    target = MemoryPath()
    profile = ReferenceProfile.fit(reference, columns=["float", "text"])
    profile.save(target)
    assert ReferenceProfile.load(target) == profile


def test_fit_and_load_errors(reference, tmp_path):
    with pytest.raises(DriftError, match="missing in reference data: height"):
        ReferenceProfile.fit(reference, columns=["float", "height"])
    with pytest.raises(DriftError, match=r"neither numeric nor plain categorical values: when \(datetime64"):
        ReferenceProfile.fit(reference, columns=["when"])
    with pytest.raises(DriftError, match="is not in the reference profile"):
        ReferenceProfile.fit(reference, columns=["float"]).column("text")
    with pytest.raises(DriftError, match="cannot read drift reference profile"):
        ReferenceProfile.load(tmp_path / "absent.npz")
    other = tmp_path / "other.npz"
    np.savez(other, metadata=np.array('{"format": "something else", "version": 1}'))
    with pytest.raises(DriftError, match="is not a drift reference profile"):
        ReferenceProfile.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, metadata=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(DriftError, match="cannot read"):
        ReferenceProfile.load(pickled)
