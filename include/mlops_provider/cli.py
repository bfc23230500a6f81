"""The `mlops` console script: validate data, write demo data, apply Airflow settings, run the local demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mlops_provider.exceptions import MlopsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# Commands whose own module parses their arguments (`mlops validate --help` shows theirs).
DELEGATED = {
    "validate": ("mlops_provider.validation.cli", "main", "validate a data file against a model's expectation suite"),
    "train": ("mlops_provider.training.cli", "main", "train a model as the train task does (in a pod or job)"),
    "trigger": ("mlops_provider.client.cli", "trigger_main", "trigger mlops_retraining over Airflow's REST API"),
    "monitor": ("mlops_provider.client.cli", "monitor_main", "watch a model's inference log; trigger on drift"),
    "serve": ("mlops_provider.serving.cli", "serve_main", "run the local model server for a model"),
    "drift": ("mlops_provider.drift.cli", "main", "compare two data files (or a profile and a file) for drift"),
    "rollback": ("mlops_provider.client.cli", "rollback_main", "deploy an earlier version over Airflow's REST API"),
    "feedback": ("mlops_provider.client.feedback", "main", "send a labels file (ground truth) for a model"),
    "models": ("mlops_provider.client.models", "main", "every model's champion, serving, drift and retraining"),
    "history": ("mlops_provider.client.history", "main", "every move of a model's aliases: when, from, to, who, why"),
    "passport": ("mlops_provider.client.history", "passport_main", "write a model version's passport to MLflow"),
    "approve": ("mlops_provider.client.approval", "approve_main", "approve a model version waiting for sign-off"),
    "reject": ("mlops_provider.client.approval", "reject_main", "reject a model version waiting for sign-off"),
    "shadow": ("mlops_provider.client.shadow", "main", "shadow a version on live traffic; stop; report on it"),
    "lifecycle": ("mlops_provider.client.lifecycle", "main", "a model's retirement plan, archive rule and archives"),
}


def _delegate(command: str, argv: list[str]) -> int:
    import importlib

    module, function, _ = DELEGATED[command]
    return int(getattr(importlib.import_module(module), function)(argv))


def _demo_data(args: argparse.Namespace) -> int:
    from mlops_provider.demo.datasets import write_demo_data
    from mlops_provider.settings import data_dir

    folder = Path(args.data_dir or data_dir())
    written = write_demo_data(folder, rows=args.rows, drift=args.drift, concept=args.concept, corrupt=args.corrupt)
    for model, path in written.items():
        print(f"{model}: {path}")
    return EXIT_OK


def _scale_models(args: argparse.Namespace) -> int:
    from mlops_provider.scale.generate import generate_models, write_inference_windows

    model_set = generate_models(args.dir, args.count, broken=not args.no_broken)
    if args.windows:
        write_inference_windows(model_set)
    print(f"{len(model_set.plans)} models in {model_set.folder} (broken: {', '.join(model_set.broken) or 'none'})")
    print("point Airflow at them with:")
    for key, value in model_set.env.items():
        print(f"  export {key}={value}")
    return EXIT_OK


def _demo_traffic(args: argparse.Namespace) -> int:
    import os

    from mlops_provider.demo.traffic import send_traffic

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "http://127.0.0.1:5000"
    sent = send_traffic(args.model, tracking_uri=uri, rows=args.rows, drift=args.drift, seed=args.seed,
                        concept=args.concept, labels_to=args.labels)
    print(f"{sent['model']} v{sent['version']}: {sent['rows']} requests (drift {sent['drift']}, concept "
          f"{sent['concept']}) -> {sent['window']}")
    if args.labels:
        print(f"their labels (ground truth, not delivered yet): {args.labels}")
    return EXIT_OK


def _settings_apply(args: argparse.Namespace) -> int:
    from mlops_provider.airflow_settings import apply_settings

    for line in apply_settings(args.file):
        print(f"applied {line}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from mlops_provider.demo import stack

    actions: dict[str, Callable[[], int]] = {"up": stack.up, "down": stack.down, "status": stack.status}
    return actions[args.action]()


def _stack(args: argparse.Namespace) -> int:
    import json

    from mlops_provider.stack import local

    folder = Path(args.dir)
    if args.action == "up":
        if not args.local:
            print("error: only the local stack exists here: mlops stack up --local "
                  "(the containers: docker compose up -d)", file=sys.stderr)
            return EXIT_USAGE
        models = Path(args.models_dir).resolve() if args.models_dir else None
        state = local.up(folder, workers=args.workers, concurrency=args.concurrency, models_dir=models)
        print(json.dumps(state, indent=2))
        return EXIT_OK
    return local.down(folder) if args.action == "down" else local.status(folder)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="The machine-learning lifecycle on Airflow.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command, (_, _, description) in DELEGATED.items():
        commands.add_parser(command, help=f"{description} (see: mlops {command} --help)", add_help=False)

    demo_data = commands.add_parser("demo-data", help="write the demo models' datasets")
    demo_data.add_argument("--data-dir", help="target folder (default: MLOPS_DATA_DIR or ./data)")
    demo_data.add_argument("--rows", type=int, default=5000, help="rows of credit_default data")
    demo_data.add_argument("--drift", type=float, default=0.0, help="0..1: shift, widen, re-mix, add nulls")
    demo_data.add_argument("--concept", type=float, default=0.0,
                           help="0..1: move what makes a credit applicant default (concept drift)")
    demo_data.add_argument("--corrupt", action="store_true", help="break the data (fails validation)")
    demo_data.set_defaults(handler=_demo_data)

    scale = commands.add_parser("scale-models", help="write N generated model configs, suites and data (scale runs)")
    scale.add_argument("--count", type=int, required=True, help="how many models")
    scale.add_argument("--dir", required=True, help="folder for models/, expectations/ and data/")
    scale.add_argument("--no-broken", action="store_true", help="no deliberately broken model among them")
    scale.add_argument("--windows", action="store_true",
                       help="also write one inference window per model, dated now (for the drift monitor)")
    scale.set_defaults(handler=_scale_models)

    traffic = commands.add_parser("demo-traffic", help="score demo requests with the champion, log them as a window")
    traffic.add_argument("model")
    traffic.add_argument("--rows", type=int, default=500)
    traffic.add_argument("--drift", type=float, default=0.0, help="0..1: how far requests move from training data")
    traffic.add_argument("--seed", type=int, default=1)
    traffic.add_argument("--concept", type=float, default=0.0,
                         help="0..1 (credit_default): how far the true default risk moves from what the model learnt")
    traffic.add_argument("--labels", metavar="FILE", help="also write the requests' true labels to FILE (CSV), "
                                                          "to deliver later with `mlops feedback`")
    traffic.add_argument("--tracking-uri", help="MLflow server (default MLFLOW_TRACKING_URI or the demo's)")
    traffic.set_defaults(handler=_demo_traffic)

    settings = commands.add_parser("settings", help="apply airflow_settings.yaml to the configured Airflow")
    settings_commands = settings.add_subparsers(dest="action", required=True)
    apply = settings_commands.add_parser("apply", help="create or update connections, variables and pools")
    apply.add_argument("file", nargs="?", default="airflow_settings.yaml")
    apply.set_defaults(handler=_settings_apply)

    demo = commands.add_parser("demo", help="the local demo stack: MLflow + Airflow standalone under .demo/")
    demo.add_argument("action", choices=["up", "down", "status"])
    demo.set_defaults(handler=_demo)

    stack = commands.add_parser("stack", help="the compose stack's topology as local processes under --dir")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--local", action="store_true", help="up: processes on loopback, not containers")
    stack.add_argument("--dir", default=".stack", help="the stack's folder (default .stack)")
    stack.add_argument("--workers", type=int, default=1, help="up: how many Celery workers (default 1)")
    stack.add_argument("--concurrency", type=int, help="up: task slots per worker (default Airflow's, 16)")
    stack.add_argument("--models-dir", help="up: model configs for Airflow (default include/models)")
    stack.set_defaults(handler=_stack)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        try:
            return _delegate(argv[0], argv[1:])
        except MlopsError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
