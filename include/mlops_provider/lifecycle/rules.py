"""Which versions an archive rule selects: READY, not archived yet, holding no alias of any kind (champion,
previous_champion, challenger, serving_<target>, anything) and holding none for `archive_after_days` days."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.tracking import CHAMPION, PREVIOUS, TAG_ARCHIVED

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.history import Entry

# aliases no archive rule may ever take a version from: asking to archive one of them is refused, not skipped
NEVER_ARCHIVED = (CHAMPION, PREVIOUS)


@dataclass(frozen=True)
class VersionState:
    """One version as the archive rule sees it. `idle_since`: since when it holds no alias (ISO, UTC; None while
    it holds one); `archived`: when it was archived (None: not archived)."""

    version: str
    aliases: tuple[str, ...]
    idle_since: str | None
    archived: str | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """A version the rule selects, and why (in words)."""

    version: str
    idle_days: float
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: int | None) -> datetime:
    return datetime.fromtimestamp((value or 0) / 1000, tz=UTC)


def version_states(client: MlflowClient, model: str, entries: list[Entry] | None = None) -> list[VersionState]:
    """Every version of `model`, oldest first, with its aliases and since when it has been idle. Idle since: the
    latest of its creation, its last update and the last recorded move of an alias away from it (the alias
    history); a move made outside this package is seen through the version's last update only."""
    from mlops_provider.history import read_history

    entries = read_history(client, model) if entries is None else entries
    aliases: dict[str, list[str]] = {}
    for alias, version in (client.get_registered_model(model).aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    left: dict[str, str] = {}
    for entry in entries:  # oldest first: the last move away wins
        if entry.from_ is not None and entry.from_ != entry.to:
            left[entry.from_] = entry.at
    states = []
    for found in client.search_model_versions(f"name='{model}'"):
        version = str(found.version)
        held = tuple(sorted(aliases.get(version, [])))
        idle = max(_ms(found.creation_timestamp), _ms(found.last_updated_timestamp))
        if version in left:
            idle = max(idle, datetime.fromisoformat(left[version]))
        states.append(VersionState(version, held, None if held else idle.isoformat(timespec="seconds"),
                                   (found.tags or {}).get(TAG_ARCHIVED), str(found.status)))
    return sorted(states, key=lambda s: int(s.version))


def select(states: list[VersionState], days: int, now: datetime | None = None) -> list[Candidate]:
    """The versions the rule `archive_after_days: days` archives at `now`: READY, not archived, no alias, idle for
    at least `days` days."""
    now = now or datetime.now(UTC)
    chosen = []
    for state in states:
        if state.archived or state.aliases or state.status != "READY" or state.idle_since is None:
            continue
        idle = now - datetime.fromisoformat(state.idle_since)
        if idle >= timedelta(days=days):
            days_idle = idle.total_seconds() / 86400
            chosen.append(Candidate(state.version, round(days_idle, 2),
                                    f"no alias for {days_idle:.1f} days (since {state.idle_since}; rule: "
                                    f"archive_after_days {days})"))
    return chosen


def kept(states: list[VersionState], days: int, now: datetime | None = None) -> dict[str, str]:
    """Why each version the rule does not select stays: its aliases, archived already, or not idle long enough."""
    now = now or datetime.now(UTC)
    chosen = {c.version for c in select(states, days, now)}
    why = {}
    for state in states:
        if state.version in chosen:
            continue
        if state.archived:
            why[state.version] = f"archived {state.archived}"
        elif state.aliases:
            why[state.version] = "holds " + ", ".join(state.aliases)
        elif state.status != "READY":
            why[state.version] = f"status {state.status}"
        else:
            idle = (now - datetime.fromisoformat(str(state.idle_since))).total_seconds() / 86400
            why[state.version] = f"no alias for {idle:.1f} of {days} days"
    return why
