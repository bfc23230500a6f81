"""mlops_retraining with dag.test(): a request that cannot be served fails once, naming the model, instead of
holding the one retraining slot through retries."""

from __future__ import annotations

from typing import Any

import pytest


def request_ti(run: Any) -> Any:
    return next(ti for ti in run.get_task_instances() if ti.task_id == "request")


@pytest.mark.parametrize(("conf", "expected"), [
    ({"reason": "performance", "requested_by": "grafana"}, "retraining needs a model"),
    ({"model": "{name}", "reason": "performance", "requested_by": "grafana"}, "model '{name}' has no config file"),
])
def test_a_request_for_a_missing_or_unknown_model_fails_once_and_names_it(
        private_model: Any, load_dag: Any, capfd: pytest.CaptureFixture[str],
        conf: dict[str, str], expected: str) -> None:
    from mlops_provider.settings import models_dir

    name = private_model("retrain_removed")
    dag = load_dag("mlops_retraining")
    # the model was configured when the request was accepted, and its config removed before the run
    (models_dir() / f"{name}.yaml").unlink()

    run = dag.test(run_conf={k: v.format(name=name) for k, v in conf.items()})

    ti = request_ti(run)
    assert (str(ti.state), ti.try_number) == ("failed", 1), "a config error must not be retried"
    assert str(run.state) == "failed"
    assert expected.format(name=name) in capfd.readouterr().out


def test_a_request_for_a_model_another_run_retrains_is_skipped_naming_that_run(
        private_model: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """Another run of mlops_retraining holds the model (say, waiting for a person's approval): this request is
    skipped at once, naming it, and nothing is trained; runs for other models are not held up by it."""
    from airflow.models import DagRun, Variable
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from mlops_provider.cooldown import RUNNING_RETRAINING_VARIABLE

    name = private_model("retrain_busy")
    dag = load_dag("mlops_retraining")
    holder = f"manual__holder_{name}"
    with create_session() as session:
        session.add(DagRun(dag_id="mlops_retraining", run_id=holder, run_type=DagRunType.MANUAL,
                           state=DagRunState.RUNNING, triggered_by=DagRunTriggeredByType.TEST))
    Variable.set(RUNNING_RETRAINING_VARIABLE.format(model=name), holder)

    run = dag.test(run_conf={"model": name, "reason": "drift", "requested_by": "test"})

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["request"] == "skipped" and states["retrain.train"] == "skipped", states
    assert f"model '{name}' is being retrained by run {holder} (running" in capfd.readouterr().out
    assert Variable.get(RUNNING_RETRAINING_VARIABLE.format(model=name)) == holder, "the holder keeps it"
