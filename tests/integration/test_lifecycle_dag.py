"""`mlops_lifecycle` in dag.test() on a real MLflow server: the archive rule archives the unaliased version, the
deprecation due today acts and alerts a real HTTP receiver once; a second run the same day repeats nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers.registry_versions import bare_versions
from tests.helpers.webhook import webhook_receiver


def states(run: Any) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}


def test_the_daily_run_archives_and_deprecates_once(mlflow_conn: str, private_model: Any, load_dag: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from mlops_provider.tracking import TAG_ARCHIVED, TAG_DEPRECATED

    today = datetime.now(UTC).date().isoformat()
    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_LIFECYCLE_HOOK", json.dumps({"conn_type": "http", "host": hook.base}))
        name = private_model("credit_life_dag", lifecycle={
            "archive_after_days": 0,
            "retirement": {"phases": [{"phase": "deprecate", "on": today, "message": "moving on"},
                                      {"phase": "stop", "on": "2099-01-01"}]}},
            alerts=[{"notifier": "http", "conn_id": "lifecycle_hook", "on": ["lifecycle"]}])
        client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
        bare_versions(client, name, 3)
        client.set_registered_model_alias(name, "champion", "3")
        client.set_registered_model_alias(name, "previous_champion", "2")

        run = load_dag("mlops_lifecycle").test()
        assert str(run.state) == "success", states(run)
        assert states(run) == {"model.archive[0]": "success", "model.retire[0]": "success"}
        tags = {v.version: v.tags for v in client.search_model_versions(f"name='{name}'")}
        assert TAG_ARCHIVED in tags["1"] and TAG_ARCHIVED not in tags["2"] and TAG_ARCHIVED not in tags["3"]
        notice = json.loads(client.get_registered_model(name).tags[TAG_DEPRECATED])
        assert notice == {"on": today, "message": "moving on", "replaced_by": None, "stop_on": "2099-01-01"}
        assert len(hook.posts) == 1
        alert = json.loads(hook.posts[0]["body"])
        assert alert["kind"] == "lifecycle" and alert["summary"] == (f"{name} is deprecated; serving stops on "
                                                                     "2099-01-01")
        assert "moving on" in alert["details"]

        again = load_dag("mlops_lifecycle").test()
        assert str(again.state) == "success", states(again)
        assert len(hook.posts) == 1  # the same day again: the phase is not repeated, nobody told twice
        archived = [r for r in again.get_task_instances() if r.task_id == "model.archive"][0]
        assert archived.xcom_pull(task_ids="model.archive", map_indexes=0) == {
            "model": name, "archived": {}, "skipped": {}}
