"""The assets that connect the DAGs: `x-mlops://<model>/<kind>` with kind `champion` and `rollback` (the
deployment DAG runs on them), `drift` and `performance` (retraining runs on them).

Built and parsed here only; no other module spells the scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow.sdk import Asset

# `x-` is Airflow's prefix for schemes no provider registers. A bare `mlops://` would make Airflow load
# every provider's URI normalizer (the Amazon one imports boto3) when a DAG file is parsed.
SCHEME = "x-mlops://"
Kind = Literal["champion", "drift", "performance", "rollback", "challenger"]
KINDS = ("champion", "drift", "performance", "rollback", "challenger")


def asset_uri(model: str, kind: Kind) -> str:
    return f"{SCHEME}{model}/{kind}"


def parse_asset_uri(uri: str) -> tuple[str, str] | None:
    """`(model, kind)` of one of our asset URIs, or None for any other URI."""
    if not uri.startswith(SCHEME):
        return None
    model, _, kind = uri.removeprefix(SCHEME).rpartition("/")
    return (model, kind) if model and kind in KINDS else None


def model_of(asset: Any, *kinds: Kind) -> str | None:
    """The model of a triggering asset (an `Asset` or its URI) of one of `kinds`, or None when it is not."""
    parsed = parse_asset_uri(getattr(asset, "uri", str(asset)))
    return parsed[0] if parsed and parsed[1] in kinds else None


def kind_of(asset: Any) -> str | None:
    parsed = parse_asset_uri(getattr(asset, "uri", str(asset)))
    return parsed[1] if parsed else None


def champion_asset(model: str) -> Asset:
    """Updated when `champion` moves to a new version; the deployment DAG runs on it."""
    from airflow.sdk import Asset

    return Asset(asset_uri(model, "champion"), group="mlops")


def drift_asset(model: str) -> Asset:
    """Updated when the drift monitor finds drift in the served model's inputs; retraining runs on it."""
    from airflow.sdk import Asset

    return Asset(asset_uri(model, "drift"), group="mlops")


def performance_asset(model: str) -> Asset:
    """Updated when the performance monitor's policy asks for retraining (degradation or prediction drift)."""
    from airflow.sdk import Asset

    return Asset(asset_uri(model, "performance"), group="mlops")


def rollback_asset(model: str) -> Asset:
    """Updated when the performance monitor's policy rolls a degraded model back; the extra names the version
    to deploy. The deployment DAG runs on it."""
    from airflow.sdk import Asset

    return Asset(asset_uri(model, "rollback"), group="mlops")


def challenger_asset(model: str) -> Asset:
    """Updated when a candidate that passed the gate of a model with an `experiment:` block becomes `challenger`;
    the A/B experiment DAG runs on it (issue 16 part 3)."""
    from airflow.sdk import Asset

    return Asset(asset_uri(model, "challenger"), group="mlops")
