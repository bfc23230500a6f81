"""The alias history of a model: every move of `champion`, `previous_champion`, `challenger` and
`serving_<target>`, with when (UTC), from which version to which, who or which run, and why.

Storage: one JSON artifact per entry, `history/<id>.json`, in a run tagged `mlops.stage = history` (run name
`registry-history`) of the model's experiment `mlops/<model>`. Why not registered-model tags
(`mlops.history.<seq>`): every `get_registered_model` and `search_registered_models` (the Models page, the deploy
targets' `previous_version`) would carry the whole history, the MLflow UI would list it among the model's tags,
and a sequence number taken by reading the tags first is a read-modify-write two writers can both win. One file
per entry, named by its UTC time and a random suffix, is written once and never rewritten: two processes
appending at once write two different files, and neither can lose the other's entry. If two writers both create
the history run at once (each found none), both runs exist; writers then pick the oldest and readers merge every
history run, so an entry written to the other run is still read.

Plain MLflow, imported inside functions; no Airflow import. Operators say who acts with `acting(...)`, so the
deploy targets, which do not know the DAG run, record it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import RegistryError
from mlops_provider.tracking import TAG_MODEL, TAG_STAGE

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

HISTORY_STAGE = "history"
HISTORY_RUN_NAME = "registry-history"
HISTORY_DIR = "history"

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("mlops_history_actor", default=None)
_clock = threading.Lock()
_last_stamp: list[datetime] = [datetime.min.replace(tzinfo=UTC)]


@dataclass(frozen=True)
class Entry:
    """One alias move. `from_`/`to` are versions (None: the alias did not exist / was deleted); `undoes` is the
    id of the entry a rollback reverts."""

    id: str
    at: str  # ISO 8601, UTC
    model: str
    alias: str
    from_: str | None
    to: str | None
    actor: str
    reason: str
    undoes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(id=str(data["id"]), at=str(data["at"]), model=str(data.get("model", "")),
                   alias=str(data["alias"]), from_=text("from"), to=text("to"),
                   actor=str(data.get("actor") or "unknown"), reason=str(data.get("reason") or ""),
                   undoes=text("undoes"))


def default_actor() -> str:
    """Who acts when nobody said: the operator's `acting(...)` block, else the local user (`user:<name>`)."""
    import getpass

    found = _actor.get()
    if found:
        return found
    try:
        return f"user:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without a passwd entry)
        return "unknown"


@contextmanager
def acting(actor: str) -> Iterator[None]:
    """Record every alias move made in the block (by this thread) as done by `actor`, e.g. a DAG run's task."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def _stamp() -> datetime:
    """Now in UTC, strictly later than the previous stamp of this process, so one process's entries keep their
    order even when two moves fall in the same microsecond."""
    with _clock:
        now = max(datetime.now(UTC), _last_stamp[0] + timedelta(microseconds=1))
        _last_stamp[0] = now
        return now


def record_move(client: MlflowClient, model: str, alias: str, from_: str | None, to: str | None,
                actor: str | None = None, reason: str = "", undoes: str | None = None) -> Entry:
    """Append one entry to `model`'s history and return it. Raises what MLflow raises."""
    at = _stamp()
    entry = Entry(id=f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}", at=at.isoformat(timespec="microseconds"),
                  model=model, alias=alias, from_=None if from_ is None else str(from_),
                  to=None if to is None else str(to), actor=actor or default_actor(), reason=reason[:2000],
                  undoes=undoes)
    client.log_text(_history_run(client, model), json.dumps(entry.to_dict(), indent=1),
                    f"{HISTORY_DIR}/{entry.id}.json")
    return entry


def record_safely(client: MlflowClient, model: str, alias: str, from_: str | None, to: str | None,
                  actor: str | None = None, reason: str = "", *, rollback: bool = False) -> Entry | None:
    """`record_move` for the registry's alias moves: the alias has moved already, so a history that cannot be
    written is a warning (with the entry, so the task log keeps it), never a failed promotion or deployment.
    With `rollback`, the entry names the one it undoes: the newest that put `from_` on `alias`."""
    if from_ is not None and to is not None and str(from_) == str(to):
        return None
    try:
        undoes = None
        if rollback and from_ is not None:
            undone = entry_that_set(read_history(client, model), alias, str(from_))
            undoes = undone.id if undone else None
        return record_move(client, model, alias, from_, to, actor, reason, undoes)
    except Exception as err:
        log.warning("Model %s: alias %s moved %s -> %s (%s: %s) but the history could not be written: %s",
                    model, alias, from_, to, actor or default_actor(), reason, err)
        return None


