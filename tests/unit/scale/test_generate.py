"""The scale-run generator: varied, seeded plans with one broken model; configs and suites that load; data the
suite passes except for the broken model's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_provider.scale.generate import (
    MAX_ROWS,
    MIN_ROWS,
    generate_models,
    plan_models,
    write_inference_windows,
)


def test_plans_vary_in_size_task_estimator_and_feature_mix() -> None:
    plans = plan_models(50)
    assert len({p.name for p in plans}) == 50
    assert (min(p.rows for p in plans), max(p.rows for p in plans)) == (MIN_ROWS, MAX_ROWS)
    assert {p.task for p in plans} == {"classification", "regression"}
    assert len({(p.task, p.estimator) for p in plans}) == 5
    assert {len(p.categorical) for p in plans} == {0, 1, 2, 3, 4}
    assert min(len(p.numeric) for p in plans) == 2 and max(len(p.numeric) for p in plans) == 12
    assert [p.name for p in plans if p.broken] == ["m025_broken"]
    assert plan_models(50) == plans, "the same count gives the same plans"
    assert not any(p.broken for p in plan_models(3, broken=False))
    with pytest.raises(ValueError, match="at least 1"):
        plan_models(0)


def test_generated_configs_load_and_only_the_broken_data_fails_its_suite(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.settings import model_names
    from mlops_provider.validation.engine import validate_frame
    from mlops_provider.validation.suite import load_suite

    model_set = generate_models(tmp_path, 3)
    for key, value in model_set.env.items():
        monkeypatch.setenv(key, value)
    assert model_names() == [p.name for p in model_set.plans] == ["m000_clf", "m001_broken", "m002_reg"]
    for plan in model_set.plans:
        config = load_model_config(plan.name)  # checks that the training file exists too
        frame = pd.read_parquet(config.resolve(config.data.train))
        assert len(frame) == plan.rows
        report = validate_frame(frame, load_suite(config.suite_path), model=plan.name)
        if plan.broken:
            assert plan.missing not in frame.columns and plan.missing in config.features.numeric
            assert not report.success
        else:
            assert report.success, report.message


def test_windows_are_recent_and_hold_every_feature(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from mlops_provider.inference_log import recent_windows

    model_set = generate_models(tmp_path, 2, broken=False)
    write_inference_windows(model_set, rows=210, now=datetime.now(UTC))
    for plan in model_set.plans:
        [window] = recent_windows(tmp_path / "data" / plan.name / "inference", minutes=60)
        frame = pd.read_parquet(window.uri.removeprefix("file://"))
        assert len(frame) == 210 and set(plan.numeric + plan.categorical) <= set(frame.columns)


def test_a_folder_with_other_models_is_refused(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "credit_default.yaml").write_text("name: credit_default\n")
    with pytest.raises(ValueError, match="credit_default.yaml"):
        generate_models(tmp_path, 2)


def test_the_cli_writes_a_set_and_says_how_to_point_airflow_at_it(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.cli import main

    assert main(["scale-models", "--count", "3", "--dir", str(tmp_path), "--windows"]) == 0
    out = capsys.readouterr().out
    assert "3 models" in out and "broken: m001_broken" in out
    assert f"export MLOPS_MODELS_DIR={tmp_path.resolve() / 'models'}" in out
    assert sorted(p.stem for p in (tmp_path / "models").glob("*.yaml")) == ["m000_clf", "m001_broken", "m002_reg"]
    assert list((tmp_path / "data" / "m002_reg" / "inference").rglob("window-*.parquet"))
