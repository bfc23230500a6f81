"""detect_drift's contract: results, errors that name the column, JSON and summary forms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_provider.drift import STATTESTS, ColumnDrift, DriftResult, ReferenceProfile, detect_drift
from mlops_provider.exceptions import DriftError, MlopsError


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = 3000
    reference = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows),
            "age": rng.integers(18, 90, rows),
            "region": rng.choice(["north", "south", "east"], rows),
            "score": rng.normal(0, 1, rows),
        }
    )
    current = pd.DataFrame(
        {
            "income": rng.lognormal(10.4, 0.5, rows),
            "age": rng.integers(18, 90, rows),
            "region": rng.choice(["north", "south", "east"], rows, p=[0.6, 0.2, 0.2]),
            "score": rng.normal(0, 1, rows),
        }
    )
    return reference, current


def test_result_shape(frames):
    reference, current = frames
    result = detect_drift(reference, current)
    assert list(result.columns) == ["income", "age", "region", "score"]
    income = result.columns["income"]
    assert income == ColumnDrift("wasserstein", income.score, 0.1, True, "numerical")
    assert result.columns["region"].test == "jensenshannon" and result.columns["region"].column_type == "categorical"
    assert result.number_of_columns == 4
    assert result.number_of_drifted_columns == len(result.drifted_columns) == 2
    assert result.drift_share == 0.5 and result.dataset_drifted  # >= drift_share, as Evidently decides
    assert (result.reference_rows, result.current_rows) == (3000, 3000)
    assert not detect_drift(reference, current, drift_share=0.51).dataset_drifted


def test_columns_method_threshold_and_per_column(frames):
    reference, current = frames
    result = detect_drift(reference, current, columns=["score", "income"], method="psi", threshold=0.2)
    assert list(result.columns) == ["score", "income"]
    assert {column.test for column in result.columns.values()} == {"psi"}
    assert {column.threshold for column in result.columns.values()} == {0.2}
    mixed = detect_drift(reference, current, per_column={"score": "ks", "region": "chisquare"})
    assert (mixed.columns["score"].test, mixed.columns["region"].test, mixed.columns["income"].test) == (
        "ks",
        "chisquare",
        "wasserstein",
    )
    assert mixed.columns["score"].threshold == STATTESTS["ks"].default_threshold


def test_summary_and_json_round_trip(frames):
    reference, current = frames
    result = detect_drift(reference, current)
    summary = result.summary()
    assert summary.startswith("2 of 4 columns drifted (50% >= 50%: dataset drift): income (wasserstein ")
    assert "region (jensenshannon " in summary
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["summary"] == summary
    assert payload["columns"]["income"]["test"] == "wasserstein"
    assert DriftResult.from_dict(payload) == result
    quiet = detect_drift(reference, reference)
    assert quiet.summary() == "0 of 4 columns drifted (0% < 50%: no dataset drift)"


def test_p_value_rules_in_the_summary():
    ks = ColumnDrift("ks", 0.05, 0.05, True)
    assert STATTESTS["ks"].is_drift(0.05, 0.05) and not STATTESTS["chisquare"].is_drift(0.05, 0.05)
    assert ks.describe() == "ks p=0.05 <= 0.05"
    assert ColumnDrift("z", 0.2, 0.05, False, "categorical").describe() == "z p=0.2 >= 0.05"
    assert ColumnDrift("wasserstein", 0.31, 0.1, True).describe() == "wasserstein 0.31 >= 0.1"


def test_profile_stands_in_for_the_reference(frames, tmp_path):
    reference, current = frames
    path = tmp_path / "reference.npz"
    ReferenceProfile.fit(reference).save(path)
    profile = ReferenceProfile.load(path)
    for options in ({}, {"method": "psi"}, {"method": "jensenshannon", "columns": ["score", "region"]}):
        assert detect_drift(profile, current, **options) == detect_drift(reference, current, **options)


def test_missing_columns_are_named(frames):
    reference, current = frames
    with pytest.raises(DriftError, match="missing in current data: height, weight"):
        detect_drift(reference, current, columns=["income", "height", "weight"])
    with pytest.raises(DriftError, match="missing in reference data: prediction"):
        detect_drift(reference, current.assign(prediction=0.5))
    with pytest.raises(DriftError, match="missing in reference data: prediction"):
        detect_drift(ReferenceProfile.fit(reference), current.assign(prediction=0.5))
    assert set(detect_drift(reference, current.assign(prediction=0.5), columns=["income"]).columns) == {"income"}
    with pytest.raises(DriftError, match="per_column names column.* missing in current data: incme"):
        detect_drift(reference, current, per_column={"incme": "psi"})


def test_empty_data_is_refused(frames):
    reference, current = frames
    with pytest.raises(DriftError, match="current data is empty"):
        detect_drift(reference, current.iloc[:0])
    with pytest.raises(DriftError, match="reference data is empty"):
        detect_drift(reference.iloc[:0], current)
    with pytest.raises(DriftError, match="reference data is empty"):
        ReferenceProfile.fit(reference.iloc[:0])
    with pytest.raises(DriftError, match="must be a pandas DataFrame"):
        detect_drift(reference, current.to_dict())


def test_all_missing_columns_are_refused(frames):
    reference, current = frames
    # Evidently raises "An empty column 'income' was provided for drift calculation in the current dataset."
    with pytest.raises(DriftError, match="column 'income' has no values in the current data"):
        detect_drift(reference, current.assign(income=np.nan))
    with pytest.raises(DriftError, match="column 'income' has no values in the current data"):
        detect_drift(reference, current.assign(income=[np.inf] * len(current)))
    with pytest.raises(DriftError, match="column 'region' has no values in the current data"):
        detect_drift(reference, current.assign(region=None))
    with pytest.raises(DriftError, match="column 'income' has no values in the reference data"):
        detect_drift(reference.assign(income=np.nan), current)


def test_unknown_or_unsuitable_methods_are_refused(frames):
    reference, current = frames
    with pytest.raises(DriftError, match="unknown drift method 'kolmogorov'; choose one of auto, ks, chisquare"):
        detect_drift(reference, current, method="kolmogorov")
    with pytest.raises(DriftError, match="unknown drift method 'chi2' for column 'region'"):
        detect_drift(reference, current, per_column={"region": "chi2"})
    with pytest.raises(DriftError, match="test 'ks' does not apply to categorical column 'region'"):
        detect_drift(reference, current, method="ks")
    with pytest.raises(DriftError, match="test 'chisquare' does not apply to numerical column 'score'"):
        detect_drift(reference, current, per_column={"score": "chisquare"})
    with pytest.raises(DriftError, match="threshold"):
        detect_drift(reference, current, threshold=-1)
    with pytest.raises(DriftError, match="drift_share"):
        detect_drift(reference, current, drift_share=1.5)


def test_type_mismatches_and_untyped_columns(frames):
    reference, current = frames
    with pytest.raises(DriftError, match="column 'region' is numerical in the current data but holds object"):
        detect_drift(reference, current.assign(region=np.linspace(0, 1, len(current))))
    dated = current.assign(when=pd.Timestamp("2025-01-01"))
    assert "when" in detect_drift(reference.assign(when=pd.Timestamp("2024-01-01")), dated).skipped_columns
    with pytest.raises(DriftError, match="column 'when': dtype datetime64.* is neither numerical nor categorical"):
        detect_drift(reference, dated, columns=["when"])
    with pytest.raises(DriftError, match="no numerical or categorical column to compare"):
        detect_drift(reference, dated[["when"]])
    with pytest.raises(DriftError, match="duplicated column names: score"):
        detect_drift(reference, pd.concat([current, current[["score"]]], axis=1))


def test_errors_belong_to_the_package_hierarchy():
    assert issubclass(DriftError, MlopsError)
