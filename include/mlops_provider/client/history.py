"""`mlops history MODEL [--json]` and `mlops passport MODEL VERSION`: a model's alias history, a version's passport.

Exit codes: 0 done, 2 bad usage, an unknown model or version, or MLflow unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.history import Entry

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
HISTORY_EPILOG = f"""\
examples:
  mlops history credit_default
  mlops history credit_default --alias champion
  mlops history credit_default --json | jq '.entries[] | select(.alias == "champion")'

environment:
  MLFLOW_TRACKING_URI  MLflow server when --tracking-uri is not given (default {DEFAULT_TRACKING_URI})

exit codes: 0 the history was printed (an empty one too), 2 bad usage, unknown model or MLflow unreachable
"""
PASSPORT_EPILOG = f"""\
examples:
  mlops passport credit_default 3
  mlops passport credit_default 3 --out credit_default-v3.html --airflow-url http://localhost:8080

environment:
  MLFLOW_TRACKING_URI  MLflow server when --tracking-uri is not given (default {DEFAULT_TRACKING_URI})
  MLOPS_AIRFLOW_URL    Airflow base URL for the link to the DAG run (default: no link)

exit codes: 0 the passport was written, 2 bad usage, unknown model or version, or MLflow unreachable
"""


def main(argv: list[str] | None = None) -> int:
    """`mlops history`."""
    parser = argparse.ArgumentParser(
        prog="mlops history", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=HISTORY_EPILOG,
        description="Every move of a model's aliases (champion, previous_champion, challenger, serving_<target>),\n"
                    "oldest first: when (UTC), the version it pointed at before and after, who or which DAG run\n"
                    "moved it, why, and for a rollback the id of the entry it undoes.")
    parser.add_argument("model", help="the registered model")
    parser.add_argument("--alias", help="only the moves of this alias")
    parser.add_argument("--json", action="store_true", help="print JSON ({model, entries: [...]}) instead")
    _common(parser)
    code, args = _parse(parser, argv)
    if args is None:
        return code
    from mlops_provider.history import read_history

    try:
        client = _client(args.tracking_uri, args.model)
        entries = [e for e in read_history(client, args.model) if args.alias in (None, e.alias)]
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"model": args.model, "entries": [e.to_dict() for e in entries]}, indent=2))
    else:
        print(render(entries) if entries else f"model '{args.model}': no alias moves recorded")
    return EXIT_OK


def passport_main(argv: list[str] | None = None) -> int:
    """`mlops passport`."""
    parser = argparse.ArgumentParser(
        prog="mlops passport", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PASSPORT_EPILOG,
        description="Write (again) the passport of a model version to MLflow: passport/passport.json and a\n"
                    "self-contained passport/passport.html in the version's training run, linked by the\n"
                    "version tag mlops.passport. Prints the URL of the page.")
    parser.add_argument("model", help="the registered model")
    parser.add_argument("version", help="the version number")
    parser.add_argument("--out", metavar="FILE", help="also save the HTML page to FILE")
    parser.add_argument("--mlflow-ui-url", metavar="URL", help="MLflow address for links (default: the tracking URI)")
    parser.add_argument("--airflow-url", metavar="URL", help="Airflow address for links (default MLOPS_AIRFLOW_URL)")
    _common(parser)
    code, args = _parse(parser, argv)
    if args is None:
        return code
    from pathlib import Path

    from mlops_provider.passport import build_passport, render_html, write_passport

    ui = (args.mlflow_ui_url or args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    airflow = args.airflow_url or os.environ.get("MLOPS_AIRFLOW_URL") or None
    try:
        client = _client(args.tracking_uri, args.model)
        _check_version(client, args.model, args.version)
        url = write_passport(client, args.model, args.version, mlflow_ui_url=ui.rstrip("/"), airflow_url=airflow)
        if args.out:
            passport = build_passport(client, args.model, args.version, mlflow_ui_url=ui.rstrip("/"),
                                      airflow_url=airflow)
            Path(args.out).write_text(render_html({**passport, "links": {**passport["links"], "passport": url}}))
    except (MlopsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(url)
    return EXIT_OK


def render(entries: list[Entry]) -> str:
    """The history as a table: time (UTC), alias, from -> to, who, why, undoes."""
    header = ("time (UTC)", "alias", "from -> to", "who", "why", "undoes")
    table = [header] + [(e.at[:19].replace("T", " "), e.alias, f"{_v(e.from_)} -> {_v(e.to)}", e.actor,
                         e.reason.replace("\n", " ")[:120], e.undoes or "") for e in entries]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in table)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "-"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", metavar="URI",
                        help=f"MLflow tracking and registry server (default MLFLOW_TRACKING_URI or "
                             f"{DEFAULT_TRACKING_URI})")


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[int, argparse.Namespace | None]:
    try:
        return EXIT_OK, parser.parse_args(argv)
    except SystemExit as done:
        return (done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)), None


def _client(tracking_uri: str | None, model: str) -> MlflowClient:
    """A client of the server, after checking it answers and knows `model` (RegistryError otherwise)."""
    from mlflow.exceptions import MlflowException

    from mlops_provider.cockpit.source import mlflow_client
    from mlops_provider.exceptions import RegistryError

    uri = (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI).rstrip("/")
    client = mlflow_client(uri)
    try:
        client.get_registered_model(model)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"model '{model}' is not registered in MLflow at {uri}") from None
        raise RegistryError(f"MLflow at {uri}: {err}") from None
    return client


def _check_version(client: MlflowClient, model: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    from mlops_provider.exceptions import RegistryError

    if not version.isdigit():
        raise RegistryError(f"model '{model}': version must be a number, got '{version}'")
    try:
        client.get_model_version(model, version)
    except MlflowException as err:
        raise RegistryError(f"model '{model}' has no version {version}") from err
