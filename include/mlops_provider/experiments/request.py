"""What an experiment run tests: from its Params (by hand) or from the challenger asset event that started it."""

from __future__ import annotations

from typing import Any

from mlops_provider.assets import model_of
from mlops_provider.exceptions import ConfigError


def resolve_request(params: dict[str, Any], triggering_asset_events: Any) -> dict[str, Any]:
    """`{model, challenger, overrides}`: the Params when they name a model; else the newest challenger event (one
    experiment per run: a model whose challenger event arrives in the same scheduler tick as another's waits for
    its own run, or is started by hand)."""
    overrides = dict(params.get("overrides") or {})
    if params.get("model"):
        challenger = params.get("challenger")
        return {"model": str(params["model"]), "challenger": str(challenger) if challenger else None,
                "overrides": overrides}
    newest: tuple[str, Any] | None = None
    for asset, events in dict(triggering_asset_events or {}).items():
        model = model_of(asset, "challenger")
        for event in events if model is not None else []:
            if newest is None or event.timestamp > newest[1].timestamp:
                newest = (str(model), event)
    if newest is None:
        raise ConfigError("an experiment needs a model: pass {\"model\": ...} (and optionally \"challenger\") or "
                          "let a challenger event start it")
    version = (newest[1].extra or {}).get("version")
    return {"model": newest[0], "challenger": str(version) if version else None, "overrides": overrides}
