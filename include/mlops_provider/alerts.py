"""Alerts of the model policy through Airflow's own notifiers (Slack webhook, HTTP, SMTP): the `alerts` key of a
model config, the message, delivery with retries that never raises, and the failure callback of the mlops DAGs.

Only pydantic and the standard library at import: a DAG file may import this module, and each provider is
imported when its notifier is built.
"""

from __future__ import annotations

import html
import logging
import math
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlops_provider.exceptions import ConfigError

log = logging.getLogger(__name__)

AlertKind = Literal["drift", "degradation", "rollback", "retrain", "promotion", "rejected", "task_failed",
                    "lifecycle"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
NotifierName = Literal["slack_webhook", "http", "smtp"]
NOTIFIERS: tuple[str, ...] = get_args(NotifierName)

# Airflow accepts a few more characters; these are the ones an AIRFLOW_CONN_<ID> variable and a URL can carry,
# and they keep Jinja (`{{ }}`) and whitespace out of a value a notifier would render.
CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,249}$")
EMAIL = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+$")
# scheme://[user:password@]host[:port]/path?query: error texts keep the server, never the path (a webhook's
# path is its secret) nor credentials.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)(?:[^/\s@'\"]*@)?([^/\s'\"?#]+)[^\s'\")]*")
# the extra keys Airflow's own masker treats as sensitive (and header names that carry credentials)
_SECRET_KEY = re.compile(r"passw|passphrase|secret|token|api_?key|private_key|authorization|cookie|credential",
                         re.IGNORECASE)
MAX_DETAILS = 4000


class AlertSpec(BaseModel):
    """One entry of a model config's `alerts`: which notifier, through which Airflow connection, on what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notifier: NotifierName = Field(description="slack_webhook, http (POST of the event as JSON) or smtp")
    conn_id: str = Field(description="the Airflow connection the notifier sends through")
    to: list[str] = Field([], description="recipients, for smtp only")
    on: list[AlertKind] = Field(list(get_args(AlertKind)), description="the events this alert is for (default: all)")

    @field_validator("notifier", mode="before")
    @classmethod
    def _known_notifier(cls, value: Any) -> Any:
        if value not in NOTIFIERS:
            raise ValueError(f"unknown notifier {value!r}: use one of {', '.join(NOTIFIERS)}")
        return value

    @field_validator("conn_id")
    @classmethod
    def _conn_id_form(cls, value: str) -> str:
        if not CONN_ID.match(value):
            raise ValueError(f"{value!r} is not an Airflow connection id (letters, digits, '_', '-', '.', "
                             "at most 250)")
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not EMAIL.match(address)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(repr(b) for b in bad)}")
        return value

    @field_validator("on")
    @classmethod
    def _some_kinds(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"an alert on nothing never fires: list some of {', '.join(ALERT_KINDS)}, "
                             "or leave 'on' out for all")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _recipients_for_email_only(self) -> AlertSpec:
        if self.notifier == "smtp" and not self.to:
            raise ValueError("notifier 'smtp' needs 'to': the recipients' addresses")
        if self.notifier != "smtp" and self.to:
            raise ValueError(f"'to' is for notifier 'smtp' only; {self.notifier} sends where its connection "
                             f"'{self.conn_id}' points")
        return self


@dataclass(frozen=True)
class AlertEvent:
    """What happened to a model, as every notifier says it. `versions`: role -> version ("champion": "3"),
    `numbers`: metric -> value, `links`: label -> URL (Airflow run, MLflow version, report)."""

    kind: str
    model: str
    summary: str
    versions: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    details: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {', '.join(ALERT_KINDS)}")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one alert: `error` (without secrets) when every attempt failed."""

    spec: AlertSpec
    ok: bool
    error: str | None = None
    attempts: int = 0


# -- messages -------------------------------------------------------------------------------------------------

def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return f"{value:.4g}"
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _title(event: AlertEvent) -> str:
    return f"{event.kind.replace('_', ' ')}: {event.model}"


