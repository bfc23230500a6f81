"""`mlops models [--json]`: the Models page of the Airflow UI as a table in the terminal, read from MLflow.

Exit codes: 0 the table was printed (a model whose config is broken, or that MLflow could not answer for, is a
row with its error), 2 bad usage or MLflow unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from mlops_provider.cockpit.text import DASH, score_text, when
from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    from mlops_provider.cockpit.rows import ModelRow

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
EPILOG = f"""\
examples:
  mlops models
  mlops models --json | jq '.models[] | {{model, champion: .champion.version}}'
  MLFLOW_TRACKING_URI=http://mlflow:5000 mlops models --mlflow-ui-url http://localhost:5000

environment:
  MLFLOW_TRACKING_URI  MLflow server when --tracking-uri is not given (default {DEFAULT_TRACKING_URI})
  MLOPS_AIRFLOW_URL    Airflow base URL for the links to DAG runs (default http://127.0.0.1:8080)
  MLOPS_MODELS_DIR     the model configs (default include/models)

exit codes: 0 the table was printed, 2 bad usage or MLflow unreachable
"""


def main(argv: list[str] | None = None) -> int:
    from mlops_provider.client.airflow import DEFAULT_URL, ENV_URL
    from mlops_provider.cockpit.rows import Links, load_configs, model_rows
    from mlops_provider.cockpit.source import mlflow_client

    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)
    uri = (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI).rstrip("/")
    links = Links(mlflow_ui=(args.mlflow_ui_url or uri).rstrip("/"),
                  airflow=(args.airflow_url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/"))
    try:
        configs = load_configs()
        client = mlflow_client(uri)
        rows = model_rows(client, configs, links=links)
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"models": [row.to_dict() for row in rows]}, indent=2))
    else:
        print(render(rows))
    return EXIT_OK


def render(rows: list[ModelRow]) -> str:
    """The table (model, champion, challenger, serving, drift, production, retraining), then each model's links."""
    header = ("model", "champion", "challenger", "serving", "last drift check", "production", "last retraining")
    table = [header] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in table]
    if not rows:
        lines.append("no model configs found (MLOPS_MODELS_DIR)")
    for row in rows:
        if row.error:
            lines.append(f"{row.model}: error: {row.error}")
            continue
        links = [f"champion {row.champion.url}" if row.champion else "",
                 f"drift report {row.drift.report_url}" if row.drift else "",
                 f"retraining run {row.retraining.airflow_url}" if row.retraining and row.retraining.airflow_url
                 else ""]
        if any(links):
            lines.append(f"{row.model}: " + "; ".join(link for link in links if link))
    return "\n".join(lines)


def _cells(row: ModelRow) -> tuple[str, ...]:
    if row.error:
        return (row.model, "error (below)", "", "", "", "", "")
    champion = (f"v{row.champion.version} {score_text(row.champion.metric, row.champion.score)} "
                f"registered {when(row.champion.created)}" if row.champion else DASH)
    challenger = f"v{row.challenger.version}" if row.challenger else DASH
    if row.pending_approvals:
        challenger += " (awaiting approval: " + ", ".join(f"v{v}" for v in row.pending_approvals) + ")"
    serving = ", ".join(f"{target} v{version}" for target, version in row.serving.items()) or DASH
    drift = DASH
    if row.drift is not None:
        verdict = {True: "DRIFT", False: "no drift", None: "unknown"}[row.drift.drifted]
        drift = f"{verdict} {when(row.drift.at)}"
    production = DASH
    if row.production is not None:
        check = row.production
        value = check.realized if check.realized is not None else check.estimated
        production = f"{check.verdict or ''} {score_text(check.metric, value)} v{check.version}".strip()
    retraining = DASH
    if row.retraining is not None:
        run = row.retraining
        retraining = f"{run.reason or '?'} {when(run.at)}" + (f" -> v{run.version}" if run.version else "")
    detail = f" {row.lifecycle_detail}" if row.lifecycle_detail else ""
    model = f"{row.model} ({row.lifecycle}{detail})" if row.lifecycle else row.model
    return (model, champion, challenger, serving, drift, production, retraining)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops models", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Every configured model's state, as on the Models page of the Airflow UI: champion\n"
                    "(version, gate score, when it was registered), challenger, what each deployment target\n"
                    "serves, the last drift check, the last production check and the last retraining with its\n"
                    "reason.")
    parser.add_argument("--json", action="store_true", help="print JSON (the page's /mlops/api/models) instead")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow tracking and registry server "
                             f"(default MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})")
    parser.add_argument("--mlflow-ui-url", metavar="URL", help="MLflow address for links (default: the tracking URI)")
    parser.add_argument("--airflow-url", metavar="URL", help="Airflow address for links (default MLOPS_AIRFLOW_URL)")
    return parser
