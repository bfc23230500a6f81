"""`deploy.options` of the local target, checked into `LocalOptions` (no import of the server or HTTP client)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mlops_provider.deploy.options import Bad, TargetOptions


@dataclass(frozen=True)
class LocalOptions(TargetOptions):
    """`deploy.options` of a model whose target is `local`: the smoke test's p95 budget and rows, the wait at each
    canary step, and the server's ports (None: free ones)."""

    target: ClassVar[str] = "local"

    latency_budget_ms: float = 500.0
    smoke_rows: int = 20
    canary_interval_seconds: float = 0.0
    port: int | None = None
    admin_port: int | None = None

    @classmethod
    def check(cls, values: dict[str, Any], bad: Bad) -> dict[str, Any]:
        for key, kind in (("latency_budget_ms", float), ("smoke_rows", int), ("canary_interval_seconds", float),
                          ("port", int), ("admin_port", int)):
            if values.get(key) is None:
                values.pop(key, None)  # a null port (like 0 before) means a free one
                continue
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError):
                raise bad(key, f"expected {'an integer' if kind is int else 'a number'}, got {values[key]!r}") from None
        return values
