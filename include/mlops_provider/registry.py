"""The model registry steps: register a candidate once per DAG run, decide the gate, move aliases last.

Plain MLflow client calls; no Airflow import.
"""

from __future__ import annotations

import contextlib
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import RegistryError
from mlops_provider.gate import GateDecision, decide, decision_of
from mlops_provider.history import delete_alias, set_alias
from mlops_provider.tracking import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG_CHAMPION_AT_DECISION,
    TAG_CRITERIA,
    TAG_CRITERION,
    TAG_DAG_RUN,
    TAG_DATA_SOURCES,
    TAG_DECISION,
    TAG_DEGRADED,
    TAG_DIGEST,
    TAG_GATE,
    TAG_MANAGED,
    TAG_METRIC,
    TAG_REASON,
    TAG_SCORE_CANDIDATE,
    TAG_SCORE_CHAMPION,
    TAG_VALIDATION,
    serving_alias,
)
from mlops_provider.xcom import Evaluation, Registration, TrainingResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mlflow import MlflowClient

    from mlops_provider.config import GateConfig



def _missing(err: Exception) -> bool:
    return getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    """The version an alias points at, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except MlflowException as err:
        if _missing(err) or "not found" in str(err).lower():
            return None
        # MLflow's basic-auth app answers 403, not 404, for an alias of a model that does not exist (it cannot
        # check a permission on it); reading the model itself tells "no such model" from a real refusal
        if getattr(err, "error_code", "") == "PERMISSION_DENIED" and not model_exists(client, model):
            return None
        raise


def model_exists(client: MlflowClient, model: str) -> bool:
    """False when `model` is not registered; an MLflow that fails otherwise raises (a retry may help)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model)
    except MlflowException as err:
        if _missing(err):
            return False
        raise
    return True


