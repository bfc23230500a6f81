"""The statistics of an A/B experiment between two independent arms: sample size, tests, intervals, SRM.

Plain numpy/scipy. Every test is two-sided at a fixed horizon (one look, at the planned size or the deadline):
- AUC: DeLong's variance of each arm's AUC (the arms are independent, so the variance of the difference is the
  sum), a z test and a normal interval; Hanley-McNeil's variance plans the size before any data.
- proportions (accuracy, precision, recall): the two-proportion z test (pooled standard error for the test,
  unpooled for the interval); the binomial variance plans the size.
- per-row losses (absolute error, squared error, log loss): Welch's t test and interval on the rows' losses.
- sample-ratio mismatch: Pearson's chi-square goodness of fit of the arm sizes against the planned split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Comparison:
    """Challenger minus champion: `effect`, its `ci_low`..`ci_high` at `confidence`, the two-sided `p_value`,
    each arm's value and what test gave them."""

    champion: float
    challenger: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    test: str


def z_quantile(probability: float) -> float:
    return float(sps.norm.ppf(probability))


def rows_per_arm(per_row_variance: float, mde: float, *, alpha: float, power: float,
                 challenger_share: float) -> tuple[int, int]:
    """Planned (champion, challenger) rows to detect a difference `mde` with a two-sided test at `alpha` and
    `power`, when one row of either arm carries `per_row_variance` and the challenger gets `challenger_share`
    of the rows: N = (z_{1-alpha/2} + z_power)^2 * var * (1/p + 1/(1-p)) / mde^2, split p : 1-p."""
    if not 0 < challenger_share < 1:
        raise ValueError(f"challenger share must be in (0, 1), got {challenger_share}")
    if mde <= 0 or per_row_variance <= 0:
        raise ValueError(f"need a positive effect and variance, got mde={mde}, variance={per_row_variance}")
    z = z_quantile(1 - alpha / 2) + z_quantile(power)
    total = z * z * per_row_variance * (1 / challenger_share + 1 / (1 - challenger_share)) / (mde * mde)
    return math.ceil(total * (1 - challenger_share)), math.ceil(total * challenger_share)


def hanley_mcneil_variance(auc: float, n_pos: float, n_neg: float) -> float:
    """Hanley & McNeil (1982)'s variance of an AUC estimated on `n_pos` positives and `n_neg` negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)


def auc_row_variance(auc: float, prevalence: float) -> float:
    """Hanley-McNeil's variance of an AUC times the rows it was measured on, for large samples at `prevalence`
    (the share of positives): (Q1 - A^2) / (1 - prevalence) + (Q2 - A^2) / prevalence."""
    if not 0 < prevalence < 1:
        raise ValueError(f"an AUC needs both classes: prevalence {prevalence}")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return (q1 - auc * auc) / (1 - prevalence) + (q2 - auc * auc) / prevalence


def _midranks(values: np.ndarray) -> np.ndarray:
    return np.asarray(sps.rankdata(values, method="average"), dtype=float)


def delong(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(AUC, DeLong's variance of it) of one sample, by the midrank form of Sun & Xu (2014)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=float)
    positives, negatives = s[y], s[~y]
    m, n = len(positives), len(negatives)
    if m < 2 or n < 2:
        raise ValueError(f"an AUC's variance needs two rows of each class, got {m} positive and {n} negative")
    tz = _midranks(np.concatenate([positives, negatives]))
    v10 = (tz[:m] - _midranks(positives)) / n  # per positive: the share of negatives it outranks
    v01 = 1 - (tz[m:] - _midranks(negatives)) / m  # per negative: the share of positives that outrank it
    auc = float(v10.mean())
    return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)


def _normal(champion: float, challenger: float, variance: float, confidence: float, test: str) -> Comparison:
    effect = challenger - champion
    se = math.sqrt(max(variance, 0.0))
    z = z_quantile(0.5 + confidence / 2)
    p = 1.0 if se == 0 else float(2 * sps.norm.sf(abs(effect) / se))
    return Comparison(champion, challenger, effect, effect - z * se, effect + z * se, p, confidence, test)


def compare_auc(champion: tuple[np.ndarray, np.ndarray], challenger: tuple[np.ndarray, np.ndarray], *,
                confidence: float) -> Comparison:
    """Two independent AUCs, each `(y_true, scores)`: DeLong's variances added, z test."""
    auc_a, var_a = delong(*champion)
    auc_b, var_b = delong(*challenger)
    return _normal(auc_a, auc_b, var_a + var_b, confidence, "DeLong z test, two independent AUCs")


def compare_proportions(champion: tuple[int, int], challenger: tuple[int, int], *, confidence: float) -> Comparison:
    """Two proportions, each `(successes, trials)`: z test on the pooled standard error, Wald interval on the
    unpooled one."""
    (x1, n1), (x2, n2) = champion, challenger
    if n1 == 0 or n2 == 0:
        raise ValueError(f"a proportion needs rows in both arms, got {n1} and {n2}")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se_test = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = z_quantile(0.5 + confidence / 2)
    effect = p2 - p1
    p = 1.0 if se_test == 0 else float(2 * sps.norm.sf(abs(effect) / se_test))
    return Comparison(p1, p2, effect, effect - z * se, effect + z * se, p, confidence, "two-proportion z test")


def compare_means(champion: np.ndarray, challenger: np.ndarray, *, confidence: float,
                  test: str = "Welch t test on per-row losses") -> Comparison:
    """Two means of per-row values (losses): Welch's t test and its interval (Welch-Satterthwaite df)."""
    a, b = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a mean's variance needs two rows per arm, got {len(a)} and {len(b)}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    effect = float(b.mean() - a.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return Comparison(float(a.mean()), float(b.mean()), effect, effect, effect, 1.0 if effect == 0 else 0.0,
                          confidence, test)
    df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    t = float(sps.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * sps.t.sf(abs(effect) / se, df))
    return Comparison(float(a.mean()), float(b.mean()), effect, effect - t * se, effect + t * se, p, confidence, test)


def sample_ratio_mismatch(observed: Mapping[str, int], planned: Mapping[str, float]) -> tuple[float, float]:
    """(chi-square statistic, p-value) of the arms' sizes against the planned shares (any scale)."""
    arms = list(planned)
    counts = np.array([observed.get(arm, 0) for arm in arms], dtype=float)
    shares = np.array([planned[arm] for arm in arms], dtype=float)
    expected = counts.sum() * shares / shares.sum()
    if counts.sum() == 0:
        return 0.0, 1.0
    statistic = float(((counts - expected) ** 2 / expected).sum())
    return statistic, float(sps.chi2.sf(statistic, len(arms) - 1))
