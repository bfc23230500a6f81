"""The JSON history of lifecycle actions: one artifact per action, `lifecycle/<id>.json`, in a run tagged
`mlops.stage = lifecycle` of the model's experiment `mlops/<model>` (written once, never rewritten, like the alias
history), so `mlops lifecycle MODEL` and the MLflow UI show what was archived or retired, when and why."""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.tracking import LIFECYCLE_DIR, LIFECYCLE_STAGE, TAG_MODEL, TAG_STAGE

if TYPE_CHECKING:
    from mlflow import MlflowClient

RUN_NAME = "lifecycle"


def _runs(client: MlflowClient, model: str, *, create: bool) -> list[str]:
    experiment = client.get_experiment_by_name(f"mlops/{model}")
    if experiment is None:
        if not create:
            return []
        experiment_id = client.create_experiment(f"mlops/{model}")
    else:
        experiment_id = experiment.experiment_id
    found = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_STAGE}` = '{LIFECYCLE_STAGE}'",
                               max_results=50)
    runs = [str(r.info.run_id) for r in sorted(found, key=lambda r: (r.info.start_time or 0, r.info.run_id))]
    if runs or not create:
        return runs
    run = client.create_run(experiment_id, run_name=RUN_NAME, tags={
        TAG_STAGE: LIFECYCLE_STAGE, TAG_MODEL: model,
        "mlflow.note.content": "What the lifecycle did to this model: one JSON file per action under lifecycle/ "
                               "(mlops lifecycle MODEL)."})
    client.update_run(run.info.run_id, status="FINISHED")  # holds files only; set_terminated prints to stdout
    return [run.info.run_id]


def record(client: MlflowClient, model: str, action: str, **fields: Any) -> dict[str, Any]:
    """Append `{id, at, model, action, **fields}` to the model's lifecycle history and return it."""
    at = datetime.now(UTC)
    entry = {"id": f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}", "at": at.isoformat(timespec="seconds"),
             "model": model, "action": action, **fields}
    client.log_text(_runs(client, model, create=True)[0], json.dumps(entry, indent=1, default=str),
                    f"{LIFECYCLE_DIR}/{entry['id']}.json")
    return entry


def read_records(client: MlflowClient, model: str) -> list[dict[str, Any]]:
    """Every lifecycle action recorded for `model`, oldest first."""
    entries = []
    for run_id in _runs(client, model, create=False):
        if not client.list_artifacts(run_id, LIFECYCLE_DIR):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(client.download_artifacts(run_id, LIFECYCLE_DIR, tmp))
            entries += [json.loads(path.read_text()) for path in folder.glob("*.json")]
    return sorted(entries, key=lambda e: (e.get("at", ""), e.get("id", "")))