def model_tag(client: MlflowClient, model: str, tag: str) -> str | None:
    """A registered model's tag, or None when the tag or the model does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(model).tags.get(tag)
    except MlflowException as err:
        if _missing(err):
            return None
        raise


def find_version(client: MlflowClient, model: str, run_id: str, dag_run_id: str) -> Any | None:
    """The version this DAG run already registered from this training run, if any."""
    versions = client.search_model_versions(f"name = '{model}' and run_id = '{run_id}'")
    mine = [v for v in versions if v.tags.get(TAG_DAG_RUN) == dag_run_id]
    return min(mine, key=lambda v: int(v.version)) if mine else None


def register(client: MlflowClient, *, model: str, training: TrainingResult, dag_run_id: str, reason: str,
             extra_tags: dict[str, str] | None = None, wait_seconds: float = 60,
             actor: str | None = None) -> Registration:
    """Register the trained model as a version of `model` and point `challenger` at it. Idempotent."""
    from mlflow.exceptions import MlflowException

    existing = find_version(client, model, training["run_id"], dag_run_id)
    if existing is None:
        try:
            client.create_registered_model(model, tags={TAG_MANAGED: "true"})
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {TAG_DAG_RUN: dag_run_id, TAG_REASON: reason, TAG_DIGEST: training.get("data_digest", ""),
                TAG_VALIDATION: training.get("validation", "not validated"),
                TAG_DATA_SOURCES: str(training.get("data_sources", ""))[:5000], **(extra_tags or {})}
        existing = client.create_model_version(model, source=training["model_uri"], run_id=training["run_id"],
                                               tags=tags, model_id=training.get("model_id"))
        created = True
    else:
        created = False
    _wait_ready(client, model, str(existing.version), wait_seconds)
    set_alias(client, model, CHALLENGER, str(existing.version), actor=actor, reason=f"registered ({reason})")
    return {"model": model, "version": str(existing.version), "created": created,
            "run_id": training["run_id"], "model_uri": f"models:/{model}/{existing.version}"}


def _wait_ready(client: MlflowClient, model: str, version: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        status = client.get_model_version(model, version).status
        if status == "READY":
            return
        if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RegistryError(f"model '{model}' version {version} is {status}, not READY")
        time.sleep(0.5)


def decide_evaluation(gate: GateConfig, evaluation: Evaluation) -> GateDecision:
    """Promote only when every criterion judged in `evaluation` passed; an evaluation without criteria (from
    before they existed) is judged on the primary metric alone, as it always was."""
    if evaluation.get("criteria"):
        return decision_of(evaluation["criteria"])
    return decide(metric=gate.metric, higher_is_better=gate.higher_is_better, minimum=float(gate.minimum or 0.0),
                  max_regression=gate.max_regression, candidate=evaluation["candidate_score"],
                  champion=evaluation.get("champion_score"), champion_version=evaluation.get("champion_version"))


def record_decision(client: MlflowClient, model: str, version: str, decision: GateDecision,
                    evaluation: dict[str, Any] | Evaluation) -> None:
    """The decision, the primary metric's scores and every criterion's verdict as version tags."""
    tags = {
        TAG_DECISION: "promoted" if decision.promote else "rejected",
        TAG_GATE: decision.reason[:5000],
        TAG_METRIC: evaluation["metric"],
        TAG_SCORE_CANDIDATE: f"{evaluation['candidate_score']:.6f}",
        TAG_SCORE_CHAMPION: ("" if evaluation.get("champion_score") is None
                             else f"{evaluation['champion_score']:.6f}"),
        TAG_CHAMPION_AT_DECISION: evaluation.get("champion_version") or "",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)
    record_criteria(client, model, version, evaluation)


def record_criteria(client: MlflowClient, model: str, version: str, evaluation: dict[str, Any] | Evaluation
                    ) -> None:
    """Every criterion's verdict as version tags (`mlops.criteria` JSON, one `mlops.gate.<index>.<name>` tag each): the
    approve task writes them before it asks, so the Models page and the passport show what the person judged."""
    criteria = list(evaluation.get("criteria") or [])
    if not criteria:
        return
    tags = {TAG_CRITERIA: _criteria_json(criteria)}
    for criterion in criteria:
        tags[TAG_CRITERION.format(index=criterion["index"], name=criterion["name"])] = str(criterion["verdict"])
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)


def record_refusal(client: MlflowClient, model: str, version: str, why: str) -> None:
    """A candidate a person refused (or nobody approved in time): `mlops.decision=rejected` and why, as the gate
    records its own refusals; the champion is not touched."""
    client.set_model_version_tag(model, version, TAG_DECISION, "rejected")
    client.set_model_version_tag(model, version, TAG_GATE, why[:5000])


def _criteria_json(criteria: list[dict[str, Any]], limit: int = 5000) -> str:
    """The verdicts as JSON within a tag's size: the slices' groups are dropped first when it is too long (the
    criteria table artifact keeps them)."""
    import json

    text = json.dumps(criteria, separators=(",", ":"))
    if len(text) <= limit:
        return text
    slim = [{k: v for k, v in c.items() if k != "groups"} for c in criteria]
    return json.dumps(slim, separators=(",", ":"))[:limit]


def move_champion(client: MlflowClient, model: str, version: str, *, actor: str | None = None,
                  reason: str = "promoted") -> str | None:
    """Point `champion` at `version`, keeping the old one as `previous_champion`. Returns the old one.

    Call it holding `promotion_lock`, after judging `version` against the champion read under the same lock:
    the alias itself has no compare-and-set."""
    old = alias_version(client, model, CHAMPION)
    if old == version:
        return alias_version(client, model, PREVIOUS)
    if old is not None:
        set_alias(client, model, PREVIOUS, old, actor=actor, reason=f"champion before v{version}")
    set_alias(client, model, CHAMPION, version, actor=actor, reason=reason)  # the last step, always
    return old


def rollback_target(client: MlflowClient, model: str, degraded: str, target: str) -> str | None:
    """The version a degraded `degraded` goes back to: `previous_champion`, else the version that served on
    `target` before; never the degraded one, nor one tagged degraded itself."""
    for candidate in (alias_version(client, model, PREVIOUS), previous_version(client, model, target)):
        if candidate is None or candidate == str(degraded):
            continue
        if TAG_DEGRADED not in (client.get_model_version(model, candidate).tags or {}):
            return candidate
    return None


def roll_champion_back(client: MlflowClient, model: str, *, degraded: str, to: str, owner: str,
                       reason: str = "rolled back") -> bool:
    """Under the promotion lock: if `champion` is still `degraded`, point it at `to` and drop `previous_champion`
    (which would otherwise name `to` twice, or the degraded version). False when someone moved it meanwhile."""
    with promotion_lock(client, model, owner=owner):
        if alias_version(client, model, CHAMPION) != str(degraded):
            return False
        set_alias(client, model, CHAMPION, str(to), actor=owner, reason=reason, rollback=True)
        with contextlib.suppress(Exception):
            delete_alias(client, model, PREVIOUS, actor=owner, reason=f"rollback from v{degraded}")
        return True


# -- one promotion of a model at a time ----------------------------------------------------------------------------
#
# `mlops_training` and `mlops_retraining` are different DAGs, so both can promote one model at once; each judges
# its candidate against the champion it read, and moving an alias is a blind write. The read, the judgement and
# the move must be one step per model, across processes and machines. MLflow has no compare-and-set on an alias,
# but it has one atomic test-and-set: creating a registered model whose name exists fails (RESOURCE_ALREADY_EXISTS,
# a unique key in the registry's database). The lock is a registered model named `mlops-lock.promote.<model>`,
# created to take the lock and deleted to release it; its owner and the end of its lease are tags written in the
# same insert, so the lock a killed worker left behind is broken when its lease ends.
# An Airflow pool of one slot would serialize only the promote tasks the scheduler starts in that pool: not a
# promotion started any other way (a test, a CLI, another Airflow), and a task in a pool nobody created never
# runs. The lock lives where the alias lives, so it holds for every writer that goes through this module.

LOCK_OWNER_TAG = "mlops.lock.owner"
LOCK_EXPIRES_TAG = "mlops.lock.expires"  # unix time, seconds


def promotion_lock_name(model: str) -> str:
    return f"mlops-lock.promote.{model}"


@contextmanager
def promotion_lock(client: MlflowClient, model: str, *, owner: str, lease_seconds: float = 600,
                   wait_seconds: float = 900, poll_seconds: float = 1.0) -> Iterator[None]:
    """Hold `model`'s promotion lock for the block; wait for it up to `wait_seconds`, else RegistryError.

    `owner` names the holder (e.g. the task instance); a lock with the same owner is taken over, so a retry of a
    try that died holding it does not wait out the lease. Keep the block shorter than `lease_seconds`."""
    name = promotion_lock_name(model)
    deadline = time.monotonic() + wait_seconds
    while True:
        holder = _take_lock(client, name, owner, lease_seconds)
        if holder == owner:
            break
        if time.monotonic() > deadline:
            raise RegistryError(f"model '{model}': another promotion ({holder}) has held the promotion lock "
                                f"{name} for over {wait_seconds:.0f}s")
        time.sleep(poll_seconds)
    try:
        yield
    finally:
        _release_lock(client, name, owner)


def _take_lock(client: MlflowClient, name: str, owner: str, lease_seconds: float) -> str | None:
    """Try once; returns who holds the lock now (`owner` when we do), None when it was released meanwhile."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, tags={LOCK_OWNER_TAG: owner,
                                                   LOCK_EXPIRES_TAG: f"{time.time() + lease_seconds:.3f}"},
                                       description="held while a promotion judges and moves `champion`")
        return owner
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags = _lock_tags(client, name)
    if tags is None:
        return None
    holder = tags.get(LOCK_OWNER_TAG, "unknown")
    if holder != owner and float(tags.get(LOCK_EXPIRES_TAG) or 0) < time.time():
        _release_lock(client, name, holder)  # its holder died; the next try takes it
        return None
    return holder


