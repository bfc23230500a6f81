"""Which models and versions a mlops_deployment run deploys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_provider.deployment_request import resolve_releases
from mlops_provider.exceptions import ConfigError

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@dataclass(frozen=True)
class FakeAsset:
    uri: str


@dataclass
class Event:
    timestamp: datetime
    extra: dict[str, Any]


def test_one_release_per_model_whose_champion_moved_newest_event_wins() -> None:
    events = {
        FakeAsset("x-mlops://credit_default/champion"): [Event(T0, {"version": "3"}),
                                                         Event(T0 + timedelta(minutes=5), {"version": "4"})],
        FakeAsset("x-mlops://breast_cancer/champion"): [Event(T0, {"version": "2"})],
        FakeAsset("x-mlops://credit_default/drift"): [Event(T0 + timedelta(hours=1), {"version": "9"})],
    }
    assert resolve_releases({"model": None}, events) == [
        {"model": "breast_cancer", "version": "2"}, {"model": "credit_default", "version": "4"}]


def test_a_rollback_event_deploys_the_version_it_names() -> None:
    events = {
        FakeAsset("x-mlops://credit_default/champion"): [Event(T0, {"version": "4"})],
        FakeAsset("x-mlops://credit_default/rollback"): [Event(T0 + timedelta(hours=2), {"version": "3"})],
    }
    assert resolve_releases({"model": None}, events) == [{"model": "credit_default", "version": "3"}]


def test_by_hand_the_version_defaults_to_the_champion() -> None:
    assert resolve_releases({"model": "credit_default", "version": None}, {}) == [
        {"model": "credit_default", "version": "champion"}]
    assert resolve_releases({"model": "credit_default", "version": "7"}, None) == [
        {"model": "credit_default", "version": "7"}]


def test_no_model_and_no_event_or_an_event_without_version_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="deployment needs a model"):
        resolve_releases({}, {})
    with pytest.raises(ConfigError, match="champion or rollback event of model 'credit_default' carries no version"):
        resolve_releases({}, {FakeAsset("x-mlops://credit_default/champion"): [Event(T0, {})]})
