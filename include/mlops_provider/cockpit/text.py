"""How the cockpit writes a score and a time, the same on the page and in the terminal."""

from __future__ import annotations

from datetime import datetime

DASH = "—"


def score_text(metric: str | None, score: float | None) -> str:
    """`roc_auc 0.9312`, or the dash when there is no score."""
    if score is None:
        return DASH
    return f"{metric} {score:.4f}" if metric else f"{score:.4f}"


def when(iso: str | None) -> str:
    """`2025-06-01 14:03 UTC` from an ISO time, the text itself when it is not one, the dash when missing."""
    if not iso:
        return DASH
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {zone}".rstrip()
