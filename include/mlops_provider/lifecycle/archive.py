"""Archiving versions: refuse when the champion or previous_champion is asked for, remove the version's serving
objects, tag it `mlops.lifecycle.archived` (when), `.archived_why`, `.removed`, and record it in the lifecycle
history. Idempotent: an archived version is skipped, so archiving twice does nothing the second time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import LifecycleRefused
from mlops_provider.lifecycle.records import record
from mlops_provider.lifecycle.rules import NEVER_ARCHIVED, select, version_states
from mlops_provider.tracking import TAG_ARCHIVED, TAG_ARCHIVED_REMOVED, TAG_ARCHIVED_WHY

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.lifecycle.serving import Removes


@dataclass
class ArchiveOutcome:
    """What one archive call did: versions archived (version -> what was removed), skipped (version -> why)."""

    model: str
    archived: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _aliases_by_version(client: MlflowClient, model: str) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for alias, version in (client.get_registered_model(model).aliases or {}).items():
        held.setdefault(str(version), []).append(alias)
    return held


def refuse_protected(client: MlflowClient, model: str, versions: list[str]) -> None:
    """Raise `LifecycleRefused` (nothing changed) when a version asked for is champion or previous_champion."""
    held = _aliases_by_version(client, model)
    touched = [f"v{v} is {a}" for v in versions for a in held.get(str(v), []) if a in NEVER_ARCHIVED]
    if touched:
        raise LifecycleRefused(f"model '{model}': refusing to archive: {', '.join(touched)}; an archive rule never "
                               "touches the champion or previous_champion (nothing was archived)")


def archive_versions(client: MlflowClient, config: ModelConfig, why: dict[str, str], *,
                     serving: Removes | None, retiring: bool = False) -> ArchiveOutcome:
    """Archive the versions of `why` (version -> reason). Refused as a whole when one is champion or
    previous_champion, unless `retiring` (the stop phase of a retirement archives every version). A version that
    holds another alias at this moment (it moved since the rule looked) is skipped, not archived.

    :param serving: removes the versions' serving objects; None removes nothing (tags only).
    """
    model = config.name
    if not retiring:
        refuse_protected(client, model, list(why))
    held = _aliases_by_version(client, model)
    outcome = ArchiveOutcome(model)
    for version, reason in why.items():
        found = client.get_model_version(model, str(version))
        if (found.tags or {}).get(TAG_ARCHIVED):
            outcome.skipped[version] = f"archived already ({found.tags[TAG_ARCHIVED]})"
            continue
        if held.get(version) and not retiring:
            outcome.skipped[version] = "holds " + ", ".join(sorted(held[version])) + " now"
            continue
        removed = serving.remove_version(version) if serving is not None else []
        at = datetime.now(UTC).isoformat(timespec="seconds")
        client.set_model_version_tag(model, version, TAG_ARCHIVED_REMOVED, "\n".join(removed) or "nothing served it")
        client.set_model_version_tag(model, version, TAG_ARCHIVED_WHY, reason[:4000])
        record(client, model, "archive", version=version, why=reason, removed=removed)
        client.set_model_version_tag(model, version, TAG_ARCHIVED, at)  # last: a retry before it does it all again
        outcome.archived[version] = removed
    return outcome


def apply_archive_rule(client: MlflowClient, config: ModelConfig, *, serving: Removes | None,
                       now: datetime | None = None) -> ArchiveOutcome:
    """Archive what `lifecycle.archive_after_days` selects now (nothing without the rule)."""
    days = config.lifecycle.archive_after_days
    if days is None:
        return ArchiveOutcome(config.name)
    chosen = select(version_states(client, config.name), days, now)
    return archive_versions(client, config, {c.version: c.why for c in chosen}, serving=serving)
