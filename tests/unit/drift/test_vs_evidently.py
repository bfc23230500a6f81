"""The drift engine against Evidently 0.7.23's DataDriftPreset on seeded data: same tests, scores, verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """Columns that exercise every branch of Evidently's test choice; `shift` moves every distribution."""
    with_nan = rng.normal(shift, 1, rows)
    with_nan[rng.random(rows) < 0.15] = np.nan
    with_nan[:2] = [np.inf, -np.inf]
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1, rows),
            "lognormal": rng.lognormal(shift, 1, rows),
            "float32": rng.normal(2 * shift, 3, rows).astype(np.float32),
            "rounded": np.round(rng.normal(shift, 1, rows), 1),
            "int_many": rng.integers(0, 40 + int(20 * shift), rows),
            "int_few": rng.integers(0, 4, rows),
            "float_five": rng.integers(0, 5, rows).astype(float),
            "float_binary": (rng.random(rows) < 0.3 + shift / 4).astype(float),
            "bool": rng.random(rows) < 0.4 + shift / 4,
            "str": rng.choice(["a", "b", "c", "d"], rows, p=[0.4, 0.3, 0.2, 0.1] if shift == 0 else [0.25] * 4),
            "str_binary": rng.choice(["yes", "no"], rows),
            "category": pd.Categorical(rng.choice(["p", "q", "r"], rows)),
            "with_nan": with_nan,
            "constant": np.full(rows, 7.0),
        }
    )


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "shift"),
    [
        (300, 200, 0.0),  # small: ks / chisquare / z
        (300, 200, 0.6),
        (1000, 700, 0.2),  # the last size that still counts as small
        (1001, 500, 0.0),  # large: wasserstein / jensenshannon; with_nan drops back to <= 1000 values
        (5000, 3000, 0.15),
        (15000, 9000, 0.03),  # more than 20000 values together: the binned Wasserstein path
        (800, 21000, 0.1),  # small reference, large current
    ],
)
def test_default_tests_match_evidently(matches_evidently, reference_rows, current_rows, shift):
    rng = np.random.default_rng(reference_rows + current_rows)
    matches_evidently(frame(rng, reference_rows, 0.0), frame(rng, current_rows, shift))


NUMERICAL = ["normal", "lognormal", "float32", "rounded", "with_nan", "float_five", "float_binary", "constant"]
CATEGORICAL = ["str", "str_binary", "bool", "category", "int_few"]


@pytest.mark.parametrize("method", ["ks", "wasserstein", "jensenshannon", "psi"])
def test_named_numerical_tests_match_evidently(matches_evidently, method):
    rng = np.random.default_rng(7)
    reference, current = frame(rng, 6000, 0.0), frame(rng, 4000, 0.04)
    matches_evidently(reference[NUMERICAL], current[NUMERICAL], method=method)


@pytest.mark.parametrize("method", ["chisquare", "z", "jensenshannon", "psi"])
def test_named_categorical_tests_match_evidently(matches_evidently, method):
    rng = np.random.default_rng(8)
    reference, current = frame(rng, 2000, 0.0), frame(rng, 1500, 0.3)
    matches_evidently(reference[CATEGORICAL], current[CATEGORICAL], method=method)


def test_threshold_per_column_and_drift_share_match_evidently(matches_evidently):
    rng = np.random.default_rng(9)
    reference, current = frame(rng, 3000, 0.0), frame(rng, 2000, 0.1)
    per_column = {"normal": "psi", "str": "psi", "int_many": "ks"}
    result = matches_evidently(reference, current, threshold=0.03, drift_share=0.25, per_column=per_column)
    assert result.columns["normal"].test == "psi"
    assert result.columns["int_many"].threshold == 0.03


