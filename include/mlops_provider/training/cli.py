"""`mlops train MODEL`: the training of the `train` task, run where `trainer.runner` puts it (a pod, a SageMaker
job). It trains exactly as the task does locally (`train_and_log`) and prints the TrainingResult as its last line.

The MLflow server is `--tracking-uri` or MLFLOW_TRACKING_URI; its login comes from MLflow's own
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (a pod fills them from a Kubernetes Secret) or from a Secrets
Manager secret (`--mlflow-secret-arn`, read with the job's role). Exit status: 0 trained (or found the finished run
of the DAG run), 2 a deterministic failure (config, data, trainer: a retry would fail the same way), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mlops_provider.exceptions import (
    ConfigError,
    DataError,
    MlopsError,
    TrainingError,
    UntrustedModel,
    ValidationFailed,
)

EXIT_OK, EXIT_FAILED, EXIT_DETERMINISTIC = 0, 1, 2
# a retry fails the same way: the runner fails the task without retry (as `operators.base.DETERMINISTIC` locally)
DETERMINISTIC = (ConfigError, DataError, TrainingError, ValidationFailed, UntrustedModel)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops train", description="Train a configured model in an MLflow run, "
                                     "as the train task does, and print its TrainingResult.")
    parser.add_argument("model", help="name of the model's config file in the models folder")
    parser.add_argument("--dag-run-id", required=True, help="the DAG run (a retry reuses its finished MLflow run)")
    parser.add_argument("--reason", default="schedule", help="why it is trained (schedule, drift, ...)")
    parser.add_argument("--validation", type=_json_object, help="the data gate's summary (JSON object)")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="the MLflow server (default: MLFLOW_TRACKING_URI)")
    parser.add_argument("--result-file", type=Path, help="also write the TrainingResult (JSON) to this file")
    parser.add_argument("--mlflow-secret-arn", help="Secrets Manager secret {username, password} of the server")
    return parser


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def secret_login(arn: str, tracking_uri: str) -> None:
    """Register the MLflow login held by the Secrets Manager secret `arn` for `tracking_uri` (this process only)."""
    import boto3

    from mlops_provider.mlflow_auth import register_basic_auth

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    try:
        login = json.loads(secret["SecretString"])
        register_basic_auth(tracking_uri, str(login["username"]), str(login["password"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"secret {arn}: expected a JSON object with `username` and `password`") from None


def train(args: argparse.Namespace) -> dict[str, Any]:
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.monitoring import reference_profile_writer
    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import train_and_log

    if not args.tracking_uri:
        raise ConfigError("mlops train: no MLflow server: pass --tracking-uri or set MLFLOW_TRACKING_URI")
    if args.mlflow_secret_arn:
        secret_login(args.mlflow_secret_arn, args.tracking_uri)
    config = load_model_config(args.model)
    with tracking_uri(args.tracking_uri):
        client = MlflowClient(tracking_uri=args.tracking_uri, registry_uri=args.tracking_uri)
        result = train_and_log(config, client, dag_run_id=args.dag_run_id, reason=args.reason,
                               profile_writer=reference_profile_writer(), validation=args.validation)
    return dict(result)


def main(argv: list[str] | None = None) -> int:
    from mlops_provider.training.remote import result_line

    args = build_parser().parse_args(argv)
    try:
        result = train(args)
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_DETERMINISTIC if isinstance(err, DETERMINISTIC) else EXIT_FAILED
    if args.result_file is not None:
        args.result_file.parent.mkdir(parents=True, exist_ok=True)
        args.result_file.write_text(json.dumps(result, sort_keys=True))
    print(result_line(result), flush=True)  # type: ignore[arg-type]
    return EXIT_OK
