"""Benchmark: the credit_default suite on 1M rows, Great Expectations vs the same predicates in plain pandas.

Both run in this process on the same frames. Prints time and rows/second of each, the ratio, that the two
agree on every expectation's verdict, the cost of each GE result format and of rendering Data Docs, and,
when GE is more than 5x slower than pandas, a profile of where its time goes.

    .venv/bin/python bench/validation.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_provider.demo import credit
from mlops_provider.validation.engine import DEFAULT_RESULT_FORMAT, validate_frame
from mlops_provider.validation.suite import build_suite, load_suite

SUITE = Path(__file__).resolve().parents[1] / "include" / "expectations" / "credit_default.json"
SLOW = 5.0  # GE slower than pandas by more than this: profile it
FORMATS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")


# --- the suite's predicates in plain pandas ---------------------------------------------------------------

def _share(mask: pd.Series, of: pd.Series) -> float:
    return float(mask.sum()) / len(of) if len(of) else 1.0


def _type_list(frame: pd.DataFrame, kw: dict) -> bool:
    column = frame[kw["column"]]
    if column.dtype == object:  # GE checks each value's type; infer_dtype does it in C
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        return (inferred in ("string", "empty")) if kw["type_list"] == ["str"] else inferred in ("integer", "floating")
    return str(column.dtype) in kw["type_list"]


def _not_null(frame: pd.DataFrame, kw: dict) -> bool:
    column = frame[kw["column"]]
    return _share(column.notna(), column) >= kw.get("mostly", 1.0)


def _between(frame: pd.DataFrame, kw: dict) -> bool:
    values = frame[kw["column"]].dropna()
    inside = values.between(kw.get("min_value", -np.inf), kw.get("max_value", np.inf))
    return _share(inside, values) >= kw.get("mostly", 1.0)


def _in_set(frame: pd.DataFrame, kw: dict) -> bool:
    values = frame[kw["column"]].dropna()
    return _share(values.isin(kw["value_set"]), values) >= kw.get("mostly", 1.0)


PANDAS_CHECKS: dict[str, Callable[[pd.DataFrame, dict], bool]] = {
    "expect_table_columns_to_match_set": lambda f, kw: set(f.columns) == set(kw["column_set"]),
    "expect_table_row_count_to_be_between": lambda f, kw: kw["min_value"] <= len(f) <= kw["max_value"],
    "expect_column_values_to_be_in_type_list": _type_list,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
}


def pandas_validate(frame: pd.DataFrame, expectations: list[dict]) -> list[bool]:
    return [PANDAS_CHECKS[e["type"]](frame, e["kwargs"]) for e in expectations]


# --- measuring ------------------------------------------------------------------------------------------

def ge_verdicts(report: Any, expectations: list[dict]) -> list[bool]:
    """GE's verdicts in suite order (its result list is ordered differently)."""
    def key(kind: str, kwargs: dict) -> tuple:
        return kind, kwargs.get("column"), str(kwargs.get("value_set", kwargs.get("type_list", "")))

    found = {key(r["expectation_config"]["type"], r["expectation_config"]["kwargs"]): bool(r["success"])
             for r in report.result["results"]}
    return [found[key(e["type"], e["kwargs"])] for e in expectations]


