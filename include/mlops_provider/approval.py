"""A person signs off a promotion (`gate.approval`): the request's subject and Markdown body, and the answer's record
on the model version. Plain Python (MLflow inside functions): the operator, the CLI and the tests share it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

# the options of Airflow's ApprovalOperator, as the REST API expects them in `chosen_options`
APPROVE, REJECT = "Approve", "Reject"
# the version tag `mlops.approval`
APPROVED, REJECTED, TIMED_OUT = "approved", "rejected", "timed_out"
COMMENT_PARAM = "comment"


def request_subject(model: str, version: str | int) -> str:
    """The request's subject: also how `mlops approve MODEL VERSION` finds it, so it names both exactly."""
    return f"Promote {model} v{version} to champion?"


def request_body(*, model: str, version: str | int, evaluation: Mapping[str, Any],
                 training: Mapping[str, Any] | None = None, validation: Mapping[str, Any] | None = None,
                 links: Mapping[str, str] | None = None) -> str:
    """What the approver reads, in Markdown: candidate vs champion on the same holdout (and the gate's criteria
    table when the evaluation carries one), the training data and its validation, links to MLflow and reports."""
    training, validation = training or {}, validation or {}
    metric = str(evaluation.get("metric", "score"))
    champion = evaluation.get("champion_version")
    lines = [f"### {model} v{version} passed the gate and waits for your sign-off", "",
             f"Scored on the same holdout ({evaluation.get('holdout_rows', '?')} rows):", "",
             f"| | version | {_cell(metric)} |", "|---|---|---|",
             f"| candidate | v{version} | {_number(evaluation.get('candidate_score'))} |"]
    if champion is not None:
        lines.append(f"| champion | v{champion} | {_number(evaluation.get('champion_score'))} |")
    else:
        lines.append("| champion | none yet | |")
    if evaluation.get("champion_error"):
        lines += ["", f"The champion could not be scored: {evaluation['champion_error']}"]
    criteria = evaluation.get("criteria")
    if criteria:
        lines += ["", "#### Criteria", "", *_table(criteria)]
    lines += ["", "#### Data", "",
              f"- digest: `{training.get('data_digest') or evaluation.get('data_digest') or 'unknown'}`"]
    if training.get("data_sources"):
        lines.append(f"- sources: {training['data_sources']}")
    verdict = validation.get("message") or training.get("validation")
    if verdict:
        lines.append(f"- validation: {verdict}")
    if links:
        lines += ["", " · ".join(f"[{name}]({url})" for name, url in links.items() if url)]
    lines += ["", "**Approve** moves `champion` to this version (scored again if the champion moved meanwhile); "
                  "**Reject** leaves it where it is. Your name and comment are recorded on the version."]
    return "\n".join(lines)


def responder(user: Mapping[str, Any] | None) -> str | None:
    """Who answered, from Airflow's `responded_by_user` ({id, name}): the name, and the id when it differs."""
    if not user:
        return None
    name, uid = str(user.get("name") or ""), str(user.get("id") or "")
    if name and uid and name != uid:
        return f"{name} ({uid})"
    return name or uid or None


def record_answer(client: MlflowClient, model: str, version: str | int, *, decision: str, by: str | None,
                  comment: str | None, at: str) -> None:
    """Write the answer on the version (`mlops.approval*` tags); a tag without a value is removed, so a version
    asked twice (a cleared task) never keeps the comment of an earlier answer."""
    from mlops_provider.tracking import TAG_APPROVAL, TAG_APPROVAL_AT, TAG_APPROVAL_BY, TAG_APPROVAL_COMMENT

    if decision not in (APPROVED, REJECTED, TIMED_OUT):
        raise ValueError(f"approval of {model} v{version}: unknown decision '{decision}'")
    values = {TAG_APPROVAL: decision, TAG_APPROVAL_BY: by, TAG_APPROVAL_COMMENT: comment, TAG_APPROVAL_AT: at}
    present = client.get_model_version(model, str(version)).tags
    for key, value in values.items():
        if value:
            client.set_model_version_tag(model, str(version), key, value)
        elif key in present:
            client.delete_model_version_tag(model, str(version), key)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else _cell(value)


def _cell(value: Any) -> str:
    # a pipe or a newline inside a cell would break the table
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: Any) -> list[str]:
    """A Markdown table of a criteria list ([{metric: ..., value: ...}, ...]) or mapping ({name: {...}});
    anything else is shown as it is."""
    if isinstance(rows, Mapping):
        rows = [{"criterion": name, **(row if isinstance(row, Mapping) else {"value": row})}
                for name, row in rows.items()]
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not all(isinstance(r, Mapping) for r in rows):
        return [f"`{_cell(rows)}`"]
    columns: list[str] = []
    for row in rows:
        columns += [str(key) for key in row if str(key) not in columns]
    lines = [f"| {' | '.join(_cell(c) for c in columns)} |", f"|{'---|' * len(columns)}"]
    lines += [f"| {' | '.join(_number(row.get(c)) for c in columns)} |" for row in rows]
    return lines
