"""bench/serving.py's pure helpers: percentiles, the per-server summary, the logging verdict, the request bodies."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serving.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serving", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_percentile_matches_numpy_linear(bench: ModuleType) -> None:
    import numpy as np

    values = sorted([0.3, 0.1, 0.9, 0.5, 0.7, 0.2, 1.4])
    for q in (0, 1, 50, 90, 99, 100):
        assert bench.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(bench.percentile([], 50))


def test_summary_is_per_measured_second_and_request(bench: ModuleType) -> None:
    run = bench.Run(latencies=[0.002, 0.001, 0.004, 0.003], seconds=2.0, errors=1, cpu=0.004)
    other = bench.Run(latencies=[0.005], seconds=1.0, cpu=0.001)
    run.add(other)
    summary = run.summary(rows=10)
    assert summary["requests"] == 5 and summary["errors"] == 1
    assert summary["rps"] == pytest.approx(5 / 3) and summary["rows_per_s"] == pytest.approx(50 / 3)
    assert summary["p50_ms"] == pytest.approx(3.0) and summary["cpu_us"] == pytest.approx(1000.0)


def test_logging_overhead_and_its_verdict(bench: ModuleType) -> None:
    assert bench.logging_overhead(95.0, 100.0) == pytest.approx(0.05)
    assert bench.verdict(0.05) == "PASS"
    assert bench.verdict(0.10) == "FAIL"  # the budget is strict: under 10%
    assert bench.verdict(bench.logging_overhead(89.0, 100.0)) == "FAIL"
    assert bench.verdict(bench.logging_overhead(105.0, 100.0)) == "PASS"  # noise can make logging look free


def test_split_bodies_wrap_around_the_rows(bench: ModuleType) -> None:
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    bodies = [json.loads(body) for body in bench.split_bodies(rows, 2, 3)]
    assert [b["dataframe_split"]["columns"] for b in bodies] == [["a", "b"]] * 3
    assert [b["dataframe_split"]["data"] for b in bodies] == [
        [[1.0, 4.0], [2.0, 5.0]], [[3.0, 6.0], [1.0, 4.0]], [[2.0, 5.0], [3.0, 6.0]],
    ]


def test_ratio_line_reads_above_one_when_ours_is_better(bench: ModuleType) -> None:
    ours = {"rps": 200.0, "p50_ms": 5.0, "p99_ms": 10.0, "cpu_us": 1000.0}
    peer = {"rps": 100.0, "p50_ms": 10.0, "p99_ms": 40.0, "cpu_us": 3000.0}
    assert bench.ratio_line("x", ours, peer) == "| x | **2.00x** | 2.00x | 4.00x | 3.00x |"
