"""The verdict on synthetic traffic of two arms: SRM and labels for one arm make it invalid; a clearly better or
worse challenger wins or loses; the same model is inconclusive; losses are judged lower-is-better."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_provider.experiments.analysis import decide
from mlops_provider.experiments.plan import ExperimentPlan
from mlops_provider.inference_log import PREDICTION, REQUEST_ID, SCORE, VERSION
from mlops_provider.labels import LABEL


def plan(metric: str = "roc_auc", rows: int = 400, split: tuple[int, int] = (50, 50)) -> ExperimentPlan:
    return ExperimentPlan(model="toy", champion="1", challenger="2", metric=metric,
                          higher_is_better=metric not in ("mae", "rmse", "log_loss"), minimum_detectable_effect=0.05,
                          alpha=0.05, power=0.8, split={"champion": split[0], "challenger": split[1]},
                          routing_key="customer id", baseline=0.75, per_row_variance=0.4, variance_source="test",
                          rows={"champion": rows, "challenger": rows}, started="2026-01-01T00:00:00+00:00",
                          deadline="2026-01-02T00:00:00+00:00")


def arm(version: str, rows: int, signal: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    score = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1, rows))))
    return pd.DataFrame({VERSION: version, REQUEST_ID: [f"{version}-{i}" for i in range(rows)],
                         PREDICTION: (score > 0.5).astype(int), SCORE: score, LABEL: y})


def traffic(champion: pd.DataFrame, challenger: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    labelled = pd.concat([champion, challenger], ignore_index=True)
    return labelled.drop(columns=[LABEL]), labelled


def test_a_clearly_better_challenger_wins_and_a_worse_one_loses() -> None:
    predictions, labelled = traffic(arm("1", 1000, 0.5, 1), arm("2", 1000, 1.5, 2))
    result = decide(plan(), predictions, labelled, horizon="planned size")
    assert result.decision == "win", result.reason
    assert result.comparison is not None and result.comparison["effect"] > 0.1
    assert result.comparison["ci_low"] > 0 and result.comparison["p_value"] < 0.05
    assert result.arms["challenger"].value > result.arms["champion"].value
    assert "better" in result.reason and "1000 + 1000 labelled rows" in result.reason
    predictions, labelled = traffic(arm("1", 1000, 1.5, 1), arm("2", 1000, 0.5, 2))
    assert decide(plan(), predictions, labelled, horizon="planned size").decision == "lose"


def test_the_same_model_is_inconclusive() -> None:
    predictions, labelled = traffic(arm("1", 800, 1.0, 3), arm("2", 800, 1.0, 4))
    result = decide(plan(), predictions, labelled, horizon="deadline")
    assert result.decision == "inconclusive", result.reason
    assert result.comparison is not None and result.comparison["ci_low"] < 0 < result.comparison["ci_high"]
    assert "no significant difference" in result.reason and "look at the deadline" in result.reason


def test_a_sample_ratio_mismatch_is_invalid() -> None:
    # planned 90/10; the challenger got 20% of the predictions: the assignment is broken
    predictions, labelled = traffic(arm("1", 800, 1.0, 3), arm("2", 200, 3.0, 4))
    result = decide(plan(split=(90, 10)), predictions, labelled, horizon="planned size")
    assert result.decision == "invalid" and result.comparison is None
    assert result.srm_p_value is not None and result.srm_p_value < 0.001
    assert "sample-ratio mismatch: 800 champion and 200 challenger requests" in result.reason
    assert "90/10" in result.reason
    # the same sizes against the 80/20 it was meant to be: valid
    assert decide(plan(split=(80, 20)), predictions, labelled, horizon="planned size").decision == "win"


def test_labels_for_only_one_arm_is_invalid() -> None:
    predictions, labelled = traffic(arm("1", 500, 1.0, 3), arm("2", 500, 1.0, 4))
    only_champion = labelled[labelled[VERSION] == "1"]
    result = decide(plan(), predictions, only_champion, horizon="deadline")
    assert result.decision == "invalid"
    assert "labels arrived for only one arm: 500 for the champion (v1), none for the challenger (v2)" in result.reason
    assert result.arms["champion"].labelled == 500 and result.arms["challenger"].labelled == 0
    none = decide(plan(), predictions, labelled.iloc[0:0], horizon="deadline")
    assert none.decision == "invalid" and "no labels arrived for either arm" in none.reason


def test_a_guardrail_stop_is_reported_as_stopped() -> None:
    predictions, labelled = traffic(arm("1", 100, 1.0, 3), arm("2", 100, 1.0, 4))
    result = decide(plan(), predictions, labelled, horizon="guardrail", stopped="error rate 40% over 5%")
    assert (result.decision, result.horizon) == ("stopped", "guardrail")
    assert result.reason == "guardrail: error rate 40% over 5%"


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_a_loss_is_better_when_lower(metric: str) -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 1200)

    def regression(version: str, noise: float) -> pd.DataFrame:
        return pd.DataFrame({VERSION: version, REQUEST_ID: [f"{version}-{i}" for i in range(1200)],
                             PREDICTION: y + rng.normal(0, noise, 1200), SCORE: np.nan, LABEL: y})

    predictions, labelled = traffic(regression("1", 1.0), regression("2", 0.5))
    result = decide(plan(metric), predictions, labelled, horizon="planned size")
    assert result.decision == "win", result.reason
    assert result.comparison is not None and result.comparison["effect"] < 0  # the challenger's loss is lower
    assert result.arms["challenger"].value == pytest.approx(0.5 if metric == "rmse" else 0.4, rel=0.1)


def test_srm_counts_requests_not_rows() -> None:
    # 429 and 371 requests of 5 rows each: a chance imbalance (p ~ 0.04) of what the server assigns, which counted
    # in rows (2145 / 1855) would look like p ~ 5e-6 and void a sound test
    def requests(version: str, count: int, seed: int) -> pd.DataFrame:
        frame = arm(version, count * 5, 1.0, seed)
        return frame.assign(**{REQUEST_ID: [f"{version}-{i // 5}.{i % 5}" for i in range(count * 5)]})

    predictions, labelled = traffic(requests("1", 429, 3), requests("2", 371, 4))
    result = decide(plan(), predictions, labelled, horizon="planned size")
    assert result.decision != "invalid", result.reason
    assert (result.arms["champion"].requests, result.arms["challenger"].requests) == (429, 371)
    assert (result.arms["champion"].predictions, result.arms["challenger"].predictions) == (2145, 1855)
    assert 0.03 < (result.srm_p_value or 0) < 0.05
