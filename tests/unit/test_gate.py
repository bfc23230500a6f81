"""The gate's criteria (`mlops_provider.gate`): paired bootstrap non-inferiority, slices, latency, the table."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_provider.config import Criterion
from mlops_provider.gate import (
    FAIL,
    NOT_JUDGED,
    PASS,
    Scored,
    bootstrap_difference,
    criteria_table,
    decision_of,
    judge,
    measure_latency,
)

NONINFERIOR = Criterion(metric="roc_auc", minimum=0.6, max_regression=0.01, confidence=0.95)


def classifier(y: np.ndarray, score: np.ndarray) -> Scored:
    score = np.clip(score, 0, 1)
    return Scored(y, (score >= 0.5).astype("int64"), np.c_[1 - score, score], np.array([0, 1]))


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, np.ndarray]:
    """2000 labelled rows and a champion's scores on them (roc_auc ~0.8)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    return y, 0.3 * y + rng.normal(0.35, 0.2, len(y))


def test_paired_bootstrap_refuses_a_clearly_worse_challenger(holdout: tuple[np.ndarray, np.ndarray]) -> None:
    y, champion = holdout
    rng = np.random.default_rng(2)
    worse = 0.15 * y + rng.normal(0.42, 0.2, len(y))  # roc_auc ~0.7: 0.1 below

    [result] = judge([NONINFERIOR], candidate=classifier(y, worse), champion=classifier(y, champion),
                     champion_version="3")

    assert result.verdict == FAIL
    assert result.interval is not None and result.interval[1] < -0.01, result.interval
    assert "may be worse than champion v3 by up to" in result.why and "95% interval" in result.why


def test_paired_bootstrap_accepts_an_equal_challenger(holdout: tuple[np.ndarray, np.ndarray]) -> None:
    """A retrained model of the same quality scores the rows almost as the champion does: its point estimate may
    come out a little lower (a point gate allowing no regression refuses it), the interval says it is noise."""
    y, champion = holdout
    rng = np.random.default_rng(5)
    equal = champion + rng.normal(0, 0.04, len(y))
    point = Criterion(metric="roc_auc", minimum=0.6, max_regression=0.0)

    noisy, paired = judge([point, NONINFERIOR], candidate=classifier(y, equal), champion=classifier(y, champion),
                          champion_version="3")

    assert noisy.value is not None and noisy.champion is not None and noisy.value < noisy.champion
    assert noisy.verdict == FAIL and noisy.interval is None
    assert paired.verdict == PASS, paired.why
    assert paired.interval is not None and paired.interval[0] < 0 < paired.interval[1]
    assert paired.interval[0] > -0.01 and "non-inferior" in paired.why


def test_without_a_champion_only_the_minimum_applies(holdout: tuple[np.ndarray, np.ndarray]) -> None:
    y, champion = holdout
    [alone] = judge([NONINFERIOR], candidate=classifier(y, champion))
    assert alone.verdict == PASS and alone.interval is None and "no scored champion" in alone.why
    [low] = judge([Criterion(metric="roc_auc", minimum=0.95, max_regression=0.01, confidence=0.9)],
                  candidate=classifier(y, champion), champion=classifier(y, champion), champion_version="1")
    assert low.verdict == FAIL and "misses the minimum 0.9500" in low.why


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "precision", "recall", "f1", "log_loss"])
def test_the_bootstrap_is_paired_and_seeded(holdout: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    y, champion = holdout
    same = classifier(y, champion)
    assert bootstrap_difference(metric, same, same, higher_is_better=True, confidence=0.95) == (0.0, 0.0)
    other = classifier(y, champion + np.random.default_rng(3).normal(0, 0.1, len(y)))
    first = bootstrap_difference(metric, other, same, higher_is_better=metric != "log_loss", confidence=0.9)
    assert first == bootstrap_difference(metric, other, same, higher_is_better=metric != "log_loss", confidence=0.9)
    assert first[0] < first[1]


def test_the_bootstrap_of_a_5k_holdout_takes_about_a_second() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 5000)
    a, b = (classifier(y, 0.3 * y + rng.normal(0.35, 0.2, len(y))) for _ in range(2))
    start = time.perf_counter()
    low, high = bootstrap_difference("roc_auc", a, b, higher_is_better=True, confidence=0.95)
    took = time.perf_counter() - start
    assert low < high
    assert took < 5, f"1000 resamples of 5000 rows took {took:.2f}s"  # ~0.8 s on a busy 2-core machine


