"""The alias history (`mlops_provider.history`) written by the registry's alias moves, on the real MLflow server;
`mlops history` reading it."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from mlops_provider.history import Entry, acting, read_history, record_move
from tests.helpers.registry_versions import bare_versions, client_for


def moves(entries: list[Entry]) -> list[tuple[str, str | None, str | None, str]]:
    return [(e.alias, e.from_, e.to, e.actor) for e in entries]


def fresh_model(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def test_promote_serve_and_rollback_are_recorded_in_order(mlflow_server: str) -> None:
    from mlops_provider.registry import move_champion, record_rollback, record_serving, register, roll_champion_back

    client, model = client_for(mlflow_server), fresh_model("hist")
    v1, v2 = bare_versions(client, model, 2)
    training: Any = {"run_id": client.get_model_version(model, v1).run_id, "model_uri": "unused"}
    # register finds v1 by its run and DAG run tag only when it made it; tag it so it is found, not created
    client.set_model_version_tag(model, v1, "mlops.dag_run_id", "run-1")
    register(client, model=model, training=training, dag_run_id="run-1", reason="schedule",
             actor="mlops_training/run-1/register")
    move_champion(client, model, v1, actor="mlops_training/run-1/promote", reason="roc_auc 0.80 meets 0.70")
    move_champion(client, model, v2, actor="mlops_training/run-2/promote", reason="roc_auc 0.82 vs v1 0.80")
    with acting("mlops_deployment/run-3/deploy"):
        record_serving(client, model, v2, "local", reason="blue_green deployment verified")
    assert roll_champion_back(client, model, degraded=v2, to=v1, owner="monitor/run-4/act", reason="recall fell")
    record_rollback(client, model, failed=v2, target="local", reason="smoke test failed", served=v1)

    entries = read_history(client, model)
    assert moves(entries) == [
        ("challenger", None, v1, "mlops_training/run-1/register"),
        ("champion", None, v1, "mlops_training/run-1/promote"),
        ("previous_champion", None, v1, "mlops_training/run-2/promote"),
        ("champion", v1, v2, "mlops_training/run-2/promote"),
        ("serving_local", None, v2, "mlops_deployment/run-3/deploy"),
        ("champion", v2, v1, "monitor/run-4/act"),
        ("previous_champion", v1, None, "monitor/run-4/act"),
        ("serving_local", v2, v1, entries[-1].actor),
    ]
    assert entries[-1].actor.startswith("user:"), "outside an acting() block the local user acts"
    assert [e.reason for e in entries][:4] == ["registered (schedule)", "roc_auc 0.80 meets 0.70", "champion before v2",
                                                "roc_auc 0.82 vs v1 0.80"]
    assert entries[5].reason == "recall fell" and entries[7].reason == "rolled back: smoke test failed"
    # each rollback names the entry that put the degraded version there; nothing else undoes anything
    assert entries[5].undoes == entries[3].id and entries[7].undoes == entries[4].id
    assert [e.undoes for e in entries[:5] + entries[6:7]] == [None] * 6
    assert all(e.at.endswith("+00:00") for e in entries) and [e.at for e in entries] == sorted(e.at for e in entries)


def test_moving_an_alias_to_where_it_is_records_nothing(mlflow_server: str) -> None:
    from mlops_provider.registry import move_champion, record_serving

    client, model = client_for(mlflow_server), fresh_model("same")
    (v1,) = bare_versions(client, model, 1)
    move_champion(client, model, v1)
    move_champion(client, model, v1)  # a retried promote task
    record_serving(client, model, v1, "local")
    record_serving(client, model, v1, "local")
    assert [move[:3] for move in moves(read_history(client, model))] == [("champion", None, v1),
                                                                        ("serving_local", None, v1)]


def test_concurrent_appends_from_two_threads_lose_nothing(mlflow_server: str) -> None:
    """Both writers start before the history run exists, so both may create one: every entry is still read."""
    model = fresh_model("race")
    bare_versions(client_for(mlflow_server), model, 1)
    start, written, errors = threading.Barrier(2), [], []

    def append(name: str) -> None:
        client = client_for(mlflow_server)  # a client per thread, as two processes would have
        start.wait()
        try:
            for i in range(8):
                written.append(record_move(client, model, "serving_local", str(i), str(i + 1), f"{name}", "race").id)
        except Exception as err:  # reported below: an exception in a thread would pass silently
            errors.append(err)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    entries = read_history(client_for(mlflow_server), model)
    assert sorted(e.id for e in entries) == sorted(written) and len(written) == 16
    for name in ("a", "b"):  # each writer's own entries keep their order
        assert [e.from_ for e in entries if e.actor == name] == [str(i) for i in range(8)]


def test_acting_is_per_thread(mlflow_server: str) -> None:
    from mlops_provider.history import default_actor

    seen: list[str] = []
    with acting("dag/run/task"):
        thread = threading.Thread(target=lambda: seen.append(default_actor()))
        thread.start()
        thread.join()
        assert default_actor() == "dag/run/task"
    assert seen[0] != "dag/run/task" and default_actor() != "dag/run/task"


def test_a_history_entry_that_is_not_one_is_named(mlflow_server: str) -> None:
    from mlops_provider.exceptions import RegistryError
    from mlops_provider.history import _history_run

    client, model = client_for(mlflow_server), fresh_model("bad")
    bare_versions(client, model, 1)
    client.log_text(_history_run(client, model), "{}", "history/broken.json")
    with pytest.raises(RegistryError, match=rf"model '{model}': history entry broken.json"):
        read_history(client, model)


# -- mlops history -------------------------------------------------------------------------------------------------

def test_mlops_history_prints_the_table_and_json(mlflow_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main
    from mlops_provider.registry import move_champion, roll_champion_back

    client, model = client_for(mlflow_server), fresh_model("cli")
    v1, v2 = bare_versions(client, model, 2)
    move_champion(client, model, v1, actor="cli:alice", reason="first <model>")
    move_champion(client, model, v2, actor="cli:alice", reason="better")
    roll_champion_back(client, model, degraded=v2, to=v1, owner="monitor/r/act", reason="degraded")

    assert main(["history", model, "--tracking-uri", mlflow_server]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "alias", "from", "->", "to", "who", "why", "undoes"]
    assert len(lines) == 6
    assert lines[1].split()[2:7] == ["champion", "-", "->", "v1", "cli:alice"] and "first <model>" in lines[1]
    undone = read_history(client, model)[2].id
    assert lines[4].split()[2:6] == ["champion", "v2", "->", "v1"] and lines[4].rstrip().endswith(undone)

    assert main(["history", model, "--tracking-uri", mlflow_server, "--json", "--alias", "champion"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == model
    assert [(e["from"], e["to"], e["undoes"]) for e in data["entries"]] == [(None, v1, None), (v1, v2, None),
                                                                            (v2, v1, undone)]


def test_mlops_history_errors_exit_2(mlflow_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main
    from mlops_provider.netutil import free_port

    assert main(["history", "no_such_model", "--tracking-uri", mlflow_server]) == 2
    assert "model 'no_such_model' is not registered" in capsys.readouterr().err
    down = f"http://127.0.0.1:{free_port()}"
    assert main(["history", "credit_default", "--tracking-uri", down]) == 2
    assert f"MLflow at {down} is unreachable" in capsys.readouterr().err
    assert main(["history"]) == 2
    assert "the following arguments are required: model" in capsys.readouterr().err
    assert main(["history", "--help"]) == 0
    assert "mlops history credit_default --alias champion" in capsys.readouterr().out


def test_mlops_history_of_a_model_without_moves(mlflow_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main

    client, model = client_for(mlflow_server), fresh_model("quiet")
    bare_versions(client, model, 1)
    assert main(["history", model, "--tracking-uri", mlflow_server]) == 0
    assert capsys.readouterr().out.strip() == f"model '{model}': no alias moves recorded"
