"""`mlops drift REFERENCE CURRENT`: the drift engine on two files, outside Airflow.

Exit codes: 0 no dataset drift, 1 dataset drift, 2 bad input (missing or unreadable file, unknown column,
unknown model, a report asked for a profile).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import MlopsError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.drift import DriftResult, ReferenceProfile

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2
PROFILE_SUFFIX = ".npz"
EXAMPLES = """\
examples:
  mlops drift data/credit_default/train.parquet window.csv --model credit_default --report drift.html
  mlops drift reference_profile.npz window.parquet --columns income,age --json

exit codes: 0 no dataset drift, 1 dataset drift, 2 bad input
"""


class UsageError(MlopsError):
    """Options that do not go together."""


def main(argv: list[str] | None = None) -> int:
    """`mlops drift REFERENCE CURRENT [--model M] [--columns a,b] [--report out.html] [--json]`."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)
    try:
        result, reference, current = _compare(args)
        if args.report:
            if reference is None:
                raise UsageError(f"--report needs a data file as REFERENCE, not the profile {args.reference} "
                                 "(Evidently's report compares rows)")
            _write_report(reference, current, list(result.columns), result.drift_share_threshold, Path(args.report))
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result))
    if args.report:
        print(f"report: {args.report}", file=sys.stderr if args.json else sys.stdout)
    return EXIT_DRIFT if result.dataset_drifted else EXIT_OK


def render(result: DriftResult) -> str:
    """The per-column table (column, test, score, threshold, drifted) and the dataset verdict."""
    header = ("column", "test", "score", "threshold", "drifted")
    rows = [(name, column.test, _number(column.score), _number(column.threshold), "yes" if column.drifted else "no")
            for name, column in result.columns.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines += [f"not tested: {name} ({why})" for name, why in result.skipped_columns.items()]
    verdict = "DATASET DRIFT" if result.dataset_drifted else "no dataset drift"
    lines.append(f"{verdict}: {result.number_of_drifted_columns} of {result.number_of_columns} columns drifted "
                 f"({result.drift_share:.0%}, threshold {result.drift_share_threshold:.0%}); "
                 f"{result.reference_rows} reference rows, {result.current_rows} current rows")
    return "\n".join(lines)


def _compare(args: argparse.Namespace) -> tuple[DriftResult, pd.DataFrame | None, pd.DataFrame]:
    from mlops_provider.drift import detect_drift

    options: dict[str, Any] = {}
    columns: list[str] | None = None
    if args.model:
        from mlops_provider.config import load_model_config
        from mlops_provider.monitoring import declared_kinds

        config = load_model_config(args.model, check_paths=False)
        method = config.drift.method
        columns = list(config.features.all)
        options = {"method": method if isinstance(method, str) else "auto",
                   "per_column": method if isinstance(method, dict) else None,
                   "threshold": config.drift.threshold, "drift_share": config.drift.drift_share,
                   "kinds": declared_kinds(config)}
    if args.columns is not None:
        columns = [name.strip() for name in args.columns.split(",") if name.strip()]
        if not columns:
            raise UsageError(f"--columns '{args.columns}' names no column")
        if options.get("kinds"):
            options["kinds"] = {k: v for k, v in options["kinds"].items() if k in columns}
        if options.get("per_column"):
            options["per_column"] = {k: v for k, v in options["per_column"].items() if k in columns}

    current = _read(args.current, "CURRENT")
    reference_frame, profile = None, None
    if Path(args.reference).suffix.lower() == PROFILE_SUFFIX:
        profile = _load_profile(args.reference)
    else:
        reference_frame = _read(args.reference, "REFERENCE")
    if columns is not None:
        _require(current, columns, f"CURRENT {args.current}")
        _require(reference_frame if profile is None else profile.columns, columns, f"REFERENCE {args.reference}")
        current = current[columns]
    reference: pd.DataFrame | ReferenceProfile = profile if profile is not None else reference_frame
    result = detect_drift(reference, current, columns=columns, **options)
    return result, reference_frame, current


def _read(name: str, what: str) -> pd.DataFrame:
    from mlops_provider.data import read_table

    path = Path(name)
    if not path.exists():
        raise UsageError(f"{what} file {name} does not exist")
    return read_table(path.resolve(), what=what)


def _load_profile(name: str) -> ReferenceProfile:
    from mlops_provider.drift import ReferenceProfile

    if not Path(name).is_file():
        raise UsageError(f"REFERENCE profile {name} does not exist")
    return ReferenceProfile.load(name)


def _require(available: Any, columns: list[str], what: str) -> None:
    missing = [name for name in columns if name not in available]
    if missing:
        raise UsageError(f"{what}: unknown column(s) {', '.join(missing)}; it has {', '.join(map(str, available))}")


def _write_report(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], drift_share: float,
                  path: Path) -> None:
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:
        raise UsageError("--report needs Evidently: install the drift-reports extra") from None
    if not path.parent.is_dir():
        raise UsageError(f"--report {path}: folder {path.parent} does not exist")
    snapshot = Report([DataDriftPreset(drift_share=drift_share)]).run(
        current_data=current[columns], reference_data=reference[columns])
    snapshot.save_html(str(path))


def _number(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops drift", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Compare CURRENT data with REFERENCE data column by column with the drift engine\n"
                    "(Evidently's DataDriftPreset verdicts) and print each column's test and the dataset verdict.")
    parser.add_argument("reference", metavar="REFERENCE",
                        help="reference data (.csv or .parquet) or a saved reference profile (.npz)")
    parser.add_argument("current", metavar="CURRENT", help="current data (.csv or .parquet)")
    parser.add_argument("--model", metavar="M",
                        help="take columns, declared kinds and drift settings (method, threshold, drift_share) "
                             "from this configured model")
    parser.add_argument("--columns", metavar="a,b", help="compare only these columns (comma-separated)")
    parser.add_argument("--report", metavar="FILE.html",
                        help="also write Evidently's HTML report (REFERENCE must be a data file)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    return parser
