"""The parts of an experiment around the statistics: which model and version a run tests, the guardrails, and the
targets that cannot split yet."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlops_provider.config import parse_model_config
from mlops_provider.exceptions import ConfigError, DeploymentRefused
from mlops_provider.experiments.options import ExperimentGuardrails
from mlops_provider.experiments.progress import guardrail_breach
from mlops_provider.experiments.request import resolve_request

CONFIG = {"name": "toy", "target": "label", "features": {"numeric": ["x"]}, "data": {"train": "t.parquet"},
          "gate": {"minimum": 0.5}, "experiment": {"minimum_detectable_effect": 0.03}}


def test_the_error_rate_guardrail_stops_after_enough_requests() -> None:
    rails = ExperimentGuardrails(max_error_rate=0.05, min_requests=20)
    assert guardrail_breach(rails, {"version": "2", "requests": 10, "errors": 9}) is None  # too few to judge
    why = guardrail_breach(rails, {"version": "2", "requests": 40, "errors": 4})
    assert why is not None and "failed 4 of 40 requests (10.0%)" in why and "max_error_rate" in why
    assert guardrail_breach(rails, {"version": "2", "requests": 40, "errors": 2}) is None
    assert guardrail_breach(rails, None) is None  # no server: nothing to judge


def test_the_latency_guardrail_reads_the_mean() -> None:
    rails = ExperimentGuardrails(max_latency_mean_ms=50, min_requests=5)
    why = guardrail_breach(rails, {"version": "3", "requests": 10, "errors": 0, "mean_ms": 80.0})
    assert why is not None and "80.0 ms per request on average" in why
    assert guardrail_breach(rails, {"version": "3", "requests": 10, "errors": 0, "mean_ms": 20.0}) is None


def test_a_run_tests_the_params_model_or_the_newest_challenger_event() -> None:
    assert resolve_request({"model": "toy", "challenger": "4", "overrides": {"alpha": 0.1}}, None) == {
        "model": "toy", "challenger": "4", "overrides": {"alpha": 0.1}}
    old = SimpleNamespace(timestamp=1, extra={"version": "2"})
    new = SimpleNamespace(timestamp=2, extra={"version": "3"})
    events = {"x-mlops://toy/challenger": [old, new], "x-mlops://toy/champion": [SimpleNamespace(timestamp=9)]}
    assert resolve_request({}, events) == {"model": "toy", "challenger": "3", "overrides": {}}
    with pytest.raises(ConfigError, match="an experiment needs a model"):
        resolve_request({}, {"x-mlops://toy/champion": [new]})


def test_only_the_local_target_splits_for_now() -> None:
    from mlops_provider.deploy.local.split import split_target

    config = parse_model_config({**CONFIG, "deploy": {"target": "kubernetes",
                                                      "options": {"image": "registry/serve:1"}}}, "toy.yaml")
    with pytest.raises(DeploymentRefused, match="local target only for now; `deploy.target` is 'kubernetes'"):
        split_target(config, tracking_uri="http://127.0.0.1:1")
    local = parse_model_config(CONFIG, "toy.yaml")
    assert split_target(local, tracking_uri="http://127.0.0.1:1").name == "local"
