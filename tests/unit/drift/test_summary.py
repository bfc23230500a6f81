"""The fixed-size summary of a large numeric reference: its scores against the exact ones, its bounds, its
refusals, and a file whose size does not grow with the rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from mlops_provider.drift import ReferenceProfile, detect_drift, stattests, summary
from mlops_provider.drift.stattests import NUMERICAL, NumericSample
from mlops_provider.exceptions import DriftError


def shapes(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference and current samples of shapes that stress a summary: ties, long tails, offsets, float32."""
    n, m = 200_000, 60_000
    return {
        "normal, same": (rng.normal(size=n), rng.normal(size=m)),
        "normal, shifted": (rng.normal(size=n), rng.normal(0.3, 1, m)),
        "normal, barely shifted": (rng.normal(size=n), rng.normal(0.02, 1, m)),
        "cauchy far from 0": (1e6 + rng.standard_cauchy(n), 1e6 + rng.standard_cauchy(m) + 0.2),
        "lognormal, small current": (rng.lognormal(0, 1, n), rng.lognormal(0.05, 1, 3000)),
        "half zeros": (np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),
                       np.where(rng.random(m) < 0.45, 0.0, rng.normal(size=m))),
        "rounded to 3 decimals": (np.round(rng.normal(size=n), 3), np.round(rng.normal(0.05, 1, m), 3)),
        "current outside the range": (rng.uniform(0, 1, n), rng.uniform(2, 3, m)),
        "float32": (rng.normal(size=n).astype(np.float32).astype(np.float64),
                    rng.normal(0.1, 1, m).astype(np.float32).astype(np.float64)),
    }


def fitted(values: np.ndarray) -> summary.NumericSummary:
    ordered = np.sort(values)
    return summary.summarize(ordered, np.dtype(np.float64), float(np.std(values)))


@pytest.mark.parametrize("case", list(shapes(np.random.default_rng(0))))
def test_wasserstein_from_a_summary_is_within_its_bound_of_scipy(case):
    reference, current = shapes(np.random.default_rng(0))[case]
    compact = fitted(reference)
    assert compact.n == reference.size and compact.knots.size == summary.MAX_SEGMENTS + 1
    assert (compact.knots[0], compact.knots[-1]) == (reference.min(), reference.max())
    distance, bound = summary.wasserstein_distance(compact, current)
    exact = scipy.stats.wasserstein_distance(reference, current)
    assert abs(distance - exact) <= bound * (1 + 1e-9) + 1e-12 * exact, (distance, exact, bound)
    assert bound / max(float(np.std(reference)), 0.001) < 1e-3  # a score within 1e-3, proven


def test_a_summary_keeps_ties_and_the_inner_means_exactly():
    rng = np.random.default_rng(1)
    values = np.concatenate((np.zeros(50_000), rng.normal(size=100_000), np.full(20_000, 2.5)))
    compact = fitted(values)
    knots = dict(zip(compact.knots.tolist(), compact.knot_counts.tolist(), strict=True))
    assert knots[0.0] == 50_000 and knots[2.5] == 20_000 + int(np.sum(values == 2.5)) - 20_000
    points, weights = compact.atoms()
    assert weights.sum() == values.size
    assert float(np.dot(points, weights)) == pytest.approx(float(values.sum()), abs=1e-6 * values.size)


def test_identical_samples_cost_the_whole_bound_and_stay_within_it():
    values = np.random.default_rng(2).normal(size=100_000)
    distance, bound = summary.wasserstein_distance(fitted(values), values)
    assert 0 < bound < 1e-3 and 0 <= distance <= bound


def binned(name, reference, current):
    """(exact score, summary score, its bound) of `name` for numeric float64 samples."""
    exact_reference = NumericSample(np.sort(reference), reference.dtype, is_sorted=True)
    current_sample = NumericSample(current, current.dtype)
    exact = stattests.run_test(name, exact_reference, current_sample, NUMERICAL)
    score, bound = stattests.score_with_error(name, fitted(reference), current_sample, NUMERICAL)
    return exact, score, bound


@pytest.mark.parametrize("name", ["jensenshannon", "psi"])
def test_histogram_tests_are_exact_when_the_current_range_lies_inside_the_reference(name):
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=300_000), np.clip(rng.normal(0.05, 1, 70_000), -3, 3)
    for size in (70_000, 5, 2_000):  # 20, 19 and 20 Sturges bins together with the reference
        exact, score, bound = binned(name, reference, current[:size])
        assert (score, bound) == (pytest.approx(exact, rel=1e-12, abs=1e-15), 0.0)


def test_jensenshannon_outside_the_reference_range_is_within_its_bound():
    rng = np.random.default_rng(4)
    reference = rng.normal(size=300_000)
    exact, score, bound = binned("jensenshannon", reference, rng.normal(0.5, 1, 50_000))
    assert 0 < bound < 1e-3 and abs(score - exact) <= bound
    exact, score, bound = binned("jensenshannon", reference, rng.normal(0.0, 1.3, 50_000))
    assert abs(score - exact) <= bound  # about 1e-3 here: the engine would refuse to report it