def _lock_tags(client: MlflowClient, name: str) -> dict[str, str] | None:
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_registered_model(name).tags or {})
    except MlflowException as err:
        if _missing(err):
            return None
        raise


def _release_lock(client: MlflowClient, name: str, owner: str) -> None:
    """Delete the lock if `owner` still holds it (a lock broken and taken by another is theirs)."""
    from mlflow.exceptions import MlflowException

    tags = _lock_tags(client, name)
    if tags is None or tags.get(LOCK_OWNER_TAG) != owner:
        return
    try:
        client.delete_registered_model(name)
    except MlflowException as err:
        if not _missing(err):
            raise


# -- what the deployment targets serve: alias `serving_<target>`, the previous and failed versions as tags ---------

FAILED_TAG = "mlops.deploy.{target}.failed"
PREVIOUS_TAG = "mlops.deploy.{target}.previous"  # registered-model tag: what served before the current version


def recorded_version(client: MlflowClient, model: str, target: str) -> str | None:
    """The version the registry records as served by `target` (the alias `serving_<target>`)."""
    return alias_version(client, model, serving_alias(target))


def recorded_for_status(registry: Callable[[], MlflowClient], model: str, target: str) -> str | None:
    """`recorded_version` for a status report: None (and a warning) when the registry cannot be read, since what
    the target serves is still worth reporting."""
    try:
        return recorded_version(registry(), model, target)
    except Exception as err:
        import logging

        logging.getLogger(__name__).warning("Model %s: the registry could not be read: %s", model, err)
        return None


def previous_version(client: MlflowClient, model: str, target: str) -> str | None:
    """The version that served on `target` before the recorded one, if any."""
    tags = client.get_registered_model(model).tags or {}
    return tags.get(PREVIOUS_TAG.format(target=target)) or None


def record_serving(client: MlflowClient, model: str, version: str, target: str, *, reason: str = "deployed",
                   rollback: bool = False, actor: str | None = None) -> None:
    """Record that `target` serves `version`: alias `serving_<target>` (the old one kept as a model tag)."""
    old = recorded_version(client, model, target)
    if old is not None and old != str(version):
        client.set_registered_model_tag(model, PREVIOUS_TAG.format(target=target), old)
    set_alias(client, model, serving_alias(target), str(version), actor=actor, reason=reason, rollback=rollback)


def record_failure(client: MlflowClient, model: str, version: str, target: str, reason: str) -> None:
    """Tag the version that failed to deploy with the reason (`mlops.deploy.<target>.failed`)."""
    client.set_model_version_tag(model, str(version), FAILED_TAG.format(target=target), reason[:5000])


def record_rollback(client: MlflowClient, model: str, failed: str, target: str, reason: str,
                    served: str | None) -> None:
    """After a failed deployment: tag the failed version with the reason, and make sure the registry records the
    version that serves again (`served`, if any) as `serving_<target>`."""
    record_failure(client, model, failed, target, reason)
    if served is not None and recorded_version(client, model, target) != served:
        record_serving(client, model, served, target, reason=f"rolled back: {reason}", rollback=True)
