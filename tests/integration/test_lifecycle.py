"""Archive rules and retirement phases on a real MLflow server: aliased versions kept, the champion refused,
archiving and each phase done once, a plan in the past refused when first recorded, `mlops lifecycle` output."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mlops_provider.exceptions import LifecycleRefused
from mlops_provider.tracking import TAG_ARCHIVED, TAG_ARCHIVED_WHY
from tests.helpers.registry_versions import bare_versions, client_for

TODAY = datetime.now(UTC).date()


@pytest.fixture
def registered(mlflow_server: str, private_model: Any, request: pytest.FixtureRequest) -> Any:
    """A private copy of credit_default with five bare versions: v5 champion, v4 previous_champion, v3 challenger,
    v2 serving_local, v1 none (the champion moved 1 -> 5 through the alias history). `make(**changes)` writes
    the config with `changes` and returns (config, client)."""
    from mlops_provider.history import set_alias

    name = f"credit_life_{abs(hash(request.node.name)) % 100_000}"
    client = client_for(mlflow_server)
    bare_versions(client, name, 5)
    set_alias(client, name, "champion", "1", reason="first")
    set_alias(client, name, "champion", "5", reason="better")
    for alias, version in (("previous_champion", "4"), ("challenger", "3"), ("serving_local", "2")):
        client.set_registered_model_alias(name, alias, version)

    def make(**changes: Any) -> tuple[Any, Any]:
        from mlops_provider.config import load_model_config

        private_model(name, **changes)
        return load_model_config(name, check_paths=False), client

    return make


def archived(client: Any, model: str) -> dict[str, str]:
    return {str(v.version): v.tags[TAG_ARCHIVED_WHY] for v in client.search_model_versions(f"name='{model}'")
            if TAG_ARCHIVED in (v.tags or {})}


def test_the_rule_archives_only_unaliased_versions_once(registered: Any) -> None:
    from mlops_provider.lifecycle.archive import apply_archive_rule
    from mlops_provider.lifecycle.records import read_records

    config, client = registered(lifecycle={"archive_after_days": 0})
    first = apply_archive_rule(client, config, serving=None)
    assert list(first.archived) == ["1"]  # v2..v5 hold serving_local, challenger, previous_champion, champion
    assert archived(client, config.name)["1"].startswith("no alias for 0.0 days (since ")
    tags = client.get_model_version(config.name, "1").tags
    assert tags["mlops.lifecycle.removed"] == "nothing served it" and tags[TAG_ARCHIVED].startswith(str(TODAY))
    again = apply_archive_rule(client, config, serving=None)
    assert again.archived == {} and again.skipped == {}  # an archived version is not selected again
    assert [(r["action"], r["version"]) for r in read_records(client, config.name)] == [("archive", "1")]


def test_the_alias_history_says_since_when_a_version_is_idle(registered: Any) -> None:
    from mlops_provider.lifecycle.archive import apply_archive_rule
    from mlops_provider.lifecycle.rules import version_states

    config, client = registered(lifecycle={"archive_after_days": 1})
    v1 = next(s for s in version_states(client, config.name) if s.version == "1")
    assert v1.aliases == () and v1.idle_since is not None
    assert apply_archive_rule(client, config, serving=None).archived == {}  # idle for seconds, not a day
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert list(apply_archive_rule(client, config, serving=None, now=later).archived) == ["1"]


def test_archiving_the_champion_or_previous_champion_is_refused_and_changes_nothing(registered: Any) -> None:
    from mlops_provider.lifecycle.archive import archive_versions

    config, client = registered(lifecycle={"archive_after_days": 0})
    for version, alias in (("5", "champion"), ("4", "previous_champion")):
        with pytest.raises(LifecycleRefused) as err:
            archive_versions(client, config, {"1": "old", version: "old"}, serving=None)
        assert f"v{version} is {alias}" in str(err.value) and "nothing was archived" in str(err.value)
    assert archived(client, config.name) == {}
    skipped = archive_versions(client, config, {"3": "old"}, serving=None)  # any other alias: kept, said why
    assert skipped.archived == {} and skipped.skipped == {"3": "holds challenger now"}


def plan(*phases: tuple[str, date, dict[str, Any]]) -> dict[str, Any]:
    return {"retirement": {"replaced_by": "credit_default",
                           "phases": [{"phase": p, "on": on.isoformat(), **extra} for p, on, extra in phases]}}


def test_retirement_phases_act_once_and_stop_retires_the_model(registered: Any, private_model: Any) -> None:
    from mlops_provider.lifecycle.phases import run_due_phases
    from mlops_provider.lifecycle.records import read_records
    from mlops_provider.tracking import TAG_DEPRECATED, TAG_RETIRED, TAG_TRAFFIC_PERCENT

    private_model("credit_default")  # the replacement, configured
    config, client = registered(lifecycle=plan(
        ("deprecate", TODAY, {"message": "move to credit_default"}),
        ("reduce_traffic", TODAY, {"traffic_percent": 30}),
        ("migrate", TODAY + timedelta(days=3), {}), ("stop", TODAY + timedelta(days=7), {})))
    alerts: list[tuple[str, str]] = []
    tell = lambda summary, details: alerts.append((summary, details))  # noqa: E731

    ran = run_due_phases(client, config, serving=None, alert=tell)
    assert [r["phase"] for r in ran] == ["deprecate", "reduce_traffic"]
    tags = client.get_registered_model(config.name).tags
    notice = json.loads(tags[TAG_DEPRECATED])
    assert notice["replaced_by"] == "credit_default" and notice["stop_on"] == str(TODAY + timedelta(days=7))
    assert tags[TAG_TRAFFIC_PERCENT] == "30"
    assert alerts[0][0] == f"{config.name} is deprecated; replaced by credit_default; serving stops on " \
                           f"{TODAY + timedelta(days=7)}"
    assert run_due_phases(client, config, serving=None, alert=tell) == []  # the same day again: nothing
    assert len(alerts) == 2

    late = run_due_phases(client, config, serving=None, alert=tell, on=TODAY + timedelta(days=9))
    assert [r["phase"] for r in late] == ["migrate", "stop"]  # missed days: overdue phases act, in order
    assert "credit_default: local target" in alerts[2][0]
    model = client.get_registered_model(config.name)
    assert model.aliases == {} and TAG_RETIRED in model.tags
    assert set(archived(client, config.name)) == {"1", "2", "3", "4", "5"}  # champion too: the model is retired
    stop = late[1]["did"]
    assert "archived 5 version(s): v1, v2, v3, v4, v5" in stop and "removed alias champion (was v5)" in stop
    assert [r["phase"] for r in read_records(client, config.name) if r["action"] == "phase"] == [
        "deprecate", "reduce_traffic", "migrate", "stop"]
    from mlops_provider.history import read_history

    assert [(e.alias, e.from_, e.to) for e in read_history(client, config.name)][-1][2] is None


def test_a_plan_with_a_phase_in_the_past_is_refused_when_first_recorded_not_after(registered: Any) -> None:
    from mlops_provider.lifecycle.phases import run_due_phases

    yesterday = TODAY - timedelta(days=1)
    config, client = registered(lifecycle={"retirement": {"phases": [{"phase": "deprecate",
                                                                     "on": yesterday.isoformat()}]}})
    with pytest.raises(LifecycleRefused) as err:
        run_due_phases(client, config, serving=None)
    assert f"key 'lifecycle.retirement.phases.0.on': deprecate on {yesterday} is in the past" in str(err.value)
    assert config.source in str(err.value)
    assert "mlops.lifecycle.plan" not in client.get_registered_model(config.name).tags  # nothing recorded

    # recorded yesterday (judged then: not in the past), the DAG missed the day: today it acts, late
    assert run_due_phases(client, config, serving=None, on=yesterday) != []
    assert run_due_phases(client, config, serving=None) == []


def test_mlops_lifecycle_shows_the_plan_the_next_archives_and_what_was_archived(
        registered: Any, private_model: Any, mlflow_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.client.lifecycle import main
    from mlops_provider.lifecycle.archive import archive_versions
    from mlops_provider.lifecycle.phases import run_due_phases

    private_model("credit_default")
    config, client = registered(lifecycle={"archive_after_days": 0, **plan(
        ("deprecate", TODAY, {"message": "use credit_default"}), ("stop", TODAY + timedelta(days=30), {}))})
    run_due_phases(client, config, serving=None)
    client.delete_registered_model_alias(config.name, "challenger")  # v3 idle now: next archived
    archive_versions(client, config, {"1": "by hand"}, serving=None)

    assert main([config.name, "--tracking-uri", mlflow_server]) == 0
    out = capsys.readouterr().out
    assert f"model {config.name} ({config.source})" in out
    assert "archive rule: versions with no alias for 0 day(s)" in out
    assert "  next archived: v3: no alias for 0.0 days" in out
    assert "  kept: v5: holds champion" in out and "  kept: v1: archived " in out
    assert "  v1 at " in out and ": by hand (removed: nothing served it)" in out
    assert "retirement plan, replaced by credit_default (recorded " in out
    assert f"  0. {TODAY}  deprecate              done " in out
    assert f"  1. {TODAY + timedelta(days=30)}  stop                   pending" in out
    assert "       - tagged mlops.lifecycle.deprecated" in out

    assert main([config.name, "--tracking-uri", mlflow_server, "--check"]) == 0
    assert "check: the retirement plan is accepted" in capsys.readouterr().out
    assert main([config.name, "--json", "--tracking-uri", mlflow_server]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["state"] for p in report["plan"]["phases"]] == ["done", "pending"]


def test_mlops_lifecycle_check_refuses_a_new_plan_in_the_past(registered: Any, mlflow_server: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.client.lifecycle import main

    config, _ = registered(lifecycle={"retirement": {"replaced_by": "nobody", "phases": [
        {"phase": "stop", "on": (TODAY - timedelta(days=2)).isoformat()}]}})
    assert main([config.name, "--check", "--tracking-uri", mlflow_server]) == 1
    captured = capsys.readouterr()
    assert "(not recorded yet)" in captured.out and "would be refused (2 problem(s))" in captured.err
    assert "problem: key 'lifecycle.retirement.phases.0.on': stop on" in captured.out
    assert "problem: key 'lifecycle.retirement.replaced_by': 'nobody' is not a configured model" in captured.out


def test_the_demo_step_archives_unaliased_versions_and_shows_a_plan(registered: Any, private_model: Any,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.demo import lifecycle as demo
    from mlops_provider.demo.summary import STEPS

    private_model("breast_cancer")  # the demo plan's replacement, configured
    config, client = registered()  # the demo model's own config: archive_after_days 30
    client.delete_registered_model_alias(config.name, "challenger")
    monkeypatch.setattr(demo, "MODEL", config.name)
    monkeypatch.setattr(demo, "mlflow_client", lambda: client)
    demo.lifecycle_demo()
    out = capsys.readouterr().out
    assert "[demo]   archive rule: versions with no alias for 30 day(s)" in out
    assert f"[demo] archived {config.name} v1: nothing served it" in out
    assert f"[demo] archived {config.name} v3: nothing served it" in out
    assert "[demo]   retirement plan, replaced by breast_cancer (not recorded yet):" in out
    assert "reduce_traffic to 50%" in out and "problem:" not in out
    assert set(archived(client, config.name)) == {"1", "3"}
    assert STEPS[-1][1] == ("archived v1, v3; kept v2 (holds serving_local), v4 (holds previous_champion), "
                            "v5 (holds champion)")
    assert "mlops.lifecycle.plan" not in client.get_registered_model(config.name).tags  # shown, not recorded


def test_a_retired_model_is_not_trained_or_registered_again(registered: Any, mlflow_conn: str) -> None:
    """A new champion would bring a retired model back: its training skips, and so does registering a result
    trained elsewhere (a pod or a training job), naming the tag."""
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops_provider.operators.registry import RegisterModelOperator
    from mlops_provider.operators.training import TrainModelOperator
    from mlops_provider.tracking import TAG_RETIRED

    config, client = registered()
    client.set_registered_model_tag(config.name, TAG_RETIRED, "2026-12-01T06:30:00+00:00")
    context = {"run_id": "manual__retired", "ti": None}
    with pytest.raises(AirflowSkipException, match=f"model '{config.name}' was retired on 2026-12-01T06:30"):
        TrainModelOperator(task_id="train", model=config.name).execute(context)
    training = {"run_id": "0" * 32, "model_uri": "runs:/x/model", "experiment_id": "1", "reused": False}
    with pytest.raises(AirflowSkipException, match="not trained or registered again"):
        RegisterModelOperator(task_id="register", model=config.name, training=training, reason="manual"
                              ).execute(context)
    assert len(client.search_model_versions(f"name='{config.name}'")) == 5, "no version was added"
