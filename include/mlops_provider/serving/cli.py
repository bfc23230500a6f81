"""`mlops serve MODEL`: run the local model server for a configured model from the terminal.

Exit codes: 0 stopped cleanly, 1 failed (MLflow unreachable, or failed while serving), 2 bad input (unknown model
or version, bad option, port taken). With `--version` or `--alias`, the registry is asked before the server starts,
so a version that does not exist or an MLflow that does not answer ends the command within seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from mlops_provider.exceptions import DeploymentError, MlopsError
from mlops_provider.tracking import CHAMPION

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
DEFAULT_PORT = 5050
# MLflow's own defaults (7 retries, backoff factor 2, 120 s timeout) make one unanswered call last minutes; the
# server's calls are bounded to seconds unless the environment says otherwise
MLFLOW_HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                      "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops serve",
        description="Serve a registered model over HTTP in MLflow's scoring format, logging every request to the "
                    "model's inference log. The admin API (load, traffic, promote, unload, flush) listens on "
                    "127.0.0.1 only.",
        epilog="environment:\n  MLFLOW_TRACKING_URI   MLflow server when --tracking-uri is not given\n"
               "  MLOPS_MODELS_DIR      folder of the model configs\n"
               "  MLOPS_DATA_DIR        root of relative data and inference-log paths",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a configured model (include/models/MODEL.yaml)")
    parser.add_argument("--host", default="127.0.0.1", help="address of the scoring API (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of the scoring API (default %(default)s)")
    parser.add_argument("--admin-port", type=int, help="loopback port of the admin API (default: --port + 1)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="serve this registered version")
    which.add_argument("--alias", help="serve the version under this alias (default: champion)")
    which.add_argument("--idle", action="store_true", help="start with no version; load one through the admin API")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help=f"MLflow tracking and registry server (default MLFLOW_TRACKING_URI or "
                             f"{DEFAULT_TRACKING_URI})")
    parser.add_argument("--routing", choices=("random", "hash"), default="random",
                        help="how a split picks a version per request: at random by weight, or by a hash of the "
                             "X-Routing-Key header (default: of the body), so a key always gets the same version")
    parser.add_argument("--log-rows", type=int, default=10_000, help="write an inference-log window every N rows")
    parser.add_argument("--log-seconds", type=float, default=60.0,
                        help="... or when the oldest unwritten row is T seconds old")
    parser.add_argument("--max-body-mb", type=float, default=10.0,
                        help="refuse request bodies over this size with 413 (default %(default)s)")
    parser.add_argument("--shadow-queue", type=int, default=1000,
                        help="requests waiting for a shadow version before copies are dropped (default %(default)s)")
    parser.add_argument("--shadow", metavar="VERSION",
                        help="also score a copy of every request with this version, answers logged apart "
                             "(<inference>/shadow), never returned")
    parser.add_argument("--shadow-log", action="store_true",
                        help="this server is a shadow (the target of a mirror): log to <inference>/shadow")
    parser.add_argument("--no-inference-log", action="store_true",
                        help="do not log requests (benchmarks, and a server before production such as staging)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def serve_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mlops_provider.config import load_model_config
    from mlops_provider.serving.server import ServerOptions, registry_version, serve

    try:
        config = load_model_config(args.model, check_paths=False)
    except MlopsError as err:
        print(f"mlops serve: {err}", file=sys.stderr)
        return EXIT_USAGE
    for name, port in (("--port", args.port), ("--admin-port", args.admin_port)):
        if port is not None and not 0 < port < 65536:
            print(f"mlops serve: {name} {port} is not a TCP port", file=sys.stderr)
            return EXIT_USAGE
    admin_port = args.admin_port or args.port + 1
    if admin_port == args.port:
        print("mlops serve: --admin-port must differ from --port", file=sys.stderr)
        return EXIT_USAGE
    options = ServerOptions(
        model=config.name,
        tracking_uri=args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI,
        host=args.host, port=args.port, admin_port=admin_port,
        version=args.version, alias=None if (args.idle or args.version) else (args.alias or CHAMPION),
        routing=args.routing, log_rows=args.log_rows, log_seconds=args.log_seconds,
        inference_log=not args.no_inference_log, log_level=args.log_level,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024), shadow_queue=args.shadow_queue,
        shadow=args.shadow, shadow_log=args.shadow_log,
    )
    if options.shadow_queue <= 0:
        print("mlops serve: --shadow-queue must be positive", file=sys.stderr)
        return EXIT_USAGE
    if options.max_body_bytes <= 0:
        print("mlops serve: --max-body-mb must be positive", file=sys.stderr)
        return EXIT_USAGE
    for name, value in MLFLOW_HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)
    if options.version is not None or options.alias is not None:
        try:
            version = registry_version(config.name, options)
        except DeploymentError as err:
            print(f"mlops serve: {err}", file=sys.stderr)
            return EXIT_USAGE
        except MlopsError as err:
            print(f"mlops serve: {err}", file=sys.stderr)
            return EXIT_FAILED
        options = dataclasses.replace(options, version=version, alias=None)
    print(f"mlops serve: model '{config.name}' on http://{options.host}:{options.port} "
          f"(admin http://127.0.0.1:{admin_port}, MLflow {options.tracking_uri})", file=sys.stderr, flush=True)
    try:
        serve(config, options)
    except SystemExit as err:  # uvicorn exits with 1 when it cannot bind or start
        return EXIT_USAGE if err.code else EXIT_OK
    except MlopsError as err:
        print(f"mlops serve: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
