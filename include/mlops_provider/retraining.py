"""What a retraining run was asked to do: from REST `conf` (validated Params) or from drift asset events."""

from __future__ import annotations

import json
from typing import Any

from mlops_provider.assets import kind_of, model_of
from mlops_provider.exceptions import ConfigError
from mlops_provider.tracking import TAG_DRIFT, TAG_REQUESTED_BY

REASONS = ("drift", "performance", "schedule", "manual")
REQUESTED_BY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$"
CONF_KEYS = {"model", "reason", "requested_by", "drift"}
REQUIRED_CONF_KEYS = {"model"}


def resolve_request(params: dict[str, Any], conf: dict[str, Any] | None,
                    triggering_asset_events: Any) -> dict[str, Any]:
    """`{model, reason, requested_by, drift, tags}` for this run.

    A run started by a drift asset event takes the model from the event's asset URI
    (`x-mlops://<model>/drift`) and the drift summary from its extra. A REST or UI run takes them from the
    params. The result's `tags` become version tags (`mlops.reason`, `mlops.requested_by`, `mlops.drift`).
    """
    unknown = set(conf or {}) - CONF_KEYS
    if unknown:
        raise ConfigError(f"retraining conf has unknown key(s) {sorted(unknown)}; allowed: {sorted(CONF_KEYS)}")
    request = _from_assets(triggering_asset_events) or {
        "model": params.get("model"), "reason": params.get("reason") or "manual",
        "requested_by": params.get("requested_by") or "unknown", "drift": params.get("drift"),
    }
    if not request["model"]:
        raise ConfigError("retraining needs a model: pass conf {\"model\": ...} or trigger it by a drift event")
    tags = {TAG_REQUESTED_BY: str(request["requested_by"])}
    if request["drift"]:
        tags[TAG_DRIFT] = json.dumps(request["drift"], sort_keys=True)[:4900]
    return {**request, "tags": tags}


def _from_assets(events: Any) -> dict[str, Any] | None:
    """The newest drift or performance event among the triggering assets, as a request: the reason is the
    asset's kind, the event's extra the evidence (kept as the `mlops.drift` tag)."""
    newest = None
    for asset, asset_events in dict(events or {}).items():
        model = model_of(asset, "drift", "performance")
        if model is None:
            continue
        for event in asset_events:
            if newest is None or event.timestamp > newest[2].timestamp:
                newest = (model, kind_of(asset), event)
    if newest is None:
        return None
    model, kind, event = newest
    return {"model": model, "reason": kind, "requested_by": f"{kind}-monitor", "drift": dict(event.extra or {})}
