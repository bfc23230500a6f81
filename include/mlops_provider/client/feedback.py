"""`mlops feedback MODEL FILE`: send a labels file (ground truth) to a model's server, or drop it in its inbox.

The file (CSV or Parquet: `request_id`, `label`, optionally `event_time`) is checked, then POSTed in batches to the
server's `POST /feedback` (`--url`, default: the model's local server), whose reports are summed; or, with
`--inbox`, copied into the model's labels inbox for the next ingestion.
Exit codes: 0 every label accepted or already known (or the file copied), 1 some labels rejected (the report says
which and why) or the server failed, 2 bad input (missing file or column, unknown model, server unreachable or
serving another model, a batch the server refused).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
COUNTS = ("received", "accepted", "already_known", "conflicting", "unknown_ids", "wrong_type", "bad_time",
          "missing_id", "rejected")
MAX_PROBLEMS = 10
EXAMPLES = """\
examples:
  mlops feedback credit_default labels.csv
  mlops feedback credit_default labels.parquet --url http://127.0.0.1:5050 --json
  mlops feedback credit_default labels.csv --inbox

a labels file is CSV or Parquet with the columns
  request_id   the prediction id (the server's answer: metadata.prediction_ids, or header x-request-id)
  label        the true outcome (a class of the model, or a number for a regression)
  event_time   optional: when the outcome happened (ISO 8601, default: when it is received)

exit codes: 0 all labels accepted or already known, 1 some rejected or the server failed, 2 bad input
"""


class FeedbackError(MlopsError):
    """The labels could not be delivered; `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def main(argv: list[str] | None = None) -> int:
    """`mlops feedback MODEL FILE [--url URL | --inbox] [--batch N] [--json]`."""
    from mlops_provider.config import MODEL_NAME

    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if not MODEL_NAME.match(args.model):
            parser.error(f"model '{args.model}' is not a valid model name (lower-case letters, digits, _)")
        if args.batch < 1:
            parser.error(f"--batch must be at least 1, got {args.batch}")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)
    try:
        if args.inbox:
            return _to_inbox(args)
        frame = _read(args.file)
        url = (args.url or _local_url(args.model)).rstrip("/")
        report = send_labels(url, args.model, frame, batch=args.batch)
    except FeedbackError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(report, indent=2) if args.json else render(args.model, url, report))
    return EXIT_OK if report["rejected"] == 0 else EXIT_REJECTED


def send_labels(url: str, model: str, frame: pd.DataFrame, *, batch: int = 5000) -> dict[str, Any]:
    """POST the labels to `<url>/feedback`, `batch` rows per request, after checking that the server serves
    `model`; the reports summed (`problems` name rows of the whole file)."""
    import httpx

    rows = _records(frame)
    total: dict[str, Any] = {name: 0 for name in COUNTS} | {"batches": 0, "problems": []}
    with httpx.Client(timeout=120, trust_env=False) as http:
        _check_server(http, url, model)
        for begin in range(0, len(rows), batch):
            try:
                answer = http.post(f"{url}/feedback", json={"labels": rows[begin:begin + batch]})
            except httpx.HTTPError as err:
                raise FeedbackError(f"model server at {url} did not answer ({type(err).__name__}: {err}); "
                                    f"{total['received']} label(s) were delivered before") from None
            if answer.status_code != 200:
                code = EXIT_USAGE if answer.status_code < 500 else EXIT_REJECTED
                raise FeedbackError(f"model server at {url} answered {answer.status_code} to rows {begin}.."
                                    f"{begin + len(rows[begin:begin + batch]) - 1}: {_message(answer)}; "
                                    f"{total['received']} label(s) were delivered before", code)
            _add(total, answer.json(), begin)
    return total


def render(model: str, url: str, report: dict[str, Any]) -> str:
    refused = [f"{name} {report[name]}" for name in COUNTS[3:-1] if report[name]]
    lines = [f"{model}: {report['received']} label(s) sent to {url}/feedback: {report['accepted']} accepted, "
             f"{report['already_known']} already known, {report['rejected']} rejected"
             + (f" ({', '.join(refused)})" if refused else "")]
    lines += [f"  {problem}" for problem in report["problems"]]
    if report["rejected"] > len(report["problems"]):
        lines.append("  ... every rejected row and its reason is in the model's labels folder, rejected/")
    return "\n".join(lines)


def _read(name: str) -> pd.DataFrame:
    from mlops_provider.labels import read_labels_file

    path = Path(name)
    if not path.exists():
        raise FeedbackError(f"labels file {name} does not exist")
    return read_labels_file(path.resolve())


def _local_url(model: str) -> str:
    from mlops_provider.deploy.local import LocalTarget

    server = LocalTarget().running(model)
    if server is None:
        raise FeedbackError(f"no local model server runs model '{model}': start one (mlops serve {model}, or "
                            "deploy it), or pass --url of its server, or --inbox")
    return server.url


def _check_server(http: Any, url: str, model: str) -> None:
    import httpx

    try:
        answer = http.get(f"{url}/health", timeout=10)
        served = answer.json().get("model") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as err:
        raise FeedbackError(f"model server at {url} is unreachable ({type(err).__name__}: {err})") from None
    if served != model:
        what = f"model '{served}'" if served else f"no model server ({answer.status_code} on /health)"
        raise FeedbackError(f"{url} is {what}, not the server of model '{model}'")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON objects: ids as text, labels as plain JSON values, times as ISO 8601 (nulls kept, for the
    server to count)."""
    import pandas as pd

    from mlops_provider.labels import EVENT_TIME_COLUMN, ID_COLUMN, LABEL_COLUMN

    def plain(value: Any) -> Any:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    ids = [None if plain(v) is None else str(v) for v in frame[ID_COLUMN].tolist()]
    labels = [plain(v) for v in frame[LABEL_COLUMN].tolist()]
    times: list[Any] = [None] * len(frame)
    if EVENT_TIME_COLUMN in frame.columns:
        times = [None if plain(v) is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))
                 for v in frame[EVENT_TIME_COLUMN].tolist()]
    return [{ID_COLUMN: i, LABEL_COLUMN: label, EVENT_TIME_COLUMN: t}
            for i, label, t in zip(ids, labels, times, strict=True)]


def _add(total: dict[str, Any], report: dict[str, Any], begin: int) -> None:
    for name in COUNTS:
        total[name] += int(report.get(name, 0))
    total["batches"] += 1
    for problem in report.get("problems", []):  # "row 3: ..." of a batch is row begin + 3 of the file
        if len(total["problems"]) < MAX_PROBLEMS:
            total["problems"].append(re.sub(r"^row (\d+):", lambda m: f"row {begin + int(m[1])}:", problem))


def _message(answer: Any) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    return str(body.get("message") or body.get("detail") or body)[:300] if isinstance(body, dict) else str(body)


def _to_inbox(args: argparse.Namespace) -> int:
    """Copy the checked file into the model's labels inbox (written aside and renamed: never seen half-copied)."""
    from datetime import UTC, datetime

    from mlops_provider.config import load_model_config
    from mlops_provider.data import uri_of
    from mlops_provider.inference_log import write_atomically
    from mlops_provider.labels import INBOX, labels_path
    from mlops_provider.labels.store import stamp

    frame = _read(args.file)
    config = load_model_config(args.model, check_paths=False)
    inbox = labels_path(config, INBOX)
    name = Path(args.file).name
    if (inbox / name).exists():
        name = f"{stamp(datetime.now(UTC))}-{name}"
    content = Path(args.file).read_bytes()
    target = uri_of(write_atomically(inbox, name, lambda handle: handle.write(content)))
    if args.json:
        print(json.dumps({"inbox": target, "rows": len(frame)}, indent=2))
    else:
        print(f"{config.name}: {len(frame)} label(s) copied to {target}; the next ingestion of the inbox takes them")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops feedback", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Send a labels file (the ground truth of served predictions) for a model: to its model\n"
                    "server's POST /feedback in batches (default: the model's local server), or into its labels\n"
                    "inbox. Labels already known are not stored twice; conflicting or unknown ones are reported.")
    parser.add_argument("model", metavar="MODEL", help="a configured model name, e.g. credit_default")
    parser.add_argument("file", metavar="FILE", help="labels file (.csv or .parquet)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="base URL of the model server (default: the model's local server)")
    where.add_argument("--inbox", action="store_true",
                       help="copy the file into the model's labels inbox instead of sending it")
    parser.add_argument("--batch", type=int, default=5000, metavar="N", help="labels per request (default 5000)")
    parser.add_argument("--json", action="store_true", help="print the summed report as JSON")
    return parser
