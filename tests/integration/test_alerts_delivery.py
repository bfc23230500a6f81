"""Alerts really delivered by Airflow's notifiers: to an HTTP receiver and a Slack webhook stand-in (stdlib HTTP
servers on loopback) and to an SMTP server (aiosmtpd); a receiver that is down; the DAGs' failure callback."""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow.sdk  # noqa: F401 (Airflow sets up logging on import: before caplog attaches, not in a test)
import pytest

from mlops_provider.alerts import AlertEvent, AlertSpec, failure_callback, send_alerts
from mlops_provider.netutil import free_port
from tests.helpers.model_configs import write_credit_copy
from tests.helpers.webhook import Receiver, webhook_receiver

SLACK_TOKEN = "T0AAA/B0BBB/s3cr3tW3bh00kT0k3n"
HOOK_PATH = "/hooks/pager-s3cr3t-p4th"
EVENT = AlertEvent(
    kind="rollback", model="credit_default", summary="canary failed its checks; rolled back to version 3",
    versions={"champion": "3", "candidate": "4"}, numbers={"error_rate": 0.125, "p95_latency_ms": 812.0},
    links={"Airflow run": "http://localhost:8080/dags/mlops_deployment/runs/asset_triggered__2026",
           "MLflow version": "http://localhost:5000/#/models/credit_default/versions/4"},
    details="error rate 12.5% > 5% at step 10%",
)
MUST_SAY = ("credit_default", "champion", "candidate", "error_rate", "0.125", "p95_latency_ms", "812",
            "Airflow run", "asset_triggered__2026", "MLflow version", "versions/4")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    from aiosmtpd.controller import Controller

    box = Mailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            box.recipients.append(list(envelope.rcpt_tos))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def connect(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def spec(**raw: Any) -> AlertSpec:
    return AlertSpec.model_validate(raw)


def test_http_alert_posts_the_event_as_json(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "pager_webhook", conn_type="http", host=receiver.base + HOOK_PATH)
    [delivery] = send_alerts([spec(notifier="http", conn_id="pager_webhook")], EVENT, backoff=0.01)
    assert delivery.ok and delivery.attempts == 1 and delivery.error is None
    [post] = receiver.posts
    assert post["path"] == HOOK_PATH and post["type"] == "application/json"
    body = json.loads(post["body"])
    assert body["kind"] == "rollback" and body["model"] == "credit_default"
    assert body["versions"] == {"champion": "3", "candidate": "4"}
    assert body["numbers"] == {"error_rate": 0.125, "p95_latency_ms": 812.0}
    assert body["links"] == EVENT.links
    for expected in MUST_SAY:
        assert expected in body["text"] and expected in body["markdown"], expected


def test_slack_alert_goes_to_the_webhook_url_built_from_the_connection(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # SlackWebhookHook: URL = host (with scheme) + "/" + password (the webhook token)
    connect(monkeypatch, "slack_mlops", conn_type="slackwebhook", host=receiver.base + "/services",
            password=SLACK_TOKEN)
    event = AlertEvent(**{**EVENT.__dict__, "summary": "threshold {{ 0.5 }} & <b>crossed</b>"})
    [delivery] = send_alerts([spec(notifier="slack_webhook", conn_id="slack_mlops")], event, backoff=0.01)
    assert delivery.ok, delivery.error
    [post] = receiver.posts
    assert post["path"] == f"/services/{SLACK_TOKEN}"
    text = json.loads(post["body"])["text"]
    for expected in MUST_SAY:
        assert expected in text, expected
    # sent as written (no Jinja rendering), with Slack's control characters escaped
    assert "threshold {{ 0.5 }} &amp; &lt;b&gt;crossed&lt;/b&gt;" in text


def test_smtp_alert_is_an_email_to_the_listed_recipients(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "smtp_alerts", conn_type="smtp", host="127.0.0.1", port=mailbox.port,
            extra={"from_email": "mlops@example.com", "disable_ssl": True, "disable_tls": True, "timeout": 5})
    to = ["ml-oncall@example.com", "owner@example.com"]
    [delivery] = send_alerts([spec(notifier="smtp", conn_id="smtp_alerts", to=to)], EVENT, backoff=0.01)
    assert delivery.ok, delivery.error
    [message] = mailbox.messages
    assert mailbox.recipients == [to]
    assert message["From"] == "mlops@example.com"
    assert message["Subject"].startswith("[mlops] rollback: credit_default - canary failed its checks")
    html_part = next(part for part in message.walk() if part.get_content_type() == "text/html")
    body = html_part.get_content()
    for expected in MUST_SAY:
        assert expected in body, expected
    assert '<a href="http://localhost:5000/#/models/credit_default/versions/4">MLflow version</a>' in body


def test_only_the_alerts_listening_for_the_kind_are_sent(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "pager_webhook", conn_type="http", host=receiver.base + HOOK_PATH)
    specs = [spec(notifier="http", conn_id="pager_webhook", on=["drift"]),
             spec(notifier="http", conn_id="pager_webhook", on=["rollback", "task_failed"])]
    deliveries = send_alerts(specs, EVENT, backoff=0.01)
    assert [d.spec for d in deliveries] == [specs[1]] and deliveries[0].ok
    assert len(receiver.posts) == 1


def test_a_failing_receiver_is_retried_then_reported(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "pager_webhook", conn_type="http", host=receiver.base + HOOK_PATH)
    receiver.failures = 1
    [recovered] = send_alerts([spec(notifier="http", conn_id="pager_webhook")], EVENT, retries=2, backoff=0.01)
    assert recovered.ok and recovered.attempts == 2 and len(receiver.posts) == 2

    receiver.posts.clear()
    receiver.failures = 10
    [failed] = send_alerts([spec(notifier="http", conn_id="pager_webhook")], EVENT, retries=2, backoff=0.01)
    assert not failed.ok and failed.attempts == 3 and len(receiver.posts) == 3
    assert failed.error is not None and "500" in failed.error


def test_a_receiver_that_is_down_fails_quietly_without_secrets(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    connect(monkeypatch, "pager_webhook", conn_type="http", host=closed + HOOK_PATH)
    connect(monkeypatch, "slack_mlops", conn_type="slackwebhook", host=closed + "/services", password=SLACK_TOKEN)
    specs = [spec(notifier="http", conn_id="pager_webhook"), spec(notifier="slack_webhook", conn_id="slack_mlops")]
    with caplog.at_level(logging.INFO, logger="mlops_provider.alerts"):
        deliveries = send_alerts(specs, EVENT, retries=2, backoff=0.01, timeout=2)
    assert [(d.ok, d.attempts) for d in deliveries] == [(False, 3), (False, 3)]
    ours = [r.getMessage() for r in caplog.records if r.name == "mlops_provider.alerts"]
    assert sum("failed (attempt" in line for line in ours) == 4
    assert sum("not sent" in line for line in ours) == 2
    for text in [*ours, *(d.error or "" for d in deliveries)]:
        assert "s3cr3t" not in text and "T0AAA" not in text, text
    assert "127.0.0.1" in (deliveries[0].error or "")  # the server stays, for whoever debugs it
    # Airflow's masker learned the secrets, so a provider's own log line in a task log shows *** instead
    from airflow.sdk.log import redact as airflow_redact

    assert "s3cr3t" not in airflow_redact(f"Max retries exceeded with url: {HOOK_PATH} ({SLACK_TOKEN})")


def test_a_missing_connection_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    [delivery] = send_alerts([spec(notifier="http", conn_id="nowhere")], EVENT, retries=3, backoff=5)
    assert not delivery.ok and delivery.attempts == 0 and delivery.error == "connection does not exist"


def failed_task_context(model: str, log_url: str) -> dict[str, Any]:
    """The parts of an Airflow task context the failure callback reads, as a failed mapped task has them."""
    ti = SimpleNamespace(dag_id="mlops_deployment", task_id="deploy", run_id="asset_triggered__2026-12-01",
                         try_number=2, map_index=0, rendered_map_index=model, log_url=log_url)
    return {"ti": ti, "task": SimpleNamespace(task_id="deploy"), "params": {"model": None},
            "dag_run": SimpleNamespace(run_id=ti.run_id, conf={"version": "4"}),
            "exception": RuntimeError("rollout of version 4 stalled at 10%")}


def test_failure_callback_alerts_the_failed_model(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    write_credit_copy(tmp_path / "models", "alerted",
                      alerts=[{"notifier": "http", "conn_id": "pager_webhook", "on": ["task_failed"]}])
    write_credit_copy(tmp_path / "models", "quiet", alerts=[{"notifier": "http", "conn_id": "pager_webhook",
                                                             "on": ["drift"]}])
    connect(monkeypatch, "pager_webhook", conn_type="http", host=receiver.base + HOOK_PATH)
    log_url = "http://localhost:8080/dags/mlops_deployment/runs/asset_triggered__2026-12-01/tasks/deploy/mapped/0"

    failure_callback(failed_task_context("quiet", log_url))
    assert receiver.posts == []
    failure_callback(failed_task_context("alerted", log_url))
    [post] = receiver.posts
    body = json.loads(post["body"])
    assert body["kind"] == "task_failed" and body["model"] == "alerted"
    assert body["links"] == {"task log": log_url}
    assert body["numbers"] == {"try_number": 2} and body["versions"] == {"requested": "4"}
    for expected in ("mlops_deployment", "deploy", "asset_triggered__2026-12-01", "try 2",
                     "RuntimeError: rollout of version 4 stalled at 10%"):
        assert expected in body["text"], expected


def test_failure_callback_without_a_model_config_does_nothing_and_never_raises(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "none"))
    with caplog.at_level(logging.INFO, logger="mlops_provider.alerts"):
        failure_callback(failed_task_context("ghost", "http://x"))
        failure_callback({})  # a context without anything in it
    assert receiver.posts == []
    assert any("ghost names no configured model" in r.getMessage() for r in caplog.records)


def test_a_task_that_fails_in_a_real_run_alerts_through_the_callback(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> None:
    """The callback as Airflow runs it: in the task process, after the task's last try, connection from the
    Task SDK."""
    from airflow.sdk import DAG, task

    from tests.helpers.dag_db import write_to_db

    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    write_credit_copy(tmp_path / "models", "alerted_run", alerts=[{"notifier": "http", "conn_id": "pager_webhook"}])
    connect(monkeypatch, "pager_webhook", conn_type="http", host=receiver.base + HOOK_PATH)

    with DAG("alerts_failure_probe", schedule=None, params={"model": "alerted_run"},
             default_args={"retries": 0, "on_failure_callback": failure_callback}) as dag:
        @task
        def fail_on_purpose() -> None:
            raise RuntimeError("the probe task fails on purpose")

        fail_on_purpose()
    write_to_db(dag)
    run = dag.test()

    assert str(run.state) == "failed"
    [post] = receiver.posts
    body = json.loads(post["body"])
    assert (body["kind"], body["model"]) == ("task_failed", "alerted_run")
    assert "task fail_on_purpose of DAG alerts_failure_probe failed" in body["summary"]
    assert body["details"] == "RuntimeError: the probe task fails on purpose"
    assert "/dags/alerts_failure_probe/runs/" in body["links"]["task log"]


def test_a_connection_of_the_metadata_db_serves_a_plain_process(receiver: Receiver, airflow_db: Path) -> None:
    """Outside a task the Task SDK reads only env vars and secrets backends; the `mlops` CLI still finds, and
    sends through, a connection that lives in the metadata DB."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    from mlops_provider.alerts import check_connections

    conn_id = "pager_in_db"
    with create_session() as session:
        session.add(Connection(conn_id=conn_id, conn_type="http", host=receiver.base + HOOK_PATH))
    try:
        specs = [spec(notifier="http", conn_id=conn_id)]
        check_connections(specs, source="models/credit_default.yaml")
        [delivery] = send_alerts(specs, EVENT, backoff=0.01)
        assert delivery.ok, delivery.error
        assert [post["path"] for post in receiver.posts] == [HOOK_PATH]
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