def entry_that_set(entries: list[Entry], alias: str, version: str) -> Entry | None:
    """The newest entry that pointed `alias` at `version` (what a rollback of that version undoes)."""
    for entry in reversed(entries):
        if entry.alias == alias and entry.to == str(version):
            return entry
    return None


def read_history(client: MlflowClient, model: str) -> list[Entry]:
    """Every entry of `model`'s history, oldest first; [] when nothing was recorded."""
    import tempfile
    from pathlib import Path

    entries = []
    for run_id in _history_runs(client, model):
        if not client.list_artifacts(run_id, HISTORY_DIR):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(client.download_artifacts(run_id, HISTORY_DIR, tmp))
            for path in folder.glob("*.json"):
                try:
                    entries.append(Entry.from_dict(json.loads(path.read_text())))
                except (ValueError, KeyError) as err:
                    raise RegistryError(f"model '{model}': history entry {path.name} of run {run_id} is not a "
                                        f"history entry: {err}") from err
    return sorted(entries, key=lambda e: (e.at, e.id))


def versions_entries(entries: list[Entry], version: str) -> list[Entry]:
    """The entries that moved an alias to or away from `version`."""
    return [e for e in entries if str(version) in (e.to, e.from_)]


def _experiment_id(client: MlflowClient, model: str, *, create: bool) -> str | None:
    from mlflow.exceptions import MlflowException

    name = f"mlops/{model}"
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if not create:
        return None
    try:
        return str(client.create_experiment(name))
    except MlflowException as err:  # created by another writer meanwhile
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        found = client.get_experiment_by_name(name)
        assert found is not None
        return str(found.experiment_id)


def _history_runs(client: MlflowClient, model: str, experiment_id: str | None = None) -> list[str]:
    """The history runs of `model`, oldest first (normally one; two after a creation race)."""
    experiment_id = experiment_id or _experiment_id(client, model, create=False)
    if experiment_id is None:
        return []
    found = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_STAGE}` = '{HISTORY_STAGE}'",
                               max_results=50)
    return [str(r.info.run_id) for r in sorted(found, key=lambda r: (r.info.start_time or 0, r.info.run_id))]


def _history_run(client: MlflowClient, model: str) -> str:
    """The run the history of `model` is appended to, created on first use."""
    experiment_id = _experiment_id(client, model, create=True)
    assert experiment_id is not None
    found = _history_runs(client, model, experiment_id)
    if found:
        return found[0]
    run = client.create_run(experiment_id, run_name=HISTORY_RUN_NAME,
                            tags={TAG_STAGE: HISTORY_STAGE, TAG_MODEL: model,
                                  "mlflow.note.content": "The alias history of the registered model: one JSON "
                                                         "file per move under history/ (mlops history MODEL)."})
    # it holds files only, and a run left RUNNING looks like a job in progress (`update_run`, unlike
    # `set_terminated`, prints no "View run" line to stdout, which is a CLI's output)
    client.update_run(run.info.run_id, status="FINISHED")
    return _history_runs(client, model, experiment_id)[0]  # the oldest, should another writer have made one too


# -- the alias moves of `mlops_provider.registry`, each with its entry ---------------------------------------------

def current_alias(client: MlflowClient, model: str, alias: str) -> str | None:
    aliases = client.get_registered_model(model).aliases or {}
    value = aliases.get(alias)
    return None if value is None else str(value)


def set_alias(client: MlflowClient, model: str, alias: str, version: str, *, actor: str | None = None,
              reason: str = "", rollback: bool = False) -> str | None:
    """Point `alias` at `version` and record the move (none when it already pointed there); returns the version
    it pointed at before. With `rollback`, the entry names the entry it undoes."""
    old = current_alias(client, model, alias)
    client.set_registered_model_alias(model, alias, str(version))
    record_safely(client, model, alias, old, str(version), actor, reason, rollback=rollback)
    return old


def delete_alias(client: MlflowClient, model: str, alias: str, *, actor: str | None = None,
                 reason: str = "") -> None:
    """Delete `alias` (when it exists) and record it as a move to nothing."""
    old = current_alias(client, model, alias)
    if old is None:
        return
    client.delete_registered_model_alias(model, alias)
    record_safely(client, model, alias, old, None, actor, reason)