def render_subject(event: AlertEvent) -> str:
    """One line: `[mlops] drift: credit_default - <summary>` (an email subject)."""
    line = " ".join(f"[mlops] {_title(event)} - {event.summary}".split())
    return line if len(line) <= 160 else line[:159] + "…"


def render_text(event: AlertEvent) -> str:
    """The alert as plain text: title, versions, numbers, links, details."""
    lines = [f"[mlops] {_title(event)}", event.summary]
    if event.versions:
        lines.append("versions: " + ", ".join(f"{role} {version}" for role, version in event.versions.items()))
    if event.numbers:
        lines.append("numbers: " + ", ".join(f"{name} {_number(v)}" for name, v in event.numbers.items()))
    if event.links:
        lines += ["links:", *(f"  {label}: {url}" for label, url in event.links.items())]
    if event.details:
        lines += ["details:", *(f"  {line}" for line in event.details.splitlines())]
    return "\n".join(lines)


def _md(text: str) -> str:
    """Text that Markdown shows as written (no accidental emphasis, links or tables)."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text)


def _code(name: str) -> str:
    """A name (model, role, metric) as a code span: shown as written, underscores and all."""
    plain = name.replace("`", "'")
    return f"`{plain}`"


def render_markdown(event: AlertEvent) -> str:
    """The alert as Markdown: bold title, a versions line, a table of numbers, links, details in a code block."""
    lines = [f"**[mlops] {event.kind.replace('_', ' ')}:** {_code(event.model)}", "", _md(event.summary)]
    if event.versions:
        lines += ["", "Versions: " + ", ".join(f"{_md(role)} {_code(version)}"
                                               for role, version in event.versions.items())]
    if event.numbers:
        lines += ["", "| metric | value |", "| --- | --- |",
                  *(f"| {_code(name)} | {_number(v)} |" for name, v in event.numbers.items())]
    if event.links:
        lines += ["", " · ".join(f"[{_md(label)}](<{url}>)" for label, url in event.links.items())]
    if event.details:
        lines += ["", "```", event.details.replace("```", "'''"), "```"]
    return "\n".join(lines)


def render_html(event: AlertEvent) -> str:
    """The alert as the HTML body of an email."""
    e = html.escape
    parts = [f"<h3>[mlops] {e(_title(event))}</h3>", f"<p>{e(event.summary)}</p>"]
    if event.versions:
        parts.append("<p>Versions: " + ", ".join(f"{e(role)} <b>{e(version)}</b>"
                                                 for role, version in event.versions.items()) + "</p>")
    if event.numbers:
        rows = "".join(f"<tr><td>{e(name)}</td><td>{e(_number(v))}</td></tr>" for name, v in event.numbers.items())
        parts.append(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>")
    if event.links:
        parts.append("<ul>" + "".join(f'<li><a href="{e(url)}">{e(label)}</a>: {e(url)}</li>'
                                      for label, url in event.links.items()) + "</ul>")
    if event.details:
        parts.append(f"<pre>{e(event.details)}</pre>")
    return "\n".join(parts)


def event_payload(event: AlertEvent) -> dict[str, Any]:
    """The JSON body the `http` notifier POSTs: the event's fields plus its text and Markdown renderings."""
    return {**asdict(event), "text": render_text(event), "markdown": render_markdown(event)}


def _slack_text(event: AlertEvent) -> str:
    # Slack reads &, < and > as control characters in a webhook's text
    text = render_text(event)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- secrets --------------------------------------------------------------------------------------------------

def _mask_known_secrets(text: str) -> str:
    """`text` through Airflow's secrets masker: inside a task it knows every connection password and sensitive
    variable the task has read."""
    try:
        from airflow.sdk.log import redact as airflow_redact
    except ImportError:
        return text
    masked = airflow_redact(text)
    return masked if isinstance(masked, str) else text


def _without_userinfo(url: str) -> str:
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@]*@", r"\1", url)


