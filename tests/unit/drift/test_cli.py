"""`mlops drift REFERENCE CURRENT` on real files with the real engine: table, JSON, report, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_provider import cli
from mlops_provider.drift import ReferenceProfile, detect_drift
from mlops_provider.drift.cli import main

ROWS = 400


def frame(shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, ROWS), "y": rng.normal(0, 1, ROWS),
                         "colour": rng.choice(["red", "green", "blue"], ROWS)})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """reference.csv, same.parquet (no drift), shifted.csv (x moved by 3 standard deviations)."""
    paths = {"reference": tmp_path / "reference.csv", "same": tmp_path / "same.parquet",
             "shifted": tmp_path / "shifted.csv"}
    frame(0, 1).to_csv(paths["reference"], index=False)
    frame(0, 2).to_parquet(paths["same"], index=False)
    frame(3, 3).to_csv(paths["shifted"], index=False)
    return paths


def test_no_drift_exits_0_with_a_table_of_every_column(files: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(files["reference"]), str(files["same"])]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["column", "test", "score", "threshold", "drifted"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["x"][1] == "ks" and rows["colour"][1] == "chisquare"
    assert all(row[3] == "0.05" and row[4] == "no" for row in rows.values())
    assert lines[-1].startswith("no dataset drift: 0 of 3 columns drifted")


def test_drift_exits_1_and_marks_the_drifted_column(files: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["drift", str(files["reference"]), str(files["shifted"]), "--columns", "x,colour"]) == 1

    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert set(rows) == {"x", "colour"}
    assert rows["x"][4] == "yes" and rows["colour"][4] == "no"
    assert lines[-1].startswith("DATASET DRIFT: 1 of 2 columns drifted (50%, threshold 50%)")


def test_json_is_the_engine_result(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(files["reference"]), str(files["shifted"]), "--json"]) == 0  # 1 of 3 columns < 50%

    printed = json.loads(capsys.readouterr().out)
    expected = detect_drift(pd.read_csv(files["reference"]), pd.read_csv(files["shifted"])).to_dict()
    assert printed == expected
    assert printed["columns"]["x"]["drifted"] is True and printed["dataset_drifted"] is False


def test_a_saved_profile_is_a_reference(files: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "profile.npz"
    ReferenceProfile.fit(pd.read_csv(files["reference"])).save(profile)

    assert main([str(profile), str(files["shifted"]), "--columns", "x,y", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["columns"]["x"]["drifted"] is True
    assert printed["reference_rows"] == ROWS
    assert main([str(profile), str(files["same"])]) == 0


def test_report_writes_evidently_html(files: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("evidently")
    report = tmp_path / "drift.html"

    assert main([str(files["reference"]), str(files["shifted"]), "--columns", "x", "--report", str(report)]) == 1
    assert "<html" in report.read_text()[:2000].lower()
    assert capsys.readouterr().out.rstrip().endswith(f"report: {report}")


def test_model_settings_apply(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    config = {"name": "toy", "target": "label", "features": {"numeric": ["x"], "categorical": ["colour"]},
              "data": {"train": "toy/train.parquet"}, "gate": {"minimum": 0.5},
              "drift": {"method": {"x": "wasserstein", "colour": "jensenshannon"}, "threshold": 5.0,
                        "drift_share": 0.3}}
    (folder / "toy.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder))

    # distances with threshold 5: a shift of 3 standard deviations is not drift; y is not a feature
    assert main([str(files["reference"]), str(files["shifted"]), "--model", "toy", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["columns"]) == {"x", "colour"}
    assert {n: c["test"] for n, c in printed["columns"].items()} == {"x": "wasserstein", "colour": "jensenshannon"}
    assert {c["threshold"] for c in printed["columns"].values()} == {5.0}
    assert printed["drift_share_threshold"] == 0.3


@pytest.mark.parametrize(("argv", "message"), [
    (["{reference}", "{missing}"], "error: CURRENT file {missing} does not exist"),
    (["{missing}", "{same}"], "error: REFERENCE file {missing} does not exist"),
    (["{tmp}/none.npz", "{same}"], "error: REFERENCE profile {tmp}/none.npz does not exist"),
    (["{reference}", "{same}", "--columns", "x,income"], "error: CURRENT {same}: unknown column(s) income;"),
    (["{reference}", "{same}", "--model", "nosuch"], "error: model 'nosuch' has no config file"),
    (["{reference}", "{tmp}/data.txt"], "unsupported format '.txt'"),
])
def test_bad_input_exits_2_with_one_line_naming_it(files: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   argv: list[str], message: str) -> None:
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))
    (tmp_path / "data.txt").write_text("x\n1\n")
    names = {"reference": files["reference"], "same": files["same"], "missing": tmp_path / "missing.csv",
             "tmp": tmp_path}

    assert cli.main(["drift", *(arg.format(**names) for arg in argv)]) == 2

    captured = capsys.readouterr()
    assert message.format(**names) in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def test_report_of_a_profile_is_a_usage_error(files: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    profile, report = tmp_path / "profile.npz", tmp_path / "drift.html"
    ReferenceProfile.fit(pd.read_csv(files["reference"])).save(profile)

    assert main([str(profile), str(files["shifted"]), "--report", str(report)]) == 2
    assert "error: --report needs a data file as REFERENCE" in capsys.readouterr().err
    assert not report.exists()


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "mlops drift data/credit_default/train.parquet" in capsys.readouterr().out
