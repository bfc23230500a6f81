"""The promotion gate (`registry.decide`): absolute minimum first, then the allowed regression against the champion."""

from __future__ import annotations

import pytest

from mlops_provider.registry import decide


def gate(candidate: float, champion: float | None, *, higher: bool = True, minimum: float = 0.7,
         margin: float = 0.01) -> tuple[bool, str]:
    decision = decide(metric="m", higher_is_better=higher, minimum=minimum, max_regression=margin,
                      candidate=candidate, champion=champion, champion_version="3" if champion else None)
    return decision.promote, decision.reason


def test_first_model_becomes_champion_when_it_meets_the_minimum() -> None:
    assert gate(0.75, None) == (True, "m 0.7500 meets 0.7000 and there is no scored champion")
    assert gate(0.65, None) == (False, "m 0.6500 misses the minimum 0.7000")


def test_regression_within_margin_passes_beyond_it_fails() -> None:
    assert gate(0.795, 0.80)[0] is True
    promote, reason = gate(0.78, 0.80)
    assert not promote
    assert reason == "m 0.7800 is worse than champion v3 (0.8000) by 0.0200, more than the allowed 0.0100"


def test_minimum_is_checked_before_the_champion() -> None:
    assert gate(0.69, 0.60) == (False, "m 0.6900 misses the minimum 0.7000")


def test_lower_is_better_metrics() -> None:
    assert gate(0.30, 0.32, higher=False, minimum=0.5)[0] is True
    assert gate(0.60, None, higher=False, minimum=0.5) == (False, "m 0.6000 misses the maximum 0.5000")
    assert gate(0.40, 0.32, higher=False, minimum=0.5)[0] is False


@pytest.mark.parametrize("champion", [None, 0.80])
def test_a_nan_candidate_score_never_passes(champion: float | None) -> None:
    promote, reason = gate(float("nan"), champion, margin=1.0)
    assert not promote
    assert reason == "m of the candidate is nan, not a number the gate can judge"
    assert gate(float("nan"), None, higher=False, minimum=0.5)[0] is False


def test_a_nan_champion_score_leaves_only_the_minimum() -> None:
    assert gate(0.75, float("nan")) == (
        True, "m 0.7500 meets 0.7000 and there is no scored champion (champion v3 scored nan)")
    assert gate(0.65, float("nan"))[0] is False