def test_mixed_dtypes_and_new_categories_match_evidently(matches_evidently):
    rng = np.random.default_rng(10)
    rows = 2500
    reference = pd.DataFrame(
        {
            "int_then_float": rng.integers(0, 100, rows),  # int reference, float current
            "float32_then_float64": rng.normal(0, 1, rows).astype(np.float32),
            "int8_categorical_now": rng.integers(0, 30, rows).astype(np.int8),  # <= 10 values in current
            "new_category": rng.choice(["a", "b"], rows),
        }
    )
    current = pd.DataFrame(
        {
            "int_then_float": rng.normal(50, 30, rows),
            "float32_then_float64": rng.normal(0.1, 1, rows),
            "int8_categorical_now": rng.integers(0, 8, rows).astype(np.int8),
            "new_category": rng.choice(["a", "b", "c"], rows),
        }
    )
    matches_evidently(reference, current)
    matches_evidently(reference.iloc[:600], current.iloc[:400])
    matches_evidently(reference, current, method="psi")


def test_ties_and_heavy_tails_match_evidently(matches_evidently):
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"ties": rng.integers(0, 12, 700) / 2, "cauchy": rng.standard_cauchy(700)})
    current = pd.DataFrame({"ties": rng.integers(0, 12, 900) / 2, "cauchy": rng.standard_cauchy(900) + 0.3})
    matches_evidently(reference, current)
    big_reference = pd.DataFrame({"cauchy": 1e6 + rng.standard_cauchy(30000), "pareto": rng.pareto(1.5, 30000)})
    big_current = pd.DataFrame({"cauchy": 1e6 + rng.standard_cauchy(20000), "pareto": rng.pareto(1.4, 20000)})
    matches_evidently(big_reference, big_current)
    matches_evidently(big_reference, big_current, method="ks")


def test_text_and_untyped_columns_are_left_out_as_evidently_does():
    from evidently.core.datasets import infer_column_type

    from mlops_provider.drift import detect_drift

    rng = np.random.default_rng(12)
    rows = 400
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "uint": rng.integers(0, 100, rows).astype(np.uint32),
            "nullable": pd.array(rng.integers(0, 50, rows), dtype="Int64"),
            "when": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "id": [f"id-{i}" for i in range(rows)],
        }
    )
    current = reference.assign(x=reference["x"] + 1)
    # Evidently types "id" as text (and trains a classifier to test it), the others as unknown: not tested.
    assert {name: infer_column_type(current[name]).value for name in current} == {
        "x": "num",
        "uint": "unknown",
        "nullable": "unknown",
        "when": "datetime",
        "id": "text",
    }
    result = detect_drift(reference, current)
    assert set(result.columns) == {"x"}
    assert set(result.skipped_columns) == {"uint", "nullable", "when", "id"}
    assert "text" in result.skipped_columns["id"]


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "shift"),
    [
        (40_000, 20_000, 0.0),  # unshifted: the current range lies inside the reference's
        (40_000, 20_000, 0.1),
        (30_000, 600, 0.3),  # a small current window
    ],
)
def test_large_references_match_evidently_through_compact_profiles(matches_evidently, reference_rows, current_rows,
                                                                   shift):
    """Above 12,000 values a numeric column is profiled as a fixed-size summary (ints and rounded floats with
    few distinct values as exact counts); `matches_evidently` checks that path against Evidently too."""
    from mlops_provider.drift import ReferenceProfile

    rng = np.random.default_rng(reference_rows + current_rows + int(100 * shift))
    reference, current = frame(rng, reference_rows, 0.0), frame(rng, current_rows, shift)
    reference["int_wide"] = rng.integers(0, 10**6, reference_rows)
    current["int_wide"] = rng.integers(int(shift * 10**6), 10**6, current_rows)
    forms = {name: column.form for name, column in ReferenceProfile.fit(reference).columns.items()}
    assert {name for name, form in forms.items() if form == "summary"} == {
        "normal", "lognormal", "float32", "with_nan", "int_wide"}
    assert forms["int_many"] == forms["rounded"] == forms["bool"] == "repeats"
    matches_evidently(reference, current)
    matches_evidently(reference[NUMERICAL], current[NUMERICAL], method="jensenshannon")
