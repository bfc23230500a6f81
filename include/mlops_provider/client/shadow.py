"""`mlops shadow MODEL VERSION`: shadow a version on the model's deployment target, stop it, or report on it.

    mlops shadow credit_default 4             # start: v4 scores a copy of the live traffic, answers logged apart
    mlops shadow credit_default --stop        # stop (the local server also unloads the shadow version)
    mlops shadow credit_default 4 --report    # the shadow report of the last 24 hours, logged to MLflow

The target is the model's `deploy.target`: `local` (its running model server) or `kubernetes` (an Istio mirror
where the options configure Istio, else the serving pods mirror themselves). Exit codes: 0 done, 1 failed (the
target or MLflow), 2 bad usage (unknown model, no version given, a target without shadow support).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
TARGETS = ("local", "kubernetes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops shadow",
        description="Shadow a model version: it scores a copy of every live request, its answers are logged to "
                    "the model's shadow log and never returned. Without --stop or --report, starts the shadow.",
        epilog="environment:\n  MLFLOW_TRACKING_URI   MLflow server when --tracking-uri is not given\n"
               "  MLOPS_STATE_DIR       state of the local model servers",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="a configured model (include/models/MODEL.yaml)")
    parser.add_argument("version", metavar="VERSION", nargs="?", help="the registered version to shadow")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--stop", action="store_true", help="stop the model's shadow")
    action.add_argument("--report", action="store_true", help="report on VERSION's shadow results")
    parser.add_argument("--hours", type=float, default=24.0, help="--report: the last N hours (default %(default)s)")
    parser.add_argument("--no-log", action="store_true", help="--report: print only, log nothing to MLflow")
    parser.add_argument("--percent", type=float, default=100.0,
                        help="kubernetes with Istio: the share of requests mirrored (default %(default)s)")
    parser.add_argument("--keep-loaded", action="store_true",
                        help="--stop on the local target: keep the version loaded (with no traffic)")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help=f"MLflow server (default MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})")
    parser.add_argument("--state-dir", help="local target: the model servers' state folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    from mlops_provider.config import load_model_config

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.stop and (args.version is None or not args.version.isdigit()):
            parser.error("give the VERSION to shadow or report on (a registered version number, e.g. 4)")
        if args.hours <= 0:
            parser.error(f"--hours must be positive, got {args.hours}")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        config = load_model_config(args.model, check_paths=False)
    except MlopsError as err:
        return _fail(err, EXIT_USAGE)
    if config.deploy.target not in TARGETS:
        return _fail(f"model '{config.name}': deploy.target '{config.deploy.target}' has no shadow support "
                     f"(one of {', '.join(TARGETS)})", EXIT_USAGE)
    tracking = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    try:
        if args.report:
            return _report(config, args, tracking)
        print(_stop(config, args, tracking) if args.stop else _start(config, args, tracking))
    except MlopsError as err:
        return _fail(err, EXIT_FAILED)
    return EXIT_OK


def _start(config: ModelConfig, args: argparse.Namespace, tracking: str) -> str:
    if config.deploy.target == "local":
        from mlops_provider.deploy.local.shadow import start_shadow

        state = start_shadow(config.name, args.version, config, target=_local(args, tracking))
        return f"{config.name}: v{state['version']} is shadowed on the local server (queue of {state['queue_size']})"
    from mlops_provider.deploy.kubernetes import shadow

    cluster, options = _kubernetes(config)
    return "\n".join([f"{config.name}: v{args.version} is shadowed on Kubernetes",
                      *shadow.start_shadow(cluster, config.name, args.version, options, percent=args.percent)])


def _stop(config: ModelConfig, args: argparse.Namespace, tracking: str) -> str:
    if config.deploy.target == "local":
        from mlops_provider.deploy.local.shadow import stop_shadow

        final = stop_shadow(config.name, config, target=_local(args, tracking), unload=not args.keep_loaded)
        if final is None:
            return f"{config.name}: nothing was shadowed"
        return (f"{config.name}: stopped shadowing v{final['version']}: {final['scored']} request(s) scored, "
                f"{final['errors']} failed, {final['dropped']} dropped")
    from mlops_provider.deploy.kubernetes import shadow

    cluster, options = _kubernetes(config)
    steps = shadow.stop_shadow(cluster, config.name, options)
    return "\n".join([f"{config.name}: shadow stopped on Kubernetes", *steps]) if steps \
        else f"{config.name}: nothing was shadowed"


def _report(config: ModelConfig, args: argparse.Namespace, tracking: str) -> int:
    from mlflow import MlflowClient

    from mlops_provider.shadow import log_shadow_report, shadow_report

    dropped = _dropped(config, args, tracking)
    end = datetime.now(UTC)
    report = shadow_report(config, args.version, start=end - timedelta(hours=args.hours), end=end, dropped=dropped)
    print(report.markdown(), end="")
    if report.rows == 0:
        print(f"{config.name}: no shadow rows of v{args.version} in the last {args.hours:g} hour(s)", file=sys.stderr)
        return EXIT_FAILED
    if not args.no_log:
        run_id = log_shadow_report(MlflowClient(tracking_uri=tracking, registry_uri=tracking), config, report)
        print(f"logged to MLflow: run {run_id} of {config.experiment_name}")
    return EXIT_OK


def _dropped(config: ModelConfig, args: argparse.Namespace, tracking: str) -> int | None:
    """The local server's dropped copies when it shadows this version now (None otherwise)."""
    if config.deploy.target != "local":
        return None
    from mlops_provider.deploy.local.shadow import shadow_status

    try:
        state = shadow_status(config.name, target=_local(args, tracking))
    except MlopsError:
        return None
    return int(state["dropped"]) if state is not None and str(state["version"]) == args.version else None


def _local(args: argparse.Namespace, tracking: str) -> Any:
    from mlops_provider.deploy.local.target import LocalTarget

    return LocalTarget(state_dir=args.state_dir, tracking_uri=tracking)


def _kubernetes(config: ModelConfig) -> tuple[Any, Any]:
    from mlops_provider.deploy.kubernetes import KubernetesTarget
    from mlops_provider.deploy.kubernetes.options import KubernetesOptions

    target = KubernetesTarget()
    cluster = target.cluster()  # the Airflow connection, the target's namespace
    return cluster, KubernetesOptions.parse(config.name, config.deploy.options)


def _fail(err: Exception | str, code: int) -> int:
    print(f"mlops shadow: {err}", file=sys.stderr)
    return code