def _safe_event(event: AlertEvent) -> AlertEvent:
    """The event as it may leave the process: masked secrets in free text, no credentials in links."""
    details = event.details and _mask_known_secrets(event.details)
    if details and len(details) > MAX_DETAILS:
        details = details[:MAX_DETAILS] + "\n…"
    return replace(event, summary=_mask_known_secrets(event.summary), details=details,
                   links={label: _without_userinfo(url) for label, url in event.links.items()})


def _connection_secrets(conn: Any, notifier: str) -> list[str]:
    """What of a connection must never reach a log or an error: its password (a Slack webhook's token), the path
    and query of an `http` host (a webhook's secret path; a Slack host's path is the public `/services`),
    credentials in the host and extra values under secret-sounding keys."""
    found: list[str] = [conn.password] if conn.password else []
    host = conn.host or ""
    if notifier == "http" and "://" in host:
        rest = host.split("://", 1)[1]
        if "/" in rest and rest.split("/", 1)[1].strip("/"):
            found.append("/" + rest.split("/", 1)[1])
    if "@" in host:
        found.append(host.split("://", 1)[-1].split("@", 1)[0])

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, secret or bool(_SECRET_KEY.search(str(key))))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str) and value:
            found.append(value)

    with suppress(Exception):  # an extra that is not JSON holds nothing we read
        walk(conn.extra_dejson, False)
    return [secret for secret in found if len(secret) >= 4]


