"""The vectorised tests against scipy and against Evidently's own stattest functions, case by case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from mlops_provider.drift import ecdf, stattests
from mlops_provider.drift.profile import fit_column, frequencies
from mlops_provider.drift.stattests import CATEGORICAL, NUMERICAL, CategoricalSample, NumericSample


def draw(kind: str, rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1, n)
    if kind == "rounded":  # many ties across both samples
        return np.round(rng.normal(shift, 1, n), 1)
    if kind == "integers":
        return rng.integers(0, 7, n).astype(float) + (shift > 0)
    if kind == "zero_inflated":
        values = rng.normal(shift, 1, n)
        values[rng.random(n) < 0.8] = 0.0
        return values
    if kind == "cauchy":  # long tails: most values in a narrow core, a few far away
        return rng.standard_cauchy(n) + shift
    if kind == "offset":  # tiny spread far from zero
        return 1e9 + rng.normal(shift, 1e-3, n)
    if kind == "bimodal":
        return np.where(rng.random(n) < 0.5, rng.normal(-5, 0.1, n), rng.normal(5 + shift, 0.1, n))
    raise ValueError(kind)


KINDS = ["normal", "rounded", "integers", "zero_inflated", "cauchy", "offset", "bimodal"]
SIZES = [(7, 5), (300, 300), (900, 650), (10000, 10000), (12000, 700), (30000, 20000)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), SIZES)
def test_ks_2samp_is_scipy_bit_for_bit(kind, n1, n2):
    rng = np.random.default_rng(n1 * 31 + n2)
    for shift in (0.0, 0.03):
        a, b = draw(kind, rng, n1, 0.0), draw(kind, rng, n2, shift)
        expected = scipy.stats.ks_2samp(a, b)
        got = stattests.ks_2samp(a, b)
        assert (got.statistic, got.pvalue) == (expected.statistic, expected.pvalue), (kind, n1, n2, shift)
        # the engine's own path: reference sorted (from a profile), current as it comes
        profiled = NumericSample(np.sort(a), a.dtype, is_sorted=True)
        assert stattests.ks_2samp_samples(profiled, NumericSample(b, b.dtype)) == got


def test_ks_2samp_on_identical_and_constant_samples():
    rng = np.random.default_rng(1)
    same = rng.normal(size=40000)
    for a, b in [(same, same.copy()), (np.zeros(30000), np.zeros(20000)), (np.zeros(5), np.ones(3))]:
        expected = scipy.stats.ks_2samp(a, b)
        assert tuple(stattests.ks_2samp(a, b)) == (expected.statistic, expected.pvalue)


def test_ks_2samp_refuses_missing_values():
    with pytest.raises(ValueError, match="finite"):
        stattests.ks_2samp([1.0, np.nan], [1.0, 2.0])


@pytest.mark.parametrize("kind", KINDS)
def test_wasserstein_distance_is_scipy(kind):
    rng = np.random.default_rng(2)
    for n1, n2 in [(50, 70), (3000, 2000), (30000, 25000)]:
        for shift in (0.0, 0.05):
            a, b = draw(kind, rng, n1, 0.0), draw(kind, rng, n2, shift)
            expected = scipy.stats.wasserstein_distance(a, b)
            unsorted = ecdf.wasserstein_distance(a, b)
            with_sorted = ecdf.wasserstein_distance(np.sort(a), b, a_sorted=True)
            if a.size + b.size < ecdf.BINNED_MIN_VALUES:
                assert unsorted == with_sorted == expected  # the merge path is scipy's sum, term for term
            else:
                assert unsorted == pytest.approx(expected, rel=1e-12, abs=1e-300)
                assert with_sorted == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_binned_paths_agree_with_the_merge_paths():
    rng = np.random.default_rng(3)
    for kind in KINDS:
        a, b = draw(kind, rng, 40000, 0.0), draw(kind, rng, 30000, 0.02)
        sa, sb = np.sort(a), np.sort(b)
        assert ecdf.ks_statistic(a, b) == ecdf.merged_ks_statistic(sa, sb)
        assert ecdf.wasserstein_distance(a, b) == pytest.approx(ecdf.merged_wasserstein(sa, sb), rel=1e-12)


@pytest.mark.parametrize(
    ("reference_dtype", "current_dtype"),
    [("float64", "float64"), ("float32", "float32"), ("float32", "float64"), ("int64", "int64"), ("int8", "int64")],
)
def test_sturges_edges_and_counts_are_numpys(reference_dtype, current_dtype):
    rng = np.random.default_rng(4)
    for rows in (30, 1000, 77777):
        reference = (rng.normal(0, 40, rows)).astype(reference_dtype)
        current = (rng.normal(5, 50, rows // 2 + 1)).astype(current_dtype)
        combined = pd.concat([pd.Series(reference), pd.Series(current)])
        expected = np.histogram_bin_edges(np.asarray(combined.values), bins="sturges")
        ours_reference = NumericSample(np.sort(reference.astype(np.float64)), reference.dtype, is_sorted=True)
        ours_current = NumericSample(current.astype(np.float64), current.dtype)
        edges = stattests.sturges_edges(ours_reference, ours_current)
        assert edges.dtype == expected.dtype and np.array_equal(edges, expected)
        assert np.array_equal(
            stattests.histogram_sorted(ours_reference.sorted, edges), np.histogram(reference, expected)[0]
        )


# --- against Evidently's stattest functions ---------------------------------------------------------


@pytest.fixture(scope="module")
def evidently_tests():
    pytest.importorskip("evidently")
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    types = {NUMERICAL: ColumnType.Numerical, CATEGORICAL: ColumnType.Categorical}

    def run(name: str, reference: pd.Series, current: pd.Series, column_type: str) -> float:
        # the implementation behind the registry entry, whatever column types it advertises
        stattest = next(iter(_registered_stat_tests[name].values()))
        return float(stattest.func(reference, current, types[column_type], 0.05)[0])

    return run


def samples(reference: pd.Series, current: pd.Series, column_type: str):
    if column_type == NUMERICAL:
        profile = fit_column("x", reference)
        return profile.sample(), NumericSample(current.to_numpy(np.float64), np.dtype(current.dtype))
    return CategoricalSample(frequencies(reference)), CategoricalSample(frequencies(current))


CASES = [
    # (test, column type, reference generator, current generator)
    ("ks", NUMERICAL, lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.2, 1, n)),
    ("wasserstein", NUMERICAL, lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.1, 1.1, n)),
    ("wasserstein", NUMERICAL, lambda r, n: np.full(n, 3.0), lambda r, n: r.normal(3, 1e-4, n)),  # std floor
    ("jensenshannon", NUMERICAL, lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.3, 1, n)),
    ("jensenshannon", NUMERICAL, lambda r, n: r.integers(0, 15, n) * 1.0, lambda r, n: r.integers(0, 18, n) * 1.0),
    ("psi", NUMERICAL, lambda r, n: r.lognormal(0, 1, n), lambda r, n: r.lognormal(0.2, 1, n)),
    ("psi", NUMERICAL, lambda r, n: r.integers(0, 5, n) * 1.0, lambda r, n: r.integers(1, 7, n) * 1.0),
    ("psi", NUMERICAL, lambda r, n: r.normal(0, 1, n).astype(np.float32), lambda r, n: r.normal(0, 2, n)),
    ("chisquare", CATEGORICAL, lambda r, n: r.choice(list("abcde"), n), lambda r, n: r.choice(list("abcdef"), n)),
    ("chisquare", NUMERICAL, lambda r, n: r.integers(0, 4, n) * 1.0, lambda r, n: r.integers(0, 4, n) * 1.0),
    ("z", CATEGORICAL, lambda r, n: r.random(n) < 0.3, lambda r, n: r.random(n) < 0.4),
    ("z", CATEGORICAL, lambda r, n: r.choice(["x", "y"], n), lambda r, n: np.full(n, "x")),
    ("z", CATEGORICAL, lambda r, n: np.full(n, "x"), lambda r, n: np.full(n, "x")),
    ("z", NUMERICAL, lambda r, n: r.integers(0, 2, n) * 1.0, lambda r, n: r.integers(0, 2, n) * 2.0),
    ("jensenshannon", CATEGORICAL, lambda r, n: r.choice(list("abc"), n), lambda r, n: r.choice(list("bcd"), n)),
    (
        "psi",
        CATEGORICAL,
        lambda r, n: r.choice(list("abc"), n, p=[0.8, 0.15, 0.05]),
        lambda r, n: r.choice(list("abc"), n),
    ),
]


@pytest.mark.parametrize(("name", "column_type", "make_reference", "make_current"), CASES)
def test_scores_are_evidentlys(evidently_tests, name, column_type, make_reference, make_current):
    rng = np.random.default_rng(5)
    for n1, n2 in [(40, 60), (800, 500), (6000, 4000)]:
        reference, current = pd.Series(make_reference(rng, n1)), pd.Series(make_current(rng, n2))
        expected = evidently_tests(name, reference, current, column_type)
        got = stattests.run_test(name, *samples(reference, current, column_type), column_type)
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-300), (name, n1, n2, got, expected)


def test_random_samples_against_scipy():
    """Random shapes, sizes around the binned path's threshold, sorted or not: KS bit for bit, Wasserstein
    to 1e-12."""
    rng = np.random.default_rng(6)
    shapes = [
        lambda n, s: rng.normal(s, rng.uniform(0.1, 10), n),
        lambda n, s: np.round(rng.normal(s, 1, n), int(rng.integers(0, 3))),
        lambda n, s: rng.standard_t(1.5, n) * 1e3 + s,
        lambda n, s: rng.choice(rng.normal(size=50), n) + s * (rng.random(n) < 0.1),
        lambda n, s: rng.uniform(-1e-6, 1e-6, n) + 5 + s * 1e-7,
    ]
    for case in range(30):
        shape = shapes[case % len(shapes)]
        shift = float(rng.choice([0.0, 0.001, 0.05, 1.0]))
        a, b = shape(int(rng.integers(8000, 30000)), 0.0), shape(int(rng.integers(100, 30000)), shift)
        expected = scipy.stats.ks_2samp(a, b)
        assert tuple(stattests.ks_2samp(a, b)) == (expected.statistic, expected.pvalue), case
        profiled = NumericSample(np.sort(a), a.dtype, is_sorted=True)
        assert tuple(stattests.ks_2samp_samples(profiled, NumericSample(b, b.dtype))) == tuple(expected[:2]), case
        distance = scipy.stats.wasserstein_distance(a, b)
        assert ecdf.wasserstein_distance(np.sort(a), b, a_sorted=True) == pytest.approx(distance, rel=1e-12), case
