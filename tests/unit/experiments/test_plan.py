"""The plan before the data: the split must sum to 100, the variance comes from the champion's holdout, and an
unreachable size is said at the start."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlops_provider.config import parse_model_config
from mlops_provider.exceptions import ConfigError
from mlops_provider.experiments import stats
from mlops_provider.experiments.plan import check_split, experiment_metric, make_plan, reachability

CONFIG = {"name": "toy", "target": "label", "features": {"numeric": ["x"]}, "data": {"train": "t.parquet"},
          "gate": {"metric": "roc_auc", "minimum": 0.5},
          "experiment": {"challenger_percent": 20, "minimum_detectable_effect": 0.03, "routing_key": "customer id"}}


def holdout(rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.25).astype(int)
    proba = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + rng.normal(0, 1, rows))))
    return pd.DataFrame({"y_true": y, "y_pred": (proba > 0.5).astype(int), "y_pred_proba": proba})


def test_a_split_not_summing_to_100_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"must sum to 100, got champion 80% \+ challenger 30% = 110%"):
        check_split("toy", 80, 30)
    with pytest.raises(ConfigError, match="whole percent from 1 to 99"):
        check_split("toy", 100, 0)
    assert check_split("toy", 90, 10) == {"champion": 90, "challenger": 10}


def test_the_config_block_is_strict_and_names_the_key() -> None:
    config = parse_model_config(CONFIG, "toy.yaml")
    assert config.experiment is not None and config.experiment.challenger_percent == 20
    with pytest.raises(ConfigError, match=r"key 'experiment.guardrails.max_latency_p95_ms': unknown key"):
        parse_model_config({**CONFIG, "experiment": {**CONFIG["experiment"],
                                                     "guardrails": {"max_latency_p95_ms": 50}}}, "toy.yaml")
    with pytest.raises(ConfigError, match=r"key 'experiment.minimum_detectable_effect'"):
        parse_model_config({**CONFIG, "experiment": {"challenger_percent": 10}}, "toy.yaml")
    with pytest.raises(ConfigError, match="an experiment cannot judge 'f1'"):
        experiment_metric(parse_model_config({**CONFIG, "experiment": {**CONFIG["experiment"], "metric": "f1"}},
                                             "toy.yaml"))


def test_the_plan_takes_hanley_mcneil_from_the_champions_holdout() -> None:
    config = parse_model_config(CONFIG, "toy.yaml")
    frame = holdout()
    plan = make_plan(config, champion="1", challenger="2", holdout=frame, split={"champion": 80, "challenger": 20},
                     mde=0.03, alpha=0.05, power=0.8, deadline_hours=24, metric="roc_auc",
                     now=datetime(2026, 1, 1, tzinfo=UTC))
    auc, _ = stats.delong(frame["y_true"].to_numpy(), frame["y_pred_proba"].to_numpy())
    variance = stats.auc_row_variance(auc, float(frame["y_true"].mean()))
    assert plan.per_row_variance == pytest.approx(variance) and plan.baseline == pytest.approx(auc)
    assert "Hanley-McNeil" in plan.variance_source
    assert (plan.rows["champion"], plan.rows["challenger"]) == stats.rows_per_arm(
        variance, 0.03, alpha=0.05, power=0.8, challenger_share=0.2)
    assert plan.rows["champion"] == pytest.approx(4 * plan.rows["challenger"], rel=0.01)
    assert plan.deadline == "2026-01-02T00:00:00+00:00" and plan.routing_key == "customer id"


def test_a_run_without_the_block_names_what_the_server_hashes() -> None:
    """A by-hand experiment of a model without an `experiment` block: the server still hashes the header first."""
    config = parse_model_config({k: v for k, v in CONFIG.items() if k != "experiment"}, "toy.yaml")
    plan = make_plan(config, champion="1", challenger="2", holdout=holdout(), split={"champion": 90, "challenger": 10},
                     mde=0.03, alpha=0.05, power=0.8, deadline_hours=24, metric="roc_auc")
    assert plan.routing_key == "x-routing-key header (without one: the request body)"


def test_an_unreachable_size_is_said_with_the_numbers() -> None:
    config = parse_model_config(CONFIG, "toy.yaml")
    plan = make_plan(config, champion="1", challenger="2", holdout=holdout(), split={"champion": 80, "challenger": 20},
                     mde=0.03, alpha=0.05, power=0.8, deadline_hours=24, metric="roc_auc")
    total = plan.rows["champion"] + plan.rows["challenger"]
    why = reachability(plan, labelled_per_hour=10, hours_observed=6)
    assert why is not None and f"needs {total} labelled rows" in why and "10.0 labelled rows per hour" in why
    assert "about 240 by then" in why
    assert reachability(plan, labelled_per_hour=total, hours_observed=6) is None
    assert reachability(plan, labelled_per_hour=None, hours_observed=24) is None  # no traffic: noted, not refused


def test_recall_counts_positives_and_rmse_is_planned_as_mse() -> None:
    frame = holdout()
    config = parse_model_config(CONFIG, "toy.yaml")
    recall = make_plan(config, champion="1", challenger="2", holdout=frame, split={"champion": 50, "challenger": 50},
                       mde=0.05, alpha=0.05, power=0.8, deadline_hours=24, metric="recall")
    p = float((frame["y_pred"][frame["y_true"] == 1] == 1).mean())
    prevalence = float(frame["y_true"].mean())
    assert recall.per_row_variance == pytest.approx(p * (1 - p) / prevalence)
    regression = pd.DataFrame({"y_true": np.zeros(1000), "y_pred": np.random.default_rng(3).normal(0, 2, 1000)})
    rmse = make_plan(config, champion="1", challenger="2", holdout=regression,
                     split={"champion": 50, "challenger": 50}, mde=0.1, alpha=0.05, power=0.8, deadline_hours=24,
                     metric="rmse")
    assert rmse.higher_is_better is False and "tested as MSE" in rmse.variance_source


def test_the_runs_overrides_are_checked_and_poll_minutes_reaches_the_plan() -> None:
    from mlops_provider.operators.experiment import PlanExperimentOperator

    config = parse_model_config(CONFIG, "toy.yaml")
    settings = PlanExperimentOperator(task_id="plan", model="toy", overrides={"poll_minutes": 0.25})._settings(config)
    assert settings["poll_minutes"] == 0.25 and settings["challenger_percent"] == 20
    with pytest.raises(ConfigError, match="poll_minutes must be above 0"):
        PlanExperimentOperator(task_id="plan", model="toy", overrides={"poll_minutes": -1})._settings(config)
    with pytest.raises(ConfigError, match=r"unknown experiment override\(s\) \['polling'\]"):
        PlanExperimentOperator(task_id="plan", model="toy", overrides={"polling": 1})._settings(config)
    plan = make_plan(config, champion="1", challenger="2", holdout=holdout(), split={"champion": 80, "challenger": 20},
                     mde=0.03, alpha=0.05, power=0.8, deadline_hours=72, metric="roc_auc", poll_minutes=0.25)
    assert plan.to_dict()["poll_minutes"] == 0.25
