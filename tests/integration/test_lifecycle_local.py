"""Archiving and retiring on the local target for real: a real MLflow registry, a real detached model server,
its admin API. An archived version is unloaded from the server; a server holding only that version is stopped;
a retired model's server is stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.trained_versions import register_versions


@pytest.fixture
def local(mlflow_server: str, private_model: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.local import LocalTarget
    from tests.helpers.registry_versions import client_for

    name = private_model(f"credit_life_local_{abs(hash(request.node.name)) % 100_000}",
                         lifecycle={"archive_after_days": 0})
    assert register_versions(name, mlflow_server, [5, 10]) == ["1", "2"]
    target = LocalTarget(state_dir=tmp_path / "serving", tracking_uri=mlflow_server, start_timeout=180)
    yield load_model_config(name, check_paths=False), client_for(mlflow_server), target
    target.stop(name)


def weights(target: Any, model: str) -> dict[str, int]:
    server = target.running(model)
    return {} if server is None else {str(k): int(v) for k, v in target.admin.status(server)["weights"].items()}


def test_archiving_unloads_the_version_and_retiring_stops_the_server(local: Any) -> None:
    from mlops_provider.lifecycle.archive import archive_versions
    from mlops_provider.lifecycle.serving import ServingObjects

    config, client, target = local
    model = config.name
    server = target.ensure_server(model, config)  # nothing recorded: an idle server
    target.admin.post(server, "/admin/load", {"version": "2"})  # the only one: all traffic
    target.admin.post(server, "/admin/load", {"version": "1"})  # a leftover beside it, no traffic
    assert weights(target, model) == {"2": 100, "1": 0}
    serving = ServingObjects(config, target=target)

    outcome = archive_versions(client, config, {"1": "no alias for 0.0 days"}, serving=serving)
    assert outcome.archived == {"1": [f"local: unloaded v1 from the model server at {server.url}"]}
    assert weights(target, model) == {"2": 100}
    assert client.get_model_version(model, "1").tags["mlops.lifecycle.removed"].startswith("local: unloaded v1")
    assert serving.remove_version("1") == []  # not held any more: nothing to do

    assert serving.remove_model(["1", "2"]) == [f"local: stopped the model server (pid {server.pid}, {server.url})"]
    assert target.running(model) is None and not target.processes.state_file(model).exists()
    assert serving.remove_model(["1", "2"]) == []


def test_a_server_that_holds_only_the_archived_version_is_stopped(local: Any) -> None:
    from mlops_provider.lifecycle.serving import ServingObjects

    config, _, target = local
    server = target.ensure_server(config.name, config)
    target.admin.post(server, "/admin/load", {"version": "1"})
    done = ServingObjects(config, target=target).remove_version("1")
    assert done == [f"local: stopped the model server (pid {server.pid}, {server.url}) that held only v1"]
    assert target.running(config.name) is None