def _register_masks(secrets: Sequence[str]) -> None:
    """Let Airflow's masker hide them too: a provider's own log line (HttpHook logs the failing URL) then
    shows *** in the task log."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        return
    for secret in secrets:
        mask_secret(secret)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` without `secrets`, credentials or URL paths: a URL keeps its scheme and server only."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL.sub(lambda m: f"{m.group(1)}{m.group(2)}/***", _mask_known_secrets(text))


# -- connections ----------------------------------------------------------------------------------------------

def _in_task() -> bool:
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def lookup_connection(conn_id: str) -> Any | None:
    """The connection `conn_id` as a Task SDK `Connection`, or None when Airflow has none of that id.

    In a task, the Task SDK asks the API server (metadata DB), env vars and secrets backends. In a plain process
    (the `mlops` CLI) the Task SDK sees env vars and secrets backends only, so the metadata DB is asked too."""
    from airflow.sdk import BaseHook, Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if _in_task():
            return None
    try:
        from airflow.models.connection import Connection as StoredConnection
    except ImportError:  # a worker with the Task SDK only
        return None
    try:
        stored = StoredConnection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    return Connection(conn_id=stored.conn_id, conn_type=stored.conn_type, host=stored.host, schema=stored.schema,
                      login=stored.login, password=stored.password, port=stored.port, extra=stored.extra)


def _smtp_sender(conn: Any) -> str | None:
    sender = conn.extra_dejson.get("from_email")
    if sender:
        return str(sender)
    try:
        from airflow.sdk.configuration import conf
    except ImportError:
        return None
    return conf.get("email", "from_email", fallback=None) or None


def _unusable(spec: AlertSpec, conn: Any) -> str | None:
    """Why the notifier of `spec` could not send through `conn`, or None. Names fields, never their values."""
    if spec.notifier == "slack_webhook" and not (conn.password or "").strip():
        return "has no webhook token in its password field"
    if spec.notifier == "http" and not conn.host:
        return "has no host (the URL the alert is POSTed to)"
    if spec.notifier == "smtp":
        if not conn.host:
            return "has no host (the SMTP server)"
        if not _smtp_sender(conn):
            return "names no sender: set extra 'from_email' (or [email] from_email in airflow.cfg)"
    return None


def check_connections(specs: Sequence[AlertSpec], *, source: str) -> None:
    """Every alert's connection exists and fits its notifier, or one ConfigError naming the file `source`, each
    key (`alerts[1].conn_id`) and connection id. Reads connections; sends nothing."""
    problems = []
    for index, spec in enumerate(specs):
        key = f"alerts[{index}].conn_id"
        try:
            conn = lookup_connection(spec.conn_id)
        except Exception as err:  # a secrets backend that is down: say so, not "missing"
            problems.append(f"key '{key}': connection '{spec.conn_id}' could not be read "
                            f"({type(err).__name__}: {redact(str(err))})")
            continue
        if conn is None:
            problems.append(f"key '{key}': connection '{spec.conn_id}' does not exist (define it in Airflow, "
                            f"or as env var AIRFLOW_CONN_{spec.conn_id.upper()})")
        elif why := _unusable(spec, conn):
            problems.append(f"key '{key}': connection '{spec.conn_id}' {why}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


@contextmanager
def _using(conn: Any) -> Iterator[None]:
    """Hooks inside the notifier look the connection up again: hand them the one found here, so a plain process
    sends through a metadata-DB connection and the secrets redacted are those of the connection used. (The
    Task SDK's own `Connection.test_connection` pre-warms the same context variable.)"""
    try:
        from airflow.sdk.execution_time.context import _preset_connections
    except ImportError:
        yield
        return
    token = _preset_connections.set({**(_preset_connections.get() or {}), conn.conn_id: conn})
    try:
        yield
    finally:
        _preset_connections.reset(token)


# -- delivery -------------------------------------------------------------------------------------------------

def _notifier(spec: AlertSpec, event: AlertEvent, conn: Any, timeout: float) -> Any:
    """The official notifier for `spec`, built for one send (no retries of its own: `send_alerts` retries)."""
    if spec.notifier == "slack_webhook":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(slack_webhook_conn_id=spec.conn_id, text=_slack_text(event),
                                    timeout=max(1, math.ceil(timeout)), retry_handlers=[])
    if spec.notifier == "http":
        from airflow.providers.http.notifications.http import HttpNotifier

        return HttpNotifier(http_conn_id=spec.conn_id, method="POST", json=event_payload(event),
                            extra_options={"timeout": timeout})
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(to=list(spec.to), from_email=_smtp_sender(conn), smtp_conn_id=spec.conn_id,
                        subject=render_subject(event), html_content=render_html(event))


def _deliver(spec: AlertSpec, event: AlertEvent, context: Mapping[str, Any], *, retries: int, backoff: float,
             timeout: float) -> Delivery:
    where = f"{spec.notifier} '{spec.conn_id}'"
    try:
        conn = lookup_connection(spec.conn_id)
    except Exception as err:
        conn, error = None, f"connection could not be read: {type(err).__name__}: {redact(str(err))}"
    else:
        error = "connection does not exist"
    if conn is None:  # not worth a retry: the connection will not appear in the next seconds
        log.error("Alert %s for model %s not sent through %s: %s", event.kind, event.model, where, error)
        return Delivery(spec, ok=False, error=error, attempts=0)
    secrets = _connection_secrets(conn, spec.notifier)
    _register_masks(secrets)
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            with _using(conn):
                # notify() rather than calling the notifier: __call__ would render our text as a Jinja template
                _notifier(spec, event, conn, timeout).notify(dict(context))
        except Exception as err:
            error = redact(f"{type(err).__name__}: {err}", secrets)
            if attempt < attempts:
                delay = backoff * 2 ** (attempt - 1)
                log.warning("Alert %s for model %s through %s failed (attempt %d of %d), again in %.1f s: %s",
                            event.kind, event.model, where, attempt, attempts, delay, error)
                time.sleep(delay)
        else:
            log.info("Alert %s for model %s sent through %s", event.kind, event.model, where)
            return Delivery(spec, ok=True, attempts=attempt)
    log.error("Alert %s for model %s not sent through %s after %d attempts: %s", event.kind, event.model, where,
              attempts, error)
    return Delivery(spec, ok=False, error=error, attempts=attempts)


def send_alerts(specs: Sequence[AlertSpec], event: AlertEvent, *, context: Mapping[str, Any] | None = None,
                retries: int = 2, backoff: float = 2.0, timeout: float = 10.0) -> list[Delivery]:
    """Send `event` through every spec whose `on` lists its kind, each with `retries` more attempts `backoff`,
    2x`backoff`, ... seconds apart. Never raises: an alert that cannot be sent is logged and comes back as
    `Delivery(ok=False)`, and the caller's action goes on."""
    deliveries = []
    try:
        safe = _safe_event(event)
    except Exception as err:
        log.error("Alert %s for model %s not sent: %s", event.kind, event.model, type(err).__name__)
        return [Delivery(spec, ok=False, error=type(err).__name__) for spec in specs if event.kind in spec.on]
    for spec in specs:
        if event.kind not in spec.on:
            continue
        try:
            deliveries.append(_deliver(spec, safe, context or {}, retries=max(0, retries),
                                       backoff=max(0.0, backoff), timeout=timeout))
        except Exception as err:  # a bug here must not cost the caller its action
            log.exception("Alert %s for model %s through %s failed", event.kind, event.model, spec.notifier)
            deliveries.append(Delivery(spec, ok=False, error=type(err).__name__))
    return deliveries


# -- failure callback -----------------------------------------------------------------------------------------

def _model_of(context: Mapping[str, Any]) -> str | None:
    """The model a failed task worked on: its map label, the operator's `model`, the run's params or conf, or
    the task group (mlops_training names each model's group after it), whichever names a configured model."""
    from mlops_provider.settings import model_names

    ti, task, dag_run = context.get("ti"), context.get("task"), context.get("dag_run")
    params = context.get("params") or {}
    conf = getattr(dag_run, "conf", None) or {}
    task_id = str(getattr(ti, "task_id", "") or getattr(task, "task_id", ""))
    candidates = [getattr(ti, "rendered_map_index", None), getattr(task, "model", None),
                  params.get("model") if isinstance(params, Mapping) else None,
                  conf.get("model") if isinstance(conf, Mapping) else None,
                  task_id.split(".")[0] if "." in task_id else None]
    named = [c for c in candidates if isinstance(c, str) and c]
    known = set(model_names())
    found = next((name for name in named if name in known), None)
    if found is None and named:
        log.info("No alert for failed task %s: %s names no configured model", task_id, ", ".join(named))
    return found


def _task_failed_event(context: Mapping[str, Any], model: str) -> AlertEvent:
    ti, dag_run = context.get("ti"), context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "?")
    run_id = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", "?")
    try_number = getattr(ti, "try_number", None)
    exception = context.get("exception")
    links = {}
    try:
        if log_url := getattr(ti, "log_url", None):
            links["task log"] = str(log_url)
    except Exception:  # log_url reads Airflow's config; an alert without the link still helps
        pass
    conf = getattr(dag_run, "conf", None) or {}
    versions = {"requested": str(conf["version"])} if isinstance(conf, Mapping) and conf.get("version") else {}
    return AlertEvent(
        kind="task_failed", model=model,
        summary=f"task {task_id} of DAG {dag_id} failed (run {run_id}, try {try_number or '?'})",
        versions=versions, numbers={"try_number": try_number} if isinstance(try_number, int) else {},
        links=links, details=f"{type(exception).__name__}: {exception}" if exception is not None else None)


def failure_callback(context: Mapping[str, Any]) -> None:
    """`on_failure_callback` of the mlops DAGs: a `task_failed` alert to the failed model's `alerts`. Never
    raises: a callback that fails hides the task's own error."""
    try:
        model = _model_of(context)
        if model is None:
            return
        from mlops_provider.config import load_model_config

        try:
            config = load_model_config(model, check_paths=False)
        except ConfigError as err:
            log.warning("No alert for model %s: %s", model, err)
            return
        specs = config.alerts
        if any("task_failed" in spec.on for spec in specs):
            send_alerts(specs, _task_failed_event(context, model), context=context)
    except Exception as err:
        log.error("The task_failed alert could not be sent: %s: %s", type(err).__name__, redact(str(err)))
