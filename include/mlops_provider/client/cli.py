"""`mlops trigger`, `mlops monitor` and `mlops rollback`: command lines that start DAG runs over Airflow's REST API.

Exit codes: 0 success (including "already triggered"), 1 the request or the run failed, 2 bad usage
(`mlops rollback`: also a request Airflow refused, e.g. an unknown model).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_provider.client.airflow import (
    DEFAULT_URL,
    DEFAULT_USER,
    ENV_PASSWORD,
    ENV_URL,
    ENV_USER,
    AirflowClient,
    TriggerError,
)
from mlops_provider.client.trigger import RETRAINING_DAG, trigger_retraining
from mlops_provider.exceptions import MlopsError
from mlops_provider.retraining import REASONS, REQUESTED_BY_PATTERN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
DEPLOYMENT_DAG = "mlops_deployment"
VERSION = re.compile(r"^[0-9]+$")  # the `version` param of mlops_deployment
ENVIRONMENT = f"""\
environment:
  {ENV_URL}       Airflow base URL when --url is not given (default {DEFAULT_URL})
  {ENV_USER}      Airflow user when --user is not given (default {DEFAULT_USER})
  {ENV_PASSWORD}  that user's password (required; never passed on the command line)
"""


def trigger_main(argv: list[str] | None = None) -> int:
    """`mlops trigger MODEL --reason R --requested-by ID [...]`: trigger mlops_retraining, optionally wait."""
    parser = _trigger_parser()
    try:
        args = parser.parse_args(argv)
        if not re.match(REQUESTED_BY_PATTERN, args.requested_by):
            parser.error(f"--requested-by '{args.requested_by}' must be a short id: letters, digits and _ . @ : - "
                         "(up to 64 characters, starting with a letter or digit)")
        drift = _read_drift(parser, args.drift_json) if args.drift_json else None
    except SystemExit as done:
        return _code(done)
    try:
        airflow = AirflowClient.from_env(args.url, args.user)
    except TriggerError as err:
        return _fail(err, EXIT_USAGE)
    with airflow:
        try:
            result = trigger_retraining(airflow, args.model, args.reason, args.requested_by, drift=drift,
                                        key=args.idempotency_key)
        except TriggerError as err:
            return _fail(err, EXIT_FAILED)
        except ValueError as err:
            return _fail(err, EXIT_USAGE)
        if result.created:
            print(f"triggered {RETRAINING_DAG} run {result.dag_run_id}\n  {result.url}")
        else:
            print(f"already triggered: run {result.dag_run_id} ({result.state})\n  {result.url}")
        if not args.wait:
            return EXIT_OK
        state = _wait(airflow, RETRAINING_DAG, result.dag_run_id, args)
        if state is None:
            return EXIT_FAILED
    print(f"run {result.dag_run_id} finished: {state}")
    return EXIT_OK if state == "success" else EXIT_FAILED


def rollback_main(argv: list[str] | None = None) -> int:
    """`mlops rollback MODEL --to VERSION [--no-wait]`: deploy an earlier registered version by hand."""
    from mlops_provider.config import MODEL_NAME

    parser = _rollback_parser()
    try:
        args = parser.parse_args(argv)
        if not MODEL_NAME.match(args.model):
            parser.error(f"model '{args.model}' is not a valid model name (lower-case letters, digits, _)")
        if not VERSION.match(args.to):
            parser.error(f"--to '{args.to}' is not a version number (a registered model version, e.g. 3)")
    except SystemExit as done:
        return _code(done)
    try:
        airflow = AirflowClient.from_env(args.url, args.user)
    except TriggerError as err:
        return _fail(err, EXIT_USAGE)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run_id = f"mlops__{args.model}__rollback__v{args.to}__{stamp}"
    with airflow:
        try:
            result = airflow.trigger(DEPLOYMENT_DAG, {"model": args.model, "version": args.to}, dag_run_id=run_id)
        except TriggerError as err:  # a refusal (HTTP 4xx) is bad input; no answer at all is a failure
            return _fail(err, EXIT_FAILED if err.status is None else EXIT_USAGE)
        print(f"triggered {DEPLOYMENT_DAG} run {result.dag_run_id}: {args.model} -> v{args.to}\n  {result.url}")
        if not args.wait:
            return EXIT_OK
        state = _wait(airflow, DEPLOYMENT_DAG, result.dag_run_id, args)
        if state is None:
            return EXIT_FAILED
    outcome = (f"{args.model} v{args.to} deployed" if state == "success"
               else f"rollback of {args.model} to v{args.to} failed; the previous version keeps serving")
    print(f"run {result.dag_run_id} finished: {state}: {outcome}\n  {result.url}")
    return EXIT_OK if state == "success" else EXIT_FAILED


def monitor_main(argv: list[str] | None = None) -> int:
    """`mlops monitor MODEL [...]`: check the model's inference traffic for drift, trigger retraining on drift."""
    from mlops_provider.client.monitor import mlflow_drift_check, run_monitor
    from mlops_provider.config import load_model_config

    parser = _monitor_parser()
    try:
        args = parser.parse_args(argv)
        if args.interval <= 0:
            parser.error(f"--interval must be positive, got {args.interval}")
    except SystemExit as done:
        return _code(done)
    try:
        config = load_model_config(args.model, check_paths=False)
        airflow = AirflowClient.from_env(args.url, args.user)
    except MlopsError as err:
        return _fail(err, EXIT_USAGE)
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    with airflow:
        try:
            return run_monitor(config, airflow, mlflow_drift_check(config, uri), interval=args.interval,
                               once=args.once, out=lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            print(f"monitor of {config.name} stopped")
            return EXIT_OK


def _trigger_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops trigger", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=ENVIRONMENT,
        description=f"Trigger {RETRAINING_DAG} for a model over Airflow's REST API.\n\n"
                    "The run id is derived from an idempotency key (default: model + reason + UTC hour),\n"
                    "so a repeated request is reported as 'already triggered' instead of starting another run.")
    parser.add_argument("model", help="a configured model name, e.g. credit_default")
    parser.add_argument("--reason", required=True, choices=REASONS, help="why retraining is asked for")
    parser.add_argument("--requested-by", required=True, metavar="ID",
                        help="a short id of the caller, e.g. grafana-alert-7 (recorded on the model version)")
    parser.add_argument("--drift-json", metavar="FILE", help="a JSON object describing the drift ('-' for stdin)")
    parser.add_argument("--idempotency-key", metavar="KEY",
                        help="your own key (an alert or ticket id); the same key never starts a second run")
    parser.add_argument("--wait", action="store_true", help="follow the run; exit 0 only if it succeeds")
    parser.add_argument("--timeout", type=float, default=3600, metavar="S",
                        help="with --wait: give up after S seconds (default 3600)")
    parser.add_argument("--poll", type=float, default=5, metavar="S", help=argparse.SUPPRESS)
    _airflow_arguments(parser)
    return parser


