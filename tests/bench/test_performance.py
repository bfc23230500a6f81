"""bench/performance.py on a small run: ours equals the pandas + scikit-learn peer, CBPE is close, the table prints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "performance.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_performance", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_data_has_shuffled_partial_labels_and_a_shift(bench: ModuleType) -> None:
    predictions, labels, reference, drifted_row = bench.make_data(10_000)
    assert len(predictions) == 10_000 and 8_500 < len(labels) < 9_500
    assert drifted_row == 8_000 and len(reference) == 10_000
    assert not labels["mlops_request_id"].is_monotonic_increasing
    assert set(labels["mlops_request_id"]) <= set(predictions["mlops_request_id"])


def test_ours_equals_the_peer_and_the_check_catches_a_difference(bench: ModuleType) -> None:
    predictions, labels, _, _ = bench.make_data(12_000)
    ours, peer = bench.ours(predictions, labels, 2_000), bench.peer(predictions, labels, 2_000)
    assert len(ours["roc_auc"]) == 6
    assert bench.check_equal(ours, peer) < 1e-9
    broken = {**ours, "f1": ours["f1"] + np.r_[0, 0, 1e-6, 0, 0, 0]}
    with pytest.raises(AssertionError, match="f1 differs from scikit-learn"):
        bench.check_equal(broken, peer)


def test_estimate_errors_split_clean_and_shifted_windows(bench: ModuleType) -> None:
    realized = {"roc_auc": np.array([0.80, 0.80, 0.70])}
    estimates = {"roc_auc": np.array([0.81, 0.795, 0.75])}
    clean, shifted = bench.estimate_errors(estimates, realized, 100, 200)["roc_auc"]
    assert clean == pytest.approx(0.01) and shifted == pytest.approx(0.05)


def test_main_prints_the_table(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--rows", "20000", "--window", "4000", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "| part | rows | windows | ours s | peer s | ratio |" in out
    assert "| realized: join + 6 metrics per window" in out and "| 20,000 | 5 |" in out
    assert "| roc_auc (realized drop" in out and "| accuracy (realized drop" in out
