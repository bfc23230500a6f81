"""The `alerts` key of a model config, the alert messages, and the connection check (no sending here: see
tests/integration/test_alerts_delivery.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_provider.alerts import (
    ALERT_KINDS,
    AlertEvent,
    AlertSpec,
    check_connections,
    event_payload,
    redact,
    render_html,
    render_markdown,
    render_subject,
    render_text,
)
from mlops_provider.exceptions import ConfigError

EVENT = AlertEvent(
    kind="drift", model="credit_default", summary="feature drift in 3 of 12 columns",
    versions={"champion": "3", "candidate": "4"}, numbers={"drift_share": 0.25, "roc_auc": 0.8712345, "rows": 5000},
    links={"Airflow run": "http://localhost:8080/dags/mlops_drift_monitor/runs/manual__1",
           "MLflow version": "http://localhost:5000/#/models/credit_default/versions/4"},
    details="income: ks 0.31 > 0.1\nage: ks 0.12 > 0.1",
)


def errors_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        AlertSpec.model_validate(raw)
    return str(caught.value)


def test_a_spec_defaults_to_every_kind_and_is_frozen() -> None:
    spec = AlertSpec.model_validate({"notifier": "slack_webhook", "conn_id": "slack_mlops"})
    assert spec.on == list(ALERT_KINDS) and spec.to == []
    with pytest.raises(ValidationError):
        spec.conn_id = "other"  # type: ignore[misc]
    email = AlertSpec.model_validate({"notifier": "smtp", "conn_id": "smtp_default", "to": ["ml@example.com"],
                                      "on": ["rollback", "task_failed", "rollback"]})
    assert email.on == ["rollback", "task_failed"]


def test_an_unknown_notifier_is_refused_with_the_known_ones() -> None:
    message = errors_of({"notifier": "pagerduty", "conn_id": "pd"})
    assert "unknown notifier 'pagerduty'" in message
    assert "slack_webhook, http, smtp" in message


@pytest.mark.parametrize(("raw", "expected"), [
    ({"notifier": "smtp", "conn_id": "smtp_default"}, "needs 'to'"),
    ({"notifier": "http", "conn_id": "hook", "to": ["a@example.com"]}, "'to' is for notifier 'smtp' only"),
    ({"notifier": "smtp", "conn_id": "smtp_default", "to": ["not-an-address"]}, "not an email address"),
    ({"notifier": "http", "conn_id": "pager webhook"}, "is not an Airflow connection id"),
    ({"notifier": "http", "conn_id": "{{ var.value.x }}"}, "is not an Airflow connection id"),
    ({"notifier": "http", "conn_id": ""}, "is not an Airflow connection id"),
    ({"notifier": "http", "conn_id": "hook", "on": []}, "an alert on nothing never fires"),
    ({"notifier": "http", "conn_id": "hook", "on": ["weather"]}, "'drift', 'degradation'"),
    ({"notifier": "slack_webhook", "conn_id": "s", "channel": "#ml"}, "Extra inputs are not permitted"),
])
def test_a_bad_spec_is_refused_with_a_reason(raw: dict[str, Any], expected: str) -> None:
    assert expected in errors_of(raw)


def test_an_event_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'weather' is not one of drift"):
        AlertEvent(kind="weather", model="m", summary="s")


@pytest.mark.parametrize("render", [render_text, render_markdown, render_html, lambda e: json.dumps(event_payload(e))])
def test_every_message_says_model_versions_numbers_and_links(render: Any) -> None:
    message = render(EVENT)
    for expected in ("credit_default", "champion", "3", "candidate", "4", "drift_share", "0.25", "roc_auc",
                     "0.8712", "5000", "Airflow run", "manual__1", "MLflow version", "versions/4", "income"):
        assert expected in message, (expected, message)


def test_the_text_message_lines() -> None:
    lines = render_text(EVENT).splitlines()
    assert lines[:4] == ["[mlops] drift: credit_default", "feature drift in 3 of 12 columns",
                         "versions: champion 3, candidate 4", "numbers: drift_share 0.25, roc_auc 0.8712, rows 5000"]
    assert "  MLflow version: http://localhost:5000/#/models/credit_default/versions/4" in lines


def test_markdown_links_and_escapes() -> None:
    event = AlertEvent(kind="rollback", model="credit_default", summary="a *bad* [deploy]",
                       links={"report": "http://x/r.html"}, details="``` end")
    markdown = render_markdown(event)
    assert "[report](<http://x/r.html>)" in markdown
    assert r"a \*bad\* \[deploy\]" in markdown
    assert markdown.count("```") == 2  # details cannot close their code block early


def test_html_escapes_what_it_shows() -> None:
    event = AlertEvent(kind="rejected", model="m", summary="<script>x</script>", numbers={"a<b": 1.0})
    body = render_html(event)
    assert "<script>" not in body and "&lt;script&gt;" in body and "a&lt;b" in body


def test_the_subject_is_one_short_line() -> None:
    subject = render_subject(AlertEvent(kind="task_failed", model="m", summary="line one\nline two " + "x" * 300))
    assert "\n" not in subject and len(subject) <= 160
    assert subject.startswith("[mlops] task failed: m - line one line two")


def test_redact_keeps_the_server_and_drops_paths_credentials_and_secrets() -> None:
    text = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
            "/hooks/T0K3N (refused) calling https://user:pw@hooks.example.com/services/T0K3N?x=1")
    cleaned = redact(text, ["/hooks/T0K3N", "T0K3N"])
    assert "T0K3N" not in cleaned and "pw" not in cleaned and "user" not in cleaned
    assert "https://hooks.example.com/***" in cleaned and "127.0.0.1" in cleaned


def specs(*raw: dict[str, Any]) -> list[AlertSpec]:
    return [AlertSpec.model_validate(item) for item in raw]


def test_check_connections_passes_when_each_connection_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_MLOPS", json.dumps(
        {"conn_type": "slackwebhook", "password": "T000/B000/XXXX"}))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": 25, "extra": {"from_email": "mlops@example.com"}}))
    check_connections(specs({"notifier": "slack_webhook", "conn_id": "slack_mlops"},
                            {"notifier": "smtp", "conn_id": "smtp_alerts", "to": ["ml@example.com"]}),
                      source="models/credit_default.yaml")


def test_check_connections_names_file_key_and_missing_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_MLOPS", json.dumps(
        {"conn_type": "slackwebhook", "password": "T000/B000/XXXX"}))
    with pytest.raises(ConfigError) as caught:
        check_connections(specs({"notifier": "slack_webhook", "conn_id": "slack_mlops"},
                                {"notifier": "http", "conn_id": "pager_webhook"}),
                          source="models/credit_default.yaml")
    message = str(caught.value)
    assert message.startswith("models/credit_default.yaml: key 'alerts[1].conn_id': connection 'pager_webhook' "
                              "does not exist")
    assert "AIRFLOW_CONN_PAGER_WEBHOOK" in message and "alerts[0]" not in message


def test_check_connections_names_what_a_connection_lacks_without_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_EMPTY", json.dumps({"conn_type": "slackwebhook", "host": "x"}))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_NOSENDER", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "password": "hunter22"}))
    with pytest.raises(ConfigError) as caught:
        check_connections(specs({"notifier": "slack_webhook", "conn_id": "slack_empty"},
                                {"notifier": "smtp", "conn_id": "smtp_nosender", "to": ["ml@example.com"]}),
                          source="m.yaml")
    message = str(caught.value)
    assert "key 'alerts[0].conn_id': connection 'slack_empty' has no webhook token" in message
    assert "key 'alerts[1].conn_id': connection 'smtp_nosender' names no sender" in message
    assert "hunter22" not in message
