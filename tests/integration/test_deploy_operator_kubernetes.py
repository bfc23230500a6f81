"""DeployModelOperator(deferrable=True) on the Kubernetes target in a real `dag.test()`: the task defers on
KubernetesRolloutTrigger, the trigger runs inline (through the provider's AsyncKubernetesHook, against the fake API
server of tests/fake_k8s.py), and the task resumes until the deployment is done, or rolled back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.deploy_registry import register_versions
from tests.helpers.fake_k8s import FakeKubernetes, airflow_connection

CONN_ID = "fake_k8s"
NAMESPACE = "models"
BROKEN = "registry.example/mlops-model-server:broken"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    """The fake API server as the Airflow connection `fake_k8s` (both hooks read it)."""
    server = FakeKubernetes(ready_delay=0.3)
    url = server.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", airflow_connection(url, NAMESPACE))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def model(mlflow_conn: str, private_model: Any, airflow_db: Path) -> tuple[str, Any]:
    """Two registered versions of a private model whose deploy target is kubernetes."""
    name, client = register_versions(mlflow_conn, "k8s_dag", 2)
    private_model(name, deploy={"target": "kubernetes", "strategy": "rolling",
                                "options": {"replicas": 2, "rollout_timeout": 10, "step_wait": 0}})
    return name, client


DAG_FILE = """\
from datetime import UTC, datetime

from airflow.sdk import DAG

from mlops_provider.operators.deployment import DeployModelOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
    DeployModelOperator(task_id="deploy", model={model!r}, version={version!r}, deferrable=True,
                        target_kwargs={{"kubernetes_conn_id": {conn_id!r}, "poll_interval": 0.05}})
"""


@pytest.fixture
def deploy_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a one-task DAG deploying a version into a DAG bundle of the test's own (dag.test() runs only
    DAGs that a configured bundle holds) and load it the way the DAG processor does."""
    folder = tmp_path / "dags"
    folder.mkdir()
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([
        {"name": "mlops-k8s-test", "classpath": local, "kwargs": {"path": str(folder)}},
        {"name": "dags-folder", "classpath": local, "kwargs": {}}]))

    def build(model: str, version: str, template: str = DAG_FILE) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        dag_id = f"deploy_{model}_v{version}"
        (folder / f"{dag_id}.py").write_text(template.format(dag_id=dag_id, model=model, version=version,
                                                             conn_id=CONN_ID))
        bag = DagBag(dag_folder=str(folder))
        assert not bag.import_errors, bag.import_errors
        return bag.dags[dag_id]

    return build


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def serving(client: Any, model: str) -> str | None:
    from mlops_provider.registry import alias_version

    return alias_version(client, model, "serving_kubernetes")


