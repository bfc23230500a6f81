"""The versions a server holds and how requests are routed between them.

A request reads the current `Routing` once (one attribute read: atomic) and is scored by the model it picked,
so it finishes on that model even if an admin call swaps the routing meanwhile. Admin calls build a new immutable
`Routing` and swap the reference under a lock; nothing a request holds is ever changed in place.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_VERSIONS = 2
ROUTING_MODES = ("random", "hash")


class PoolError(Exception):
    """An admin request the pool refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class VersionStats:
    """Counters of one loaded version (updated under the pool's stats lock)."""

    requests: int = 0
    rows: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Loaded:
    version: str
    model: Any
    loaded_at: str
    stats: VersionStats = field(default_factory=VersionStats, compare=False)


@dataclass(frozen=True)
class Routing:
    """An immutable snapshot: loaded versions and their traffic shares in percent (summing to 100, or all 0
    when nothing is loaded). `shadow` names a loaded version that takes no traffic and scores copies of it."""

    versions: tuple[Loaded, ...] = ()
    weights: tuple[int, ...] = ()
    mode: str = "random"
    shadow: str | None = None

    def get(self, version: str) -> Loaded | None:
        return next((v for v in self.versions if v.version == version), None)

    def weight_of(self, version: str) -> int:
        return next((w for v, w in zip(self.versions, self.weights, strict=True) if v.version == version), 0)

    def pick(self, key: bytes | None = None) -> Loaded | None:
        """The version for one request: by weight, at random, or by a hash of `key` in `hash` mode."""
        if self.mode == "hash" and key is not None:
            point = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % 100
        else:
            point = int(random.random() * 100)
        total = 0
        for loaded, weight in zip(self.versions, self.weights, strict=True):
            total += weight
            if point < total:
                return loaded
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "routing": self.mode,
            "shadow": self.shadow,
            "weights": {v.version: w for v, w in zip(self.versions, self.weights, strict=True)},
            "versions": [
                {"version": v.version, "weight": w, "loaded_at": v.loaded_at, "requests": v.stats.requests,
                 "rows": v.stats.rows, "errors": v.stats.errors,
                 "mean_ms": round(1000 * v.stats.seconds / v.stats.requests, 3) if v.stats.requests else None}
                for v, w in zip(self.versions, self.weights, strict=True)
            ],
        }


class ModelPool:
    """Up to `MAX_VERSIONS` loaded versions of one model; `loader(version)` loads one."""

    def __init__(self, loader: Callable[[str], Any], *, mode: str = "random") -> None:
        if mode not in ROUTING_MODES:
            raise ValueError(f"routing mode '{mode}' is not one of {ROUTING_MODES}")
        self._loader = loader
        self.routing = Routing(mode=mode)
        self._admin = threading.Lock()  # one admin change at a time (a load may take seconds)
        self._stats = threading.Lock()

    @property
    def ready(self) -> bool:
        return sum(self.routing.weights) == 100

    def load(self, version: str) -> dict[str, Any]:
        """Load `version`: it takes all traffic if it is the only one, else none until `set_weights`."""
        version = _version(version)
        with self._admin:
            current = self.routing
            if current.get(version) is not None:
                return current.describe()
            if len(current.versions) >= MAX_VERSIONS:
                held = ", ".join(v.version for v in current.versions)
                raise PoolError(f"already holding {MAX_VERSIONS} versions ({held}): unload one first")
            try:
                model = self._loader(version)
            except Exception as err:
                raise PoolError(f"cannot load version {version}: {type(err).__name__}: {err}", 404) from err
            loaded = Loaded(version, model, datetime.now(UTC).isoformat(timespec="seconds"))
            weight = 0 if current.versions else 100
            self.routing = Routing((*current.versions, loaded), (*current.weights, weight), current.mode,
                                   current.shadow)
            return self.routing.describe()

    def set_weights(self, weights: dict[str, int], mode: str | None = None) -> dict[str, Any]:
        """Traffic shares in percent for loaded versions (unnamed ones get 0); they must sum to 100."""
        with self._admin:
            current = self.routing
            mode = mode or current.mode
            if mode not in ROUTING_MODES:
                raise PoolError(f"routing mode '{mode}' is not one of {ROUTING_MODES}", 400)
            clean = {_version(k): _percent(k, v) for k, v in weights.items()}
            unknown = sorted(set(clean) - {v.version for v in current.versions})
            if unknown:
                raise PoolError(f"version(s) {', '.join(unknown)} not loaded", 404)
            if sum(clean.values()) != 100:
                raise PoolError(f"weights must sum to 100, got {sum(clean.values())} ({clean})", 400)
            new = tuple(clean.get(v.version, 0) for v in current.versions)
            # a shadow given traffic is a live version from then on (a canary after the shadow): no longer a shadow
            shadow = current.shadow if clean.get(current.shadow or "", 0) == 0 else None
            self.routing = Routing(current.versions, new, mode, shadow)
            return self.routing.describe()

    def promote(self, version: str) -> dict[str, Any]:
        """All traffic to `version`, at once (the blue-green switch)."""
        return self.set_weights({_version(version): 100})

    def unload(self, version: str) -> dict[str, Any]:
        """Drop a version that takes no traffic; requests already scoring on it finish on it."""
        version = _version(version)
        with self._admin:
            current = self.routing
            if current.get(version) is None:
                raise PoolError(f"version {version} is not loaded", 404)
            if current.weight_of(version) > 0 and len(current.versions) > 1:
                raise PoolError(f"version {version} still takes {current.weight_of(version)}% of the traffic: "
                                "move it elsewhere first")
            kept = [(v, w) for v, w in zip(current.versions, current.weights, strict=True) if v.version != version]
            shadow = None if current.shadow == version else current.shadow
            self.routing = Routing(tuple(v for v, _ in kept), tuple(w for _, w in kept), current.mode, shadow)
            return self.routing.describe()

    def set_shadow(self, version: str | None) -> Loaded | None:
        """Flag a loaded version that takes no traffic as the shadow (None: no shadow); the version flagged."""
        with self._admin:
            current = self.routing
            if version is None:
                self.routing = Routing(current.versions, current.weights, current.mode, None)
                return None
            version = _version(version)
            loaded = current.get(version)
            if loaded is None:
                raise PoolError(f"version {version} is not loaded", 404)
            if current.weight_of(version) > 0:
                raise PoolError(f"version {version} takes {current.weight_of(version)}% of the traffic: a shadow "
                                "takes none")
            self.routing = Routing(current.versions, current.weights, current.mode, version)
            return loaded

    def count(self, loaded: Loaded, *, rows: int, seconds: float, failed: bool) -> None:
        with self._stats:
            loaded.stats.requests += 1
            loaded.stats.rows += rows
            loaded.stats.seconds += seconds
            loaded.stats.errors += int(failed)


def _version(value: Any) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise PoolError(f"'{value}' is not a model version number", 400)
    return text


def _percent(version: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or not 0 <= value <= 100:
        raise PoolError(f"weight of version {version} must be a whole percent 0..100, got {value!r}", 400)
    return int(value)
