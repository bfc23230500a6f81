"""The `lifecycle` block of a model config: a retirement plan's phases in date order and phase order, reductions
strictly decreasing, a phase in the past refused when a plan is first recorded; the archive rule's selection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from mlops_provider.config import parse_model_config
from mlops_provider.exceptions import ConfigError
from mlops_provider.lifecycle.plan import phase_states, plan_problems
from mlops_provider.lifecycle.rules import VersionState, kept, select
from tests.helpers.model_configs import CREDIT_DEFAULT

TODAY = date(2026, 12, 1)


def config_with(lifecycle: dict[str, Any]) -> Any:
    raw = yaml.safe_load(CREDIT_DEFAULT.read_text())
    return parse_model_config({**raw, "lifecycle": lifecycle}, "models/credit_default.yaml")


def plan(*phases: dict[str, Any], replaced_by: str | None = None) -> dict[str, Any]:
    return {"retirement": {"phases": list(phases), **({"replaced_by": replaced_by} if replaced_by else {})}}


def test_a_full_plan_in_order_is_accepted() -> None:
    config = config_with(plan({"phase": "deprecate", "on": "2027-01-01", "message": "use credit_v2"},
                              {"phase": "reduce_traffic", "on": "2027-01-15", "traffic_percent": 50},
                              {"phase": "reduce_traffic", "on": "2027-02-01", "traffic_percent": 10},
                              {"phase": "migrate", "on": "2027-02-15"}, {"phase": "stop", "on": "2027-03-01"},
                              replaced_by="diabetes_progression"))
    retirement = config.lifecycle.retirement
    assert [p.phase for p in retirement.phases] == ["deprecate", "reduce_traffic", "reduce_traffic", "migrate", "stop"]
    assert retirement.phases[2].traffic_percent == 10 and retirement.phases[0].on == date(2027, 1, 1)


@pytest.mark.parametrize(("phases", "said"), [
    ([{"phase": "deprecate", "on": "2027-02-01"}, {"phase": "stop", "on": "2027-01-01"}],
     "phase 1 (stop on 2027-01-01) comes before phase 0 (deprecate on 2027-02-01): list the phases in date order"),
    ([{"phase": "stop", "on": "2027-01-01"}, {"phase": "deprecate", "on": "2027-02-01"}],
     "phase 1 (deprecate on 2027-02-01) follows stop"),
    ([{"phase": "migrate", "on": "2027-01-01"}, {"phase": "reduce_traffic", "on": "2027-02-01", "traffic_percent": 5}],
     "phase 1 (reduce_traffic on 2027-02-01) follows migrate"),
    ([{"phase": "deprecate", "on": "2027-01-01"}, {"phase": "deprecate", "on": "2027-02-01"}],
     "the others come once"),
    ([{"phase": "reduce_traffic", "on": "2027-01-01", "traffic_percent": 20},
      {"phase": "reduce_traffic", "on": "2027-02-01", "traffic_percent": 40}],
     "traffic_percent 40 after 20: each reduction must be lower than the one before"),
])
def test_phases_out_of_order_are_refused_naming_the_key(phases: list[dict[str, Any]], said: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_with(plan(*phases))
    assert "models/credit_default.yaml: key 'lifecycle.retirement.phases'" in str(err.value)
    assert said in str(err.value)


@pytest.mark.parametrize(("lifecycle", "key", "said"), [
    (plan({"phase": "reduce_traffic", "on": "2027-01-01"}), "lifecycle.retirement.phases.0", "needs `traffic_percent`"),
    (plan({"phase": "stop", "on": "2027-01-01", "traffic_percent": 0}), "lifecycle.retirement.phases.0",
     "belongs to reduce_traffic phases"),
    (plan({"phase": "reduce_traffic", "on": "2027-01-01", "traffic_percent": 100}),
     "lifecycle.retirement.phases.0.traffic_percent", "less than or equal to 99"),
    (plan({"phase": "retire", "on": "2027-01-01"}), "lifecycle.retirement.phases.0.phase", "'deprecate'"),
    (plan({"phase": "stop", "on": "next week"}), "lifecycle.retirement.phases.0.on", "valid date"),
    (plan({"phase": "stop", "on": "2027-01-01"}, replaced_by="Credit-V2"), "lifecycle.retirement.replaced_by",
     "not a model name"),
    ({"archive_after_days": -1}, "lifecycle.archive_after_days", "greater than or equal to 0"),
    ({"archive_days": 3}, "lifecycle.archive_days", "unknown key"),
    ({"retirement": {"phases": []}}, "lifecycle.retirement.phases", "at least 1 item"),
])
def test_bad_keys_are_refused_naming_the_key(lifecycle: dict[str, Any], key: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_with(lifecycle)
    assert f"key '{key}'" in str(err.value) and said in str(err.value)


def test_a_phase_in_the_past_is_a_problem_unless_it_was_done() -> None:
    config = config_with(plan({"phase": "deprecate", "on": "2026-11-20"}, {"phase": "stop", "on": "2026-12-01"}))
    problems = plan_problems(config, {}, on=TODAY, known_models=["credit_default"])
    assert problems == ["key 'lifecycle.retirement.phases.0.on': deprecate on 2026-11-20 is in the past (today is "
                        "2026-12-01, UTC) and was never done: date it today or later"]
    done = {0: {"phase": "deprecate", "on": "2026-11-20", "done_at": "2026-11-20T06:30:00+00:00", "did": ["x"]}}
    assert plan_problems(config, done, on=TODAY, known_models=["credit_default"]) == []  # today is not the past


def test_a_replacement_must_be_another_configured_model() -> None:
    config = config_with(plan({"phase": "stop", "on": "2027-01-01"}, replaced_by="credit_v2"))
    assert plan_problems(config, {}, on=TODAY, known_models=["credit_default"]) == [
        "key 'lifecycle.retirement.replaced_by': 'credit_v2' is not a configured model (configured: credit_default)"]
    itself = config_with(plan({"phase": "stop", "on": "2027-01-01"}, replaced_by="credit_default"))
    assert "cannot replace itself" in plan_problems(itself, {}, on=TODAY, known_models=["credit_default"])[0]


def test_phase_states_are_done_due_or_pending() -> None:
    config = config_with(plan({"phase": "deprecate", "on": "2026-11-20"}, {"phase": "migrate", "on": "2026-12-01"},
                              {"phase": "stop", "on": "2026-12-02"}))
    done = {0: {"phase": "deprecate", "on": "2026-11-20", "done_at": "2026-11-20T06:30:00+00:00", "did": ["tagged"]}}
    states = phase_states(config.lifecycle.retirement, done, TODAY)
    assert [(s.phase, s.state) for s in states] == [("deprecate", "done"), ("migrate", "due"), ("stop", "pending")]
    assert states[0].did == ("tagged",) and states[0].done_at == "2026-11-20T06:30:00+00:00"


def _state(version: str, *aliases: str, idle_days: float = 0, archived: str | None = None,
           status: str = "READY") -> VersionState:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    idle = None if aliases else (now - timedelta(days=idle_days)).isoformat(timespec="seconds")
    return VersionState(version, tuple(aliases), idle, archived, status)


def test_the_rule_selects_idle_versions_without_any_alias() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    states = [_state("1", idle_days=40), _state("2", idle_days=10), _state("3", "challenger"),
              _state("4", "serving_local"), _state("5", "previous_champion"), _state("6", "champion"),
              _state("7", idle_days=90, archived="2026-10-01T00:00:00+00:00"), _state("8", idle_days=99,
                                                                                       status="PENDING_REGISTRATION")]
    chosen = select(states, 30, now)
    assert [c.version for c in chosen] == ["1"]
    assert chosen[0].why.startswith("no alias for 40.0 days") and "archive_after_days 30" in chosen[0].why
    assert kept(states, 30, now) == {"2": "no alias for 10.0 of 30 days", "3": "holds challenger",
                                     "4": "holds serving_local", "5": "holds previous_champion",
                                     "6": "holds champion", "7": "archived 2026-10-01T00:00:00+00:00",
                                     "8": "status PENDING_REGISTRATION"}
    assert [c.version for c in select(states, 0, now)] == ["1", "2"]