def test_regression_metrics_are_judged_with_lower_is_better() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(0, 1, 1000)
    good, bad = Scored(y, y + rng.normal(0, 0.3, len(y))), Scored(y, y + rng.normal(0, 0.6, len(y)))
    rmse = Criterion(metric="rmse", minimum=1.0, max_regression=0.02, confidence=0.95)
    assert judge([rmse], candidate=bad, champion=good, champion_version="2")[0].verdict == FAIL
    better = judge([rmse], candidate=good, champion=bad, champion_version="2")[0]
    assert better.verdict == PASS and better.interval is not None and better.interval[0] > 0


def slice_data() -> tuple[Scored, np.ndarray]:
    """Four regions: north and south ranked well (auc ~0.9), east worse (~0.75), west only 12 rows."""
    rng = np.random.default_rng(7)
    regions = np.array(["north"] * 400 + ["south"] * 400 + ["east"] * 400 + ["west"] * 12)
    y = rng.integers(0, 2, len(regions))
    signal = np.where(regions == "east", 0.12, 0.35)
    return classifier(y, signal * y + rng.normal(0.35, 0.15, len(y))), regions


def test_slice_gap_verdict() -> None:
    scored, regions = slice_data()
    wide = Criterion(slice="region", metric="roc_auc", minimum=0.6, max_gap=0.05)
    loose = Criterion(slice="region", metric="roc_auc", minimum=0.6, max_gap=0.4)

    failed, passed = judge([wide, loose], candidate=scored, columns={"region": regions})

    assert failed.verdict == FAIL and "between groups is over 0.0500" in failed.why, failed.why
    assert passed.verdict == PASS, passed.why
    by_group = {g["group"]: g for g in failed.groups}
    assert by_group["east"]["value"] < by_group["north"]["value"] - 0.05
    assert failed.value == pytest.approx(by_group["east"]["value"])  # the worst judged group
    floor = judge([Criterion(slice="region", metric="roc_auc", minimum=0.85)], candidate=scored,
                  columns={"region": regions})[0]
    assert floor.verdict == FAIL and "group 'east'" in floor.why and "group 'north'" not in floor.why


def test_small_groups_are_reported_not_judged() -> None:
    scored, regions = slice_data()
    [result] = judge([Criterion(slice="region", metric="roc_auc", minimum=0.6, max_gap=0.4, min_rows=30)],
                     candidate=scored, columns={"region": regions})
    west = next(g for g in result.groups if g["group"] == "west")
    assert west["rows"] == 12 and west["verdict"] == NOT_JUDGED and "fewer than min_rows 30" in west["why"]
    assert "1 group(s) not judged: west" in result.why
    assert result.verdict == PASS
    [none] = judge([Criterion(slice="region", metric="roc_auc", minimum=0.6, min_rows=5000)], candidate=scored,
                   columns={"region": regions})
    assert none.verdict == NOT_JUDGED and "no group has 5000 rows" in none.why


class SlowModel:
    """A model whose one-row prediction takes 3 ms (a sleep: latency of its own, not of the machine)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(0.003)
        return np.zeros(len(frame))


def test_latency_is_measured_against_the_budget() -> None:
    features = pd.DataFrame({"x": np.arange(50.0)})
    measured = measure_latency(SlowModel(), features, rows=1)
    assert measured["samples"] == 50 and 3 <= measured["median_ms"] <= measured["p95_ms"]

    tight, loose = Criterion(latency_p95_ms=1), Criterion(latency_p95_ms=10_000)
    failed, passed = judge([tight, loose], candidate=Scored(np.zeros(1), np.zeros(1)), latency={1: measured})
    assert failed.verdict == FAIL and "over the budget 1 ms" in failed.why
    assert passed.verdict == PASS and passed.value == measured["p95_ms"] and passed.name == "latency_p95_ms"


def test_the_decision_needs_every_criterion_and_the_table_lists_them(
        holdout: tuple[np.ndarray, np.ndarray]) -> None:
    y, champion = holdout
    scored, regions = slice_data()
    results: list[dict[str, Any]] = [r.to_dict() for r in judge(
        [NONINFERIOR, Criterion(metric="recall", minimum=0.99)], candidate=classifier(y, champion))]
    decision = decision_of(results)
    assert not decision.promote and decision.reason.startswith("recall ") and "misses the minimum" in decision.reason
    assert decision_of(results[:1]).promote
    sliced = judge([Criterion(slice="region", metric="roc_auc", minimum=0.6)], candidate=scored,
                   columns={"region": regions})[0].to_dict()
    table = criteria_table([*results, {**sliced, "index": 2}])
    assert table.startswith("| # | criterion | value | champion | bound | interval | verdict | why |")
    assert "| 1 | recall |" in table and "**fail**" in table and "**pass**" in table
    assert "**roc_auc_by_region** (criterion 2)" in table and "| west | 12 |" in table