def test_the_deploy_task_defers_on_the_rollout_and_completes(fake: FakeKubernetes, model: tuple[str, Any],
                                                             deferrals: list[dict[str, Any]], deploy_dag: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.deploy.kubernetes import KubernetesTarget, base_name

    name, client = model
    waited_here: list[Any] = []
    original = KubernetesTarget.wait_here
    monkeypatch.setattr(KubernetesTarget, "wait_here",
                        lambda self, kwargs: waited_here.append(kwargs) or original(self, kwargs))
    run = deploy_dag(name, "1").test()
    assert str(run.state) == "success", states(run)
    assert waited_here == [], "the wait must run in the trigger, not in the task"
    assert [(d["classpath"], d["method"]) for d in deferrals] == [
        ("mlops_provider.triggers.kubernetes.KubernetesRolloutTrigger", "execute_complete")]
    assert deferrals[0]["trigger_kwargs"]["deployment"] == base_name(name)
    deployment = fake.get("Deployment", base_name(name), NAMESPACE)
    assert deployment["spec"]["template"]["metadata"]["labels"]["mlops.version"] == "1"
    assert fake.get("Service", base_name(name), NAMESPACE)["spec"]["selector"]["mlops.slot"] == "main"
    assert serving(client, name) == "1"
    polls = [r for r in fake.requests if r["path"].endswith(f"/deployments/{base_name(name)}")
             and r["content_type"] == "application/json"]
    assert polls, "the trigger read the Deployment through the async hook"


def test_a_broken_rollout_fails_the_task_and_the_previous_version_keeps_serving(
        fake: FakeKubernetes, model: tuple[str, Any], private_model: Any, deferrals: list[dict[str, Any]],
        deploy_dag: Any) -> None:
    from mlops_provider.deploy.kubernetes import base_name

    name, client = model
    assert str(deploy_dag(name, "1").test().state) == "success"
    private_model(name, deploy={"target": "kubernetes", "strategy": "rolling",
                                "options": {"replicas": 2, "rollout_timeout": 10, "step_wait": 0, "image": BROKEN}})
    deferrals.clear()
    run = deploy_dag(name, "2").test()
    assert states(run) == {"deploy": "failed"}
    assert len(deferrals) == 2  # the broken rollout, then restoring v1 in place
    deployment = fake.get("Deployment", base_name(name), NAMESPACE)
    assert deployment["spec"]["template"]["metadata"]["labels"]["mlops.version"] == "1"
    assert serving(client, name) == "1"
    reason = client.get_model_version(name, "2").tags["mlops.deploy.kubernetes.failed"]
    assert "ProgressDeadlineExceeded" in reason and "ImagePullBackOff" in reason


STAGED_DAG_FILE = """\
from datetime import UTC, datetime

from airflow.sdk import DAG

from mlops_provider.operators.deployment import DeployModelOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
    kwargs = {{"kubernetes_conn_id": {conn_id!r}, "poll_interval": 0.05}}
    staged = DeployModelOperator(task_id="deploy_staging", model={model!r}, version={version!r}, deferrable=True,
                                 environment="before_production", target_kwargs=kwargs)
    staged >> DeployModelOperator(task_id="deploy", model={model!r}, version={version!r}, deferrable=True,
                                  target_kwargs=kwargs)
"""


def test_two_environments_deploy_into_their_own_namespaces_staging_first(
        fake: FakeKubernetes, mlflow_conn: str, private_model: Any, airflow_db: Path,
        deferrals: list[dict[str, Any]], deploy_dag: Any) -> None:
    from mlops_provider.deploy.kubernetes import base_name
    from mlops_provider.registry import alias_version

    name, client = register_versions(mlflow_conn, "k8s_envs", 2)
    options = {"replicas": 2, "rollout_timeout": 10, "step_wait": 0}
    environments = [{"name": "staging", "options": {"namespace": "staging"}},
                    {"name": "production", "options": {"namespace": NAMESPACE}}]
    private_model(name, deploy={"target": "kubernetes", "strategy": "rolling", "options": options,
                                "environments": environments})

    run = deploy_dag(name, "1", STAGED_DAG_FILE).test()

    assert states(run) == {"deploy_staging": "success", "deploy": "success"}
    assert [d["trigger_kwargs"]["namespace"] for d in deferrals] == ["staging", NAMESPACE]
    for namespace in ("staging", NAMESPACE):
        deployment = fake.get("Deployment", base_name(name), namespace)
        assert deployment["spec"]["template"]["metadata"]["labels"]["mlops.version"] == "1", namespace
    assert (alias_version(client, name, "serving_staging"), alias_version(client, name, "serving_production")) == (
        "1", "1")

    private_model(name, deploy={"target": "kubernetes", "strategy": "rolling", "options": options,
                                "environments": [{**environments[0], "options": {"namespace": "staging",
                                                                                 "image": BROKEN}},
                                                 environments[1]]})
    failed = deploy_dag(name, "2", STAGED_DAG_FILE).test()

    assert states(failed) == {"deploy_staging": "failed", "deploy": "upstream_failed"}
    assert "ProgressDeadlineExceeded" in client.get_model_version(name, "2").tags["mlops.deploy.staging.failed"]
    production = fake.get("Deployment", base_name(name), NAMESPACE)
    assert production["spec"]["template"]["metadata"]["labels"]["mlops.version"] == "1"
    assert alias_version(client, name, "serving_production") == "1"