def profile_ge(frame: pd.DataFrame, suite: Any) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    validate_frame(frame, suite, model="credit_default")
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, _), (_, _, tt, _, _) in stats.items())
    buckets = {
        "copying the whole frame for each metric (DataFrame.copy, boolean-mask row filtering, take)":
            lambda file, name: name in ("<method 'copy' of 'numpy.ndarray' objects>", "_take_nd_ndarray")
            or (file.endswith("take.py")),
        "per-value Python type checks of object columns (expect_column_values_to_be_in_type_list)":
            lambda file, name: "column_values_in_type_list" in file or name in ("map_array",)
            or name == "<built-in method builtins.isinstance>",
        "null masks of object columns (isna)": lambda file, name: name.startswith("_isna"),
    }
    print(f"\nprofile of one GE run ({DEFAULT_RESULT_FORMAT}, under cProfile), {total:.2f} s of own time:")
    counted = 0.0
    for label, match in buckets.items():
        spent = sum(tt for (file, _, name), (_, _, tt, _, _) in stats.items() if match(file, name))
        counted += spent
        print(f"  {spent:6.2f} s {100 * spent / total:4.0f}%  {label}")
    print(f"  {total - counted:6.2f} s {100 * (total - counted) / total:4.0f}%  everything else (metric graph, "
          "comparisons, result building)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each measurement keeps its best round")
    args = parser.parse_args(argv)

    suite = load_suite(SUITE)
    expectations = [{"type": e.expectation_type, "kwargs": e.configuration.kwargs} for e in suite.expectations]
    text_types = [e for e in suite.expectations if e.expectation_type == "expect_column_values_to_be_in_type_list"
                  and e.configuration.kwargs["type_list"] == ["str"]]
    lean = build_suite({"name": "credit_default", "expectations": [
        e.configuration.to_json_dict() for e in suite.expectations if e not in text_types]}, source="bench")
    print(f"generating {args.rows:,} loan applications (clean and corrupt)...", flush=True)
    clean = credit.generate(args.rows, seed=11)
    corrupt = credit.generate(args.rows, seed=12, corrupt=True)
    frames = {"clean": clean, "corrupt": corrupt}
    validate_frame(clean.head(1000), suite, model="credit_default")  # imports and first-use costs

    # one round runs every measurement once, so that load from other processes spreads over all of them
    runs: dict[str, Callable[[], Any]] = {"GE 1k rows": lambda: validate_frame(clean.head(1000), suite, model="m")}
    for name, frame in frames.items():
        runs[f"GE {name}"] = lambda f=frame: validate_frame(f, suite, model="credit_default")
        runs[f"pandas {name}"] = lambda f=frame: pandas_validate(f, expectations)
    for fmt in FORMATS:
        runs[fmt] = lambda fmt=fmt: validate_frame(corrupt, suite, model="credit_default", result_format=fmt)
    runs["lean"] = lambda: validate_frame(clean, lean, model="credit_default")
    with tempfile.TemporaryDirectory() as folder:
        runs["docs"] = lambda: validate_frame(corrupt, suite, model="credit_default", data_docs_dir=folder)
        best: dict[str, float] = dict.fromkeys(runs, float("inf"))
        results: dict[str, Any] = {}
        for _ in range(args.repeat):
            for key, run in runs.items():
                start = time.perf_counter()
                results[key] = run()
                best[key] = min(best[key], time.perf_counter() - start)

    print(f"\nsuite credit_default: {len(expectations)} expectations, {args.rows:,} rows x {clean.shape[1]} "
          f"columns, best of {args.repeat} rounds")
    for name in frames:
        ge_time, pd_time = best[f"GE {name}"], best[f"pandas {name}"]
        report, verdicts = results[f"GE {name}"], results[f"pandas {name}"]
        same = ge_verdicts(report, expectations) == verdicts
        print(f"  {name:8s} GE ({DEFAULT_RESULT_FORMAT}) {ge_time:6.2f} s {args.rows / ge_time:10,.0f} rows/s | "
              f"pandas {pd_time:5.2f} s {args.rows / pd_time:10,.0f} rows/s | ratio {ge_time / pd_time:4.1f}x | "
              f"passed {sum(verdicts)}/{len(verdicts)}, verdicts {'agree' if same else 'DIFFER'}")
        if not same:
            print("verdicts differ between GE and pandas: the comparison is not like for like", file=sys.stderr)
            return 1
    print(f"           {results['GE corrupt'].message}")

    print("\nGE result formats on the corrupt batch:")
    reference = sorted(results["COMPLETE"].failures)
    detailed = {fmt: best[fmt] for fmt in FORMATS if sorted(results[fmt].failures) == reference}
    for fmt in FORMATS:
        note = "full failure message" if fmt in detailed else "message without counts or examples"
        print(f"  {fmt:12s} {best[fmt]:6.2f} s  {note}: {results[fmt].failures[0]}")
    print(f"  {DEFAULT_RESULT_FORMAT} + rendering Data Docs {best['docs']:6.2f} s "
          f"(+{best['docs'] - best[DEFAULT_RESULT_FORMAT]:.2f} s)")

    ratio = best["GE clean"] / best["pandas clean"]
    if ratio > SLOW:
        print(f"\nGE is {ratio:.1f}x slower than pandas (more than {SLOW:.0f}x). Where its time goes:")
        small = best["GE 1k rows"]
        print(f"  fixed cost: {small:.2f} s on 1,000 rows ({1000 * small / len(expectations):.0f} ms per expectation: "
              f"context, metric graph, result objects), {100 * small / best['GE clean']:.0f}% of the full run")
        saved = best["GE clean"] - best["lean"]
        print(f"  the {len(text_types)} type checks of text columns: {saved:.2f} s of {best['GE clean']:.2f} s "
              "(GE checks the type of every value of an object column in Python; the category sets of the "
              "same columns would catch most of what they catch)")
        profile_ge(clean, suite)
    fastest = min(detailed, key=detailed.__getitem__)
    print(f"\nfastest result format with the full failure message: {fastest} "
          f"(validate_frame's default: {DEFAULT_RESULT_FORMAT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
