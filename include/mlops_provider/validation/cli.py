"""`mlops validate`: check a data file against a model's suite, or profile a starting suite with --init.

Exit codes: 0 the data passed, 1 expectations failed, 2 bad usage or unreadable input (file, config
or suite). `main` takes the arguments after `validate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlops_provider.exceptions import ConfigError, DataError

OK, FAILED, BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops validate",
        description="Validate a data file against a model's Great Expectations suite "
                    "(include/expectations/<model>.json), or write a starting suite with --init.",
        epilog="exit status: 0 passed, 1 expectations failed, 2 bad usage or unreadable input",
    )
    parser.add_argument("model", metavar="MODEL", help="a configured model (include/models/<model>.yaml)")
    parser.add_argument("data", metavar="DATA", nargs="?",
                        help="CSV or Parquet file or URI (file://, s3://); default: the model's training data")
    parser.add_argument("--init", action="store_true",
                        help="profile DATA and write a starting suite to review, instead of validating")
    parser.add_argument("--output", metavar="PATH",
                        help="with --init: where to write the suite (default: the model's suite file)")
    parser.add_argument("--force", action="store_true", help="with --init: overwrite an existing suite")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error (or --help)
        return int(exit_.code or 0) if isinstance(exit_.code, int | None) else BAD_INPUT
    if (args.output or args.force) and not args.init:
        parser.print_usage(sys.stderr)
        print("mlops validate: error: --output and --force go with --init", file=sys.stderr)
        return BAD_INPUT
    try:
        return _init(args) if args.init else _validate(args)
    except (ConfigError, DataError) as err:
        print(f"mlops validate: error: {err}", file=sys.stderr)
        return BAD_INPUT


def _load(model: str, data: str | None) -> tuple[Any, str, Any]:
    from mlops_provider.config import load_model_config
    from mlops_provider.training_data import data_to_validate

    config = load_model_config(model, check_paths=False)
    batch = data_to_validate(config, data, what="data")  # without a file: the training set as training assembles it now
    return config, batch.uri, batch.frame


def _validate(args: argparse.Namespace) -> int:
    from mlops_provider.validation.engine import validate_frame
    from mlops_provider.validation.suite import load_suite

    config, uri, frame = _load(args.model, args.data)
    suite = load_suite(config.suite_path)
    report = validate_frame(frame, suite, model=config.name)
    if args.json:
        print(json.dumps({**report.summary, "message": report.message, "data_uri": str(uri)}, indent=2))
    elif report.success:
        print(f"OK {report.message} ({len(frame)} rows of {uri})")
    else:
        print(f"FAILED {report.message}")
    return OK if report.success else FAILED


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_provider.validation.profile import profile_suite
    from mlops_provider.validation.suite import write_suite

    config, uri, frame = _load(args.model, args.data)
    target = Path(args.output) if args.output else config.suite_path
    if target.exists() and not args.force:  # before profiling: say it at once
        raise ConfigError(f"expectation suite {target} already exists (use --force to overwrite)")
    suite = profile_suite(frame, config, source=str(uri))
    path = write_suite(suite, target, force=args.force)
    print(f"Wrote {len(suite['expectations'])} expectations for model '{config.name}' to {path}, profiled from "
          f"{len(frame)} rows of {uri}. Review the bounds before relying on them.")
    return OK


if __name__ == "__main__":
    sys.exit(main())
