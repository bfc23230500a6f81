"""bench/drift.py on a small run (without Evidently): the compact profile's line and rows print, and its
verdict check catches a score off by more than 1e-3."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "drift.py"


def test_a_small_run_prints_the_compact_profile() -> None:
    env = {**os.environ, "PYTHONPATH": str(BENCH.parents[1] / "include")}
    done = subprocess.run([sys.executable, str(BENCH), "--rows", "20000", "--columns", "4", "--skip-evidently"],
                          capture_output=True, text=True, check=False, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    size = re.search(r"Compact profile .* file \*\*([\d.]+) MB\*\*, load ([\d.]+) ms", done.stdout)
    assert size is not None, done.stdout
    assert 0.2 < float(size.group(1)) < 0.5  # four summaries of about 92 kB
    assert "| detect_drift(compact profile from file, DataFrame) |" in done.stdout


def test_the_compact_check_allows_1e_3_and_no_more() -> None:
    check_same_verdicts = runpy.run_path(str(BENCH))["check_same_verdicts"]

    def result(score: float) -> dict:
        columns = {"a": ["wasserstein", score, True], "b": ["jensenshannon", 0.01, False]}
        return {"dataset_drifted": True, "columns": columns}

    peer, close, far = result(0.2), result(0.2009), result(0.2011)
    assert check_same_verdicts(close, peer, "close", compact=True) == pytest.approx(0.0009)
    with pytest.raises(AssertionError):
        check_same_verdicts(far, peer, "far", compact=True)
    with pytest.raises(AssertionError):
        check_same_verdicts(close, peer, "exact")
