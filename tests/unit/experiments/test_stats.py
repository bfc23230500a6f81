"""The experiment statistics against independent references: scipy, statsmodels, the definition, textbook
values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from mlops_provider.experiments import stats


def brute_force_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """DeLong's variance by its definition: the structural components over every (positive, negative) pair."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


def test_delong_matches_its_definition_and_sklearns_auc_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.8 + rng.normal(0, 1, 400), 1)  # rounded: many ties
    auc, var = stats.delong(y, s)
    ref_auc, ref_var = brute_force_delong(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc == pytest.approx(ref_auc, abs=1e-12) and var == pytest.approx(ref_var, rel=1e-10)


def test_hanley_mcneil_at_chance_is_the_mann_whitney_null_variance() -> None:
    # at A = 0.5, Hanley-McNeil reduces to Var(U) / (mn)^2 = (m + n + 1) / (12 m n)
    for m, n in ((10, 20), (50, 50), (300, 900)):
        assert stats.hanley_mcneil_variance(0.5, m, n) == pytest.approx((m + n + 1) / (12 * m * n))


def test_the_per_row_auc_variance_is_hanley_mcneil_for_large_samples() -> None:
    n, prevalence, auc = 200_000, 0.25, 0.78
    exact = stats.hanley_mcneil_variance(auc, prevalence * n, (1 - prevalence) * n)
    assert stats.auc_row_variance(auc, prevalence) / n == pytest.approx(exact, rel=1e-4)


def test_rows_per_arm_is_the_textbook_value_and_agrees_with_statsmodels() -> None:
    # two proportions at p = 0.5, difference 0.1, alpha 0.05, power 0.8, equal arms: 392.4 -> 393 per arm
    assert stats.rows_per_arm(0.25, 0.1, alpha=0.05, power=0.8, challenger_share=0.5) == (393, 393)
    power = pytest.importorskip("statsmodels.stats.power")
    for share in (0.1, 0.3, 0.5):
        champion, challenger = stats.rows_per_arm(0.34, 0.03, alpha=0.05, power=0.8, challenger_share=share)
        reference = power.NormalIndPower().solve_power(effect_size=0.03 / math.sqrt(0.34), alpha=0.05, power=0.8,
                                                      ratio=share / (1 - share))
        assert abs(champion - reference) <= 1.5, (share, champion, reference)
        assert challenger / champion == pytest.approx(share / (1 - share), rel=0.01)


def test_two_proportions_match_statsmodels() -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    result = stats.compare_proportions((420, 1000), (470, 1000), confidence=0.95)
    _, p = proportion.proportions_ztest([470, 420], [1000, 1000])
    low, high = proportion.confint_proportions_2indep(470, 1000, 420, 1000, method="wald", compare="diff")
    assert result.effect == pytest.approx(0.05)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(1.0, 300), rng.exponential(1.2, 120)
    result = stats.compare_means(a, b, confidence=0.9)
    reference = sps.ttest_ind(b, a, equal_var=False)
    interval = reference.confidence_interval(confidence_level=0.9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_srm_matches_scipys_chisquare() -> None:
    statistic, p = stats.sample_ratio_mismatch({"champion": 8_800, "challenger": 1_200},
                                               {"champion": 90, "challenger": 10})
    reference = sps.chisquare([8_800, 1_200], [9_000, 1_000])
    assert statistic == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)
    assert p < 0.001


def test_two_independent_aucs_add_their_variances() -> None:
    rng = np.random.default_rng(2)
    y1, y2 = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    s1, s2 = y1 * 0.5 + rng.normal(0, 1, 500), y2 * 1.5 + rng.normal(0, 1, 500)
    result = stats.compare_auc((y1, s1), (y2, s2), confidence=0.95)
    (a1, v1), (a2, v2) = brute_force_delong(y1, s1), brute_force_delong(y2, s2)
    z = (a2 - a1) / math.sqrt(v1 + v2)
    assert result.effect == pytest.approx(a2 - a1)
    assert result.p_value == pytest.approx(2 * sps.norm.sf(abs(z)))
    assert result.ci_high - result.effect == pytest.approx(1.959964 * math.sqrt(v1 + v2), rel=1e-5)
