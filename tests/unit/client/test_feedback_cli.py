"""`mlops feedback MODEL FILE` end to end: a real model server (uvicorn on a loopback port, a fitted pipeline) takes
the labels file in batches; exit codes 0 / 1 / 2; `--inbox` drops the file where ingestion finds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from mlops_provider import labels
from mlops_provider.cli import main as mlops
from mlops_provider.config import ModelConfig, load_model_config
from mlops_provider.deploy.smoke import split_payload
from mlops_provider.inference_log import REQUEST_ID, inference_uri
from mlops_provider.netutil import free_port
from mlops_provider.serving.app import Service, create_app
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool
from tests.helpers.model_server import credit_pipeline, credit_requests, serving


@pytest.fixture
def credit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelConfig:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    return load_model_config("credit_default", check_paths=False)


@pytest.fixture
def server(credit: ModelConfig) -> Iterator[str]:
    pool = ModelPool(lambda version: credit_pipeline())
    pool.load("1")
    buffer = InferenceLogBuffer(inference_uri(credit), max_rows=100_000, max_seconds=3600)
    with serving(create_app(Service(config=credit, pool=pool, buffer=buffer))) as url:
        yield url


@pytest.fixture
def predicted(server: str) -> list[str]:
    with httpx.Client(trust_env=False) as http:
        answer = http.post(f"{server}/invocations", json=split_payload(credit_requests(5)))
    ids: list[str] = answer.json()["metadata"]["prediction_ids"]
    return ids


def labels_file(folder: Path, rows: list[tuple[object, ...]], name: str = "labels.csv") -> Path:
    path = folder / name
    frame = pd.DataFrame(rows, columns=["request_id", "label", "event_time"][:len(rows[0])])
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
    return path


def test_a_file_goes_in_batches_and_a_resend_is_all_already_known(
        server: str, predicted: list[str], credit: ModelConfig, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(predicted[0], 1, "2026-12-01T10:00:00Z"), (predicted[1], 0, None), (predicted[2], 1, None),
            ("never-made", 1, None), (predicted[3], 7, None)]
    path = labels_file(tmp_path, rows)
    assert mlops(["feedback", "credit_default", str(path), "--url", server, "--batch", "2", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["received"], report["accepted"], report["rejected"], report["batches"]) == (5, 3, 2, 3)
    assert (report["unknown_ids"], report["wrong_type"]) == (1, 1)
    assert report["problems"][0].startswith("row 3: prediction 'never-made'")  # rows of the file, not the batch
    assert report["problems"][1].startswith(f"row 4: prediction '{predicted[3]}': label 7")
    stored = labels.read_labels(credit)
    assert sorted(stored[REQUEST_ID]) == sorted(predicted[:3])

    good = labels_file(tmp_path, rows[:3], "good.parquet")
    assert mlops(["feedback", "credit_default", str(good), "--url", server]) == 0
    out = capsys.readouterr().out
    assert f"credit_default: 3 label(s) sent to {server}/feedback: 0 accepted, 3 already known, 0 rejected" in out
    assert len(labels.read_labels(credit)) == 3


def test_bad_input_is_exit_2_naming_what_was_wrong(server: str, predicted: list[str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = labels_file(tmp_path, [(predicted[0], 1)])
    (tmp_path / "x.txt").write_text("request_id,label\na,1\n")
    cases = [
        (["credit_default", str(tmp_path / "absent.csv"), "--url", server], "labels file", "does not exist"),
        (["credit_default", str(tmp_path / "x.txt"), "--url", server], "x.txt", "unsupported format"),
        (["breast_cancer", str(path), "--url", server], "is model 'credit_default'", "not the server of model "
                                                                                      "'breast_cancer'"),
        (["credit_default", str(path), "--url", f"http://127.0.0.1:{free_port()}"], "is unreachable", "ConnectError"),
        (["credit_default", str(path)], "no local model server runs model 'credit_default'", "--inbox"),
        (["credit_default", str(path), "--batch", "0"], "--batch must be at least 1", ""),
        (["Bad-Name", str(path)], "is not a valid model name", ""),
    ]
    for argv, first, second in cases:
        assert mlops(["feedback", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert first in err and second in err and "Traceback" not in err, err
    (tmp_path / "nolabel.csv").write_text("request_id,value\nabc,1\n")
    assert mlops(["feedback", "credit_default", str(tmp_path / "nolabel.csv"), "--url", server]) == 2
    assert "missing column 'label'" in capsys.readouterr().err


def test_inbox_copies_the_file_for_the_next_ingestion(credit: ModelConfig, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.inference_log import PREDICTION, TIMESTAMP, VERSION, write_window

    window = credit_requests(2).assign(**{PREDICTION: [0, 1], VERSION: "1", TIMESTAMP: pd.Timestamp.now(tz="UTC"),
                                          REQUEST_ID: ["p1", "p2"]})
    write_window(inference_uri(credit), window)
    path = labels_file(tmp_path, [("p1", 1), ("p2", 0)])
    assert mlops(["feedback", "credit_default", str(path), "--inbox"]) == 0
    assert mlops(["feedback", "credit_default", str(path), "--inbox"]) == 0  # a second copy, not an overwrite
    assert capsys.readouterr().out.count("2 label(s) copied to file://") == 2
    inbox = Path(labels.labels_uri(credit), "inbox")
    assert sorted(p.name for p in inbox.iterdir())[-1] == "labels.csv" and len(list(inbox.iterdir())) == 2
    results = sorted((r.accepted, r.note is not None) for _, r in labels.ingest_inbox(credit))
    assert results == [(0, True), (2, False)]  # the copy of the same content is a no-op
    assert dict(zip(*labels.read_labels(credit)[[REQUEST_ID, labels.LABEL]].T.values, strict=True)) == {
        "p1": 1, "p2": 0}


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert mlops(["feedback", "--help"]) == 0
    out = capsys.readouterr().out
    assert "mlops feedback credit_default labels.csv" in out and "exit codes: 0" in out