def test_a_summary_refuses_what_needs_every_value(tmp_path):
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=20_000), "n": rng.integers(0, 100_000, 20_000)})
    current = pd.DataFrame({"x": rng.normal(size=3000), "n": rng.integers(0, 5, 3000)})
    profile = ReferenceProfile.fit(reference)
    assert profile.column("x").form == profile.column("n").form == "summary"
    with pytest.raises(DriftError, match=r"column 'x': test 'ks' cannot run on this reference profile: the KS test "
                                         r"needs every reference value.*exact=True.*or choose wasserstein"):
        detect_drift(profile, current, columns=["x"], per_column={"x": "ks"})
    # An int column with at most 10 distinct current values is categorical: value frequencies are not kept.
    with pytest.raises(DriftError, match=r"column 'n': test 'jensenshannon' cannot run .* not the frequency of "
                                         r"each value"):
        detect_drift(profile, current, columns=["n"])
    declared = detect_drift(profile, current, columns=["n"], kinds={"n": "numerical"})
    assert declared.columns["n"].test == "wasserstein" and declared.columns["n"].drifted
    exact = ReferenceProfile.fit(reference, exact=True)
    by_ks = {"x": "ks"}
    assert detect_drift(exact, current, per_column=by_ks) == detect_drift(reference, current, per_column=by_ks)


def test_an_undecidable_verdict_is_refused(monkeypatch):
    rng = np.random.default_rng(6)
    reference, current = pd.DataFrame({"x": rng.normal(size=20_000)}), pd.DataFrame({"x": rng.normal(size=4000)})
    profile = ReferenceProfile.fit(reference)
    score = detect_drift(profile, current).columns["x"].score
    with pytest.raises(DriftError, match=r"column 'x': test 'wasserstein' .* cannot decide the verdict against "
                                         r"the threshold"):
        detect_drift(profile, current, threshold=score)
    monkeypatch.setattr("mlops_provider.drift.engine.SCORE_TOLERANCE", 1e-9)
    with pytest.raises(DriftError, match=r"cannot be reported within 1e-09"):
        detect_drift(profile, current)


def frame(rows: int, columns: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"f{index:02d}": rng.normal(index, 1 + index / 10, rows) for index in range(columns)})


def test_the_profile_file_does_not_grow_with_the_rows(tmp_path):
    sizes = {}
    for rows in (200_000, 1_000_000):
        path = tmp_path / f"{rows}.npz"
        ReferenceProfile.fit(frame(rows, 20, rows)).save(path)
        sizes[rows] = path.stat().st_size
    assert sizes[1_000_000] < 2 * 2**20
    assert sizes[200_000] == sizes[1_000_000]


def test_profile_forms_and_their_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    rows = 20_000
    reference = pd.DataFrame(
        {
            "small": np.r_[rng.normal(size=1000), np.full(rows - 1000, np.nan)],  # 1000 values: sorted, for ks
            "ints": rng.integers(0, 50, rows),  # 50 distinct: value counts, lossless
            "bool": rng.random(rows) < 0.3,
            "medium": np.r_[rng.normal(size=9000), np.full(rows - 9000, np.nan)],  # no bigger than a summary
            "wide": rng.normal(size=rows),  # summary
            "cat": rng.choice(["a", "b"], rows),
        }
    )
    profile = ReferenceProfile.fit(reference)
    forms = {name: column.form for name, column in profile.columns.items()}
    assert forms == {"small": "values", "ints": "repeats", "bool": "repeats", "medium": "values", "wide": "summary",
                     "cat": "counts"}
    assert profile.column("ints").rows == rows and profile.column("wide").rows == rows
    assert np.array_equal(profile.column("ints").sample().values, np.sort(reference["ints"].to_numpy(np.float64)))
    path = tmp_path / "profile.npz"
    profile.save(path)
    assert ReferenceProfile.load(path) == profile
    current = reference.assign(wide=reference["wide"] + 0.2, ints=reference["ints"] // 2)
    assert detect_drift(ReferenceProfile.load(path), current) == detect_drift(profile, current)
    exact = detect_drift(reference, current)
    compact = detect_drift(profile, current)
    for name, column in exact.columns.items():
        assert compact.columns[name].test == column.test and compact.columns[name].drifted == column.drifted
        assert compact.columns[name].score == (pytest.approx(column.score, abs=1e-3) if name == "wide"
                                               else column.score)


def test_version_1_files_still_load(tmp_path):
    """A file as version 1 wrote it: sorted float64 values per numeric column, JSON counts otherwise."""
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["p", "q"], 3000)})
    ordered = np.sort(reference["x"].to_numpy())
    counts = reference["c"].value_counts()
    metadata = {
        "format": "mlops-drift-reference-profile", "version": 1, "rows": 3000,
        "columns": [
            {"name": "x", "dtype": "float64", "kind": "numeric", "missing": 0, "std": float(np.std(ordered)),
             "array": "values_0"},
            {"name": "c", "dtype": "object", "kind": "categorical", "missing": 0, "std": None,
             "values": counts.index.tolist(), "counts": counts.tolist()},
        ],
    }
    path = tmp_path / "v1.npz"
    with path.open("wb") as handle:
        np.savez(handle, values_0=ordered, metadata=np.array(json.dumps(metadata)))
    loaded = ReferenceProfile.load(path)
    assert loaded.column("x").form == "values" and loaded == ReferenceProfile.fit(reference, exact=True)
    current = reference.assign(x=reference["x"] * 1.1)
    assert detect_drift(loaded, current) == detect_drift(reference, current)