def _rollback_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops rollback", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{ENVIRONMENT}\nexample:\n  mlops rollback credit_default --to 3\n\n"
               "exit codes: 0 the deployment succeeded (or was started, with --no-wait), 1 the run failed or\n"
               "did not end within --timeout, 2 bad input (not a version number, unknown model or any other\n"
               "request Airflow refused)\n",
        description=f"Deploy an earlier registered version of a model: trigger {DEPLOYMENT_DAG} over Airflow's\n"
                    'REST API with conf {"model": MODEL, "version": VERSION} and follow the run to its end.\n\n'
                    "--to is required: look the version up in MLflow (e.g. the alias previous_champion).")
    parser.add_argument("model", help="a configured model name, e.g. credit_default")
    parser.add_argument("--to", required=True, metavar="VERSION", help="the registered version to deploy, e.g. 3")
    parser.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                        help="follow the run; exit 0 only if it succeeds (default: --wait)")
    parser.add_argument("--timeout", type=float, default=3600, metavar="S",
                        help="with --wait: give up after S seconds (default 3600)")
    parser.add_argument("--poll", type=float, default=5, metavar="S", help=argparse.SUPPRESS)
    _airflow_arguments(parser)
    return parser


def _monitor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops monitor", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{ENVIRONMENT}  MLFLOW_TRACKING_URI     MLflow server when --tracking-uri is not given\n"
               f"  MLOPS_MODELS_DIR, MLOPS_DATA_DIR  where model configs and inference logs are\n",
        description="Watch a model's inference log outside Airflow.\n\n"
                    "Every interval, compare the traffic of the last drift.window_minutes (at least\n"
                    "drift.min_rows rows) with the served version's reference profile and, on drift,\n"
                    f"trigger {RETRAINING_DAG} (reason 'drift', at most one run per model and UTC hour).")
    parser.add_argument("model", help="a configured model name, e.g. credit_default")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow tracking and registry server "
                             f"(default MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})")
    parser.add_argument("--once", action="store_true", help="run one check and exit (for cron)")
    parser.add_argument("--interval", type=float, default=300, metavar="S",
                        help="seconds between checks (default 300)")
    _airflow_arguments(parser)
    return parser


def _airflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"Airflow base URL (default {ENV_URL} or {DEFAULT_URL})")
    parser.add_argument("--user", help=f"Airflow user (default {ENV_USER} or '{DEFAULT_USER}')")


def _read_drift(parser: argparse.ArgumentParser, name: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as err:
        parser.error(f"--drift-json {name}: cannot read: {err.strerror or err}")
    try:
        drift = json.loads(text)
    except ValueError as err:
        parser.error(f"--drift-json {name}: not valid JSON: {err}")
    if not isinstance(drift, dict):
        parser.error(f"--drift-json {name}: expected a JSON object, got {type(drift).__name__}")
    return drift


def _code(done: SystemExit) -> int:
    return done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)


def _wait(airflow: AirflowClient, dag_id: str, run_id: str, args: argparse.Namespace) -> str | None:
    """The run's final state, printing each change; None (with the error on stderr) when waiting failed."""
    try:
        return airflow.wait(dag_id, run_id, timeout=args.timeout, poll=args.poll,
                            on_state=lambda state: print(f"run {run_id}: {state}", flush=True))
    except TriggerError as err:
        _fail(err, EXIT_FAILED)
        return None


def _fail(err: Exception, code: int) -> int:
    print(f"error: {err}", file=sys.stderr)
    return code
