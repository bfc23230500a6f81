"""`mlops lifecycle MODEL [--check] [--json]`: a model's retirement plan (each phase done, due or pending), the
versions its archive rule would archive next and why, and what was archived.

Exit codes: 0 shown (with `--check`: the plan would be accepted), 1 `--check` found problems, 2 bad usage, an
unknown model, or MLflow unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
EPILOG = f"""\
examples:
  mlops lifecycle credit_default
  mlops lifecycle credit_default --check
  mlops lifecycle credit_default --json

A phase in the past is judged when the lifecycle DAG first records the plan; --check judges it the same way
(an already recorded plan is not judged again). See docs/lifecycle.md.

environment:
  MLFLOW_TRACKING_URI  MLflow server when --tracking-uri is not given (default {DEFAULT_TRACKING_URI})

exit codes: 0 shown (--check: the plan is accepted), 1 --check found problems, 2 bad usage, unknown model or
MLflow unreachable
"""


def _registered(client: MlflowClient, model: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def build_report(client: MlflowClient, config: ModelConfig, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything `mlops lifecycle` shows, as JSON-able data."""
    from mlops_provider.lifecycle.plan import (
        done_phases,
        phase_states,
        plan_digest,
        plan_problems,
        recorded_plan,
    )
    from mlops_provider.lifecycle.records import read_records
    from mlops_provider.lifecycle.rules import kept, select, version_states

    now = now or datetime.now(UTC)
    model, lifecycle = config.name, config.lifecycle
    registered = _registered(client, model)
    report: dict[str, Any] = {"model": model, "source": config.source, "registered": registered,
                              "archive_after_days": lifecycle.archive_after_days, "next_archived": [], "kept": {},
                              "archived": [], "plan": None}
    if registered:
        states = version_states(client, model)
        days = lifecycle.archive_after_days
        if days is not None:
            report["next_archived"] = [c.to_dict() for c in select(states, days, now)]
            report["kept"] = kept(states, days, now)
        report["archived"] = [r for r in read_records(client, model) if r.get("action") == "archive"]
    plan = lifecycle.retirement
    if plan is not None:
        done = done_phases(client, model, plan) if registered else {}
        recorded = recorded_plan(client, model) if registered else None
        accepted = recorded is not None and recorded.get("digest") == plan_digest(plan)
        report["plan"] = {"replaced_by": plan.replaced_by, "recorded": recorded if accepted else None,
                          "phases": [s.to_dict() for s in phase_states(plan, done, now.date())],
                          "problems": [] if accepted else plan_problems(config, done, on=now.date())}
    return report


def render(report: dict[str, Any]) -> str:
    """The report as text, one block per concern."""
    lines = [f"model {report['model']} ({report['source']})"]
    if not report["registered"]:
        lines.append("  not registered in MLflow yet")
    days = report["archive_after_days"]
    lines.append("archive rule: " + ("none (lifecycle.archive_after_days not set)" if days is None
                                     else f"versions with no alias for {days} day(s)"))
    if days is not None and report["registered"]:
        lines += [f"  next archived: v{c['version']}: {c['why']}" for c in report["next_archived"]] or \
                 ["  next archived: none"]
        lines += [f"  kept: v{version}: {why}" for version, why in report["kept"].items()]
    lines.append("archived:" + ("" if report["archived"] else " none"))
    for entry in report["archived"]:
        removed = "; ".join(entry.get("removed") or []) or "nothing served it"
        lines.append(f"  v{entry['version']} at {entry['at']}: {entry['why']} (removed: {removed})")
    plan = report["plan"]
    if plan is None:
        lines.append("retirement plan: none")
        return "\n".join(lines)
    recorded = plan["recorded"]
    lines.append("retirement plan" + (f", replaced by {plan['replaced_by']}" if plan["replaced_by"] else "")
                 + (f" (recorded {recorded['recorded_at']})" if recorded else " (not recorded yet)") + ":")
    for phase in plan["phases"]:
        what = phase["phase"] + (f" to {phase['traffic_percent']}%" if phase["traffic_percent"] is not None else "")
        state = phase["state"] + (f" {phase['done_at']}" if phase["done_at"] else "")
        lines.append(f"  {phase['index']}. {phase['on']}  {what:<22} {state}"
                     + (f"  \"{phase['message']}\"" if phase["message"] else ""))
        lines += [f"       - {did}" for did in phase["did"]]
    lines += [f"  problem: {problem}" for problem in plan["problems"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`mlops lifecycle`."""
    parser = argparse.ArgumentParser(
        prog="mlops lifecycle", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="A model's retirement plan (each phase's date and state: done, due or pending), the versions\n"
                    "its archive rule would archive next and why, and what was archived.")
    parser.add_argument("model", help="the configured model (include/models/<model>.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="validate the plan as the lifecycle DAG does when it first records it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking and registry server (default "
                                                              f"MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})")
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    from mlops_provider.cockpit.source import mlflow_client
    from mlops_provider.config import load_model_config

    try:
        config = load_model_config(args.model, check_paths=False)
        uri = (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI).rstrip("/")
        report = build_report(mlflow_client(uri), config)
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    if args.check:
        problems = (report["plan"] or {}).get("problems") or []
        if problems:
            print(f"check: the retirement plan would be refused ({len(problems)} problem(s))", file=sys.stderr)
            return EXIT_PROBLEMS
        print("check: " + ("no retirement plan" if report["plan"] is None else "the retirement plan is accepted"))
    return EXIT_OK
