"""The versions a model server holds: loading, weights, unloading, and how requests pick a version."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from mlops_provider.serving.pool import ModelPool, PoolError


class Model:
    def __init__(self, version: str) -> None:
        self.version = version

    def predict(self, frame: Any) -> list[str]:
        return [self.version] * len(frame)


def pool(mode: str = "random") -> ModelPool:
    return ModelPool(Model, mode=mode)


def test_the_first_version_takes_all_traffic_the_second_none() -> None:
    models = pool()
    assert not models.ready
    models.load("1")
    assert models.ready and models.routing.describe()["weights"] == {"1": 100}
    models.load("2")
    assert models.routing.describe()["weights"] == {"1": 100, "2": 0}
    assert models.load("2")["weights"] == {"1": 100, "2": 0}  # loading again changes nothing


def test_a_third_version_is_refused() -> None:
    models = pool()
    models.load("1")
    models.load("2")
    with pytest.raises(PoolError, match=r"already holding 2 versions \(1, 2\)") as err:
        models.load("3")
    assert err.value.status == 409


def test_a_version_that_cannot_load_is_a_404_and_changes_nothing() -> None:
    def loader(version: str) -> Any:
        raise LookupError(f"no version {version}")

    models = ModelPool(loader)
    with pytest.raises(PoolError, match="cannot load version 7: LookupError: no version 7") as err:
        models.load("7")
    assert err.value.status == 404 and models.routing.versions == ()


@pytest.mark.parametrize(("weights", "message"), [
    ({"1": 50, "2": 40}, "must sum to 100"),
    ({"1": 50, "3": 50}, "version.s. 3 not loaded"),
    ({"1": 50.5, "2": 49.5}, "whole percent"),
    ({"1": 120, "2": -20}, "whole percent"),
    ({"one": 100}, "not a model version number"),
])
def test_bad_weights_are_refused(weights: dict[str, Any], message: str) -> None:
    models = pool()
    models.load("1")
    models.load("2")
    with pytest.raises(PoolError, match=message):
        models.set_weights(weights)
    assert models.routing.describe()["weights"] == {"1": 100, "2": 0}


def test_promote_switches_everything_at_once_and_unload_needs_no_traffic() -> None:
    models = pool()
    models.load("1")
    models.load("2")
    with pytest.raises(PoolError, match="version 1 still takes 100% of the traffic"):
        models.unload("1")
    before = models.routing
    models.promote("2")
    assert models.routing.describe()["weights"] == {"1": 0, "2": 100}
    models.unload("1")
    assert [v.version for v in models.routing.versions] == ["2"]
    # a request that read the routing before the switch still holds its model
    picked = before.pick()
    assert picked is not None and picked.version == "1" and picked.model.predict([0]) == ["1"]


def test_the_only_version_can_be_unloaded() -> None:
    models = pool()
    models.load("1")
    models.unload("1")
    assert not models.ready and models.routing.pick() is None


def test_random_routing_splits_roughly_by_weight() -> None:
    models = pool()
    models.load("1")
    models.load("2")
    models.set_weights({"1": 80, "2": 20})
    routing = models.routing
    counts = Counter(routing.pick().version for _ in range(5000))  # type: ignore[union-attr]
    assert 0.17 < counts["2"] / 5000 < 0.23


def test_hash_routing_is_deterministic_per_key_and_splits_by_weight() -> None:
    models = pool("hash")
    models.load("1")
    models.load("2")
    models.set_weights({"1": 70, "2": 30})
    routing = models.routing
    keys = [f"customer-{i}".encode() for i in range(3000)]
    first = [routing.pick(k).version for k in keys]  # type: ignore[union-attr]
    assert first == [routing.pick(k).version for k in keys]  # type: ignore[union-attr]
    assert 0.26 < first.count("2") / len(keys) < 0.34
    models.set_weights({"1": 50, "2": 50})  # raising the canary share only moves keys towards it
    moved = [models.routing.pick(k).version for k in keys]  # type: ignore[union-attr]
    assert all(after == "2" for before, after in zip(first, moved, strict=True) if before == "2")


def test_stats_count_requests_rows_and_errors() -> None:
    models = pool()
    models.load("1")
    loaded = models.routing.versions[0]
    models.count(loaded, rows=5, seconds=0.01, failed=False)
    models.count(loaded, rows=1, seconds=0.03, failed=True)
    (described,) = models.routing.describe()["versions"]
    assert (described["requests"], described["rows"], described["errors"]) == (2, 6, 1)
    assert described["mean_ms"] == pytest.approx(20.0)
