"""A fake Airflow 3 api-server on loopback: the login, dag, dagRuns and taskInstances endpoints the client uses,
over real HTTP.

It keeps state like Airflow does (issued tokens with an `exp`, runs by `dag_run_id`), counts every request it
receives per endpoint, and can be told to misbehave: answer 503, close the connection, or answer slowly.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops_provider.retraining import CONF_KEYS, REASONS
from tests.helpers.http import send_json

USER, PASSWORD = "monitor", "secret"
VIEWER, VIEWER_PASSWORD = "viewer", "view"
_TRIGGER = re.compile(r"^/api/v2/dags/(?P<dag>[^/]+)/dagRuns$")
_RUN = re.compile(r"^/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)$")
_DAG = re.compile(r"^/api/v2/dags/(?P<dag>[^/]+)$")
_TASKS = re.compile(r"^/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/?]+)/taskInstances(?:\?(?P<query>.*))?$")
PAGE_LIMIT = 100  # Airflow's [api] maximum_page_limit: a page never holds more


@dataclass
class FakeAirflow:
    url: str = ""
    users: dict[str, str] = field(default_factory=lambda: {USER: PASSWORD, VIEWER: VIEWER_PASSWORD})
    read_only: set[str] = field(default_factory=lambda: {VIEWER})
    dags: set[str] = field(default_factory=lambda: {"mlops_retraining"})
    models: tuple[str, ...] = ("credit_default", "breast_cancer")
    token_lifetime: int = 3600
    accept_tokens: bool = True
    fail: Counter[str] = field(default_factory=Counter)  # endpoint -> how many more 503 answers
    drop: Counter[str] = field(default_factory=Counter)  # endpoint -> how many more closed connections
    slow: Counter[str] = field(default_factory=Counter)  # endpoint -> how many more answers after a delay
    delay: float = 0.5
    running_polls: int = 1  # GETs of a run that answer "running" before `final_state`
    final_state: str = "success"
    calls: Counter[str] = field(default_factory=Counter)
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    unpaused: set[str] = field(default_factory=set)
    import_errors: list[dict[str, Any]] = field(default_factory=list)
    task_states: dict[str, str] = field(default_factory=lambda: {"validate": "success", "train": "failed"})
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_token(self, user: str) -> str:
        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        claims = {"sub": user, "exp": int(time.time()) + self.token_lifetime, "jti": uuid.uuid4().hex}
        token = f"{part({'alg': 'HS512', 'typ': 'JWT'})}.{part(claims)}.{uuid.uuid4().hex}"
        self.tokens.add(token)
        return token

    def user_of(self, header: str | None) -> str | None:
        token = (header or "").removeprefix("Bearer ")
        if not self.accept_tokens or token not in self.tokens:
            return None
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"]) if claims["exp"] > time.time() else None


def _conf_problem(dag: str, conf: Any, models: tuple[str, ...]) -> str | None:
    """What Airflow (Params + our conf guard) answers for a conf that breaks the DAG's contract."""
    if dag == "mlops_deployment":
        return _deployment_conf_problem(conf, models)
    unknown = sorted(set(conf or {}) - CONF_KEYS)
    if unknown:
        return f"Invalid input for conf: unknown key(s) {unknown}; allowed keys: {sorted(CONF_KEYS)}"
    if conf.get("model") not in models:
        return f"Invalid input for param model: {conf.get('model')!r} is not one of {list(models)}"
    if conf.get("reason") not in REASONS:
        return (f"Invalid input for param reason: {conf.get('reason')!r} is not one of {list(REASONS)}\n\n"
                "Failed validating 'enum' in schema")
    return None


def _deployment_conf_problem(conf: Any, models: tuple[str, ...]) -> str | None:
    """mlops_deployment's Params: `model` one of the models (or null), `version` digits (or null)."""
    conf = conf or {}
    if conf.get("model") not in (None, *models):
        return f"Invalid input for param model: {conf.get('model')!r} is not one of {[None, *models]}"
    version = conf.get("version")
    if version is not None and not (isinstance(version, str) and re.match(r"^[0-9]+$", version)):
        return f"Invalid input for param version: {version!r} does not match '^[0-9]+$'"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeAirflowServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        endpoint = self._endpoint(method)
        with fake.lock:
            fake.calls[endpoint] += 1
            if fake.drop[endpoint] > 0:
                fake.drop[endpoint] -= 1
                self.close_connection = True
                return
            if fake.fail[endpoint] > 0:
                fake.fail[endpoint] -= 1
                self._reply(503, {"detail": "Service Unavailable"})
                return
            slow = fake.slow[endpoint] > 0
            fake.slow[endpoint] -= 1 if slow else 0
            status, answer = self._route(method, body)
        if slow:
            time.sleep(fake.delay)  # the work is done; only the answer is late (it may never be read)
        self._reply(status, answer)

    def _endpoint(self, method: str) -> str:
        if self.path == "/auth/token":
            return "token"
        if method == "POST" and _TRIGGER.match(self.path):
            return "trigger"
        if method == "GET" and _RUN.match(self.path):
            return "get_run"
        if method == "GET" and _DAG.match(self.path):
            return "get_dag"
        return "other"

    def _route(self, method: str, body: Any) -> tuple[int, Any]:
        fake = self.server.fake
        if self.path == "/auth/token" and method == "POST":
            body = body or {}
            if fake.users.get(body.get("username")) != body.get("password") or not body.get("username"):
                return 401, {"detail": "Invalid credentials"}
            return 201, {"access_token": fake.issue_token(body["username"])}
        user = fake.user_of(self.headers.get("Authorization"))
        if user is None:
            return 401, {"detail": "Invalid JWT token"}
        if self.path == "/api/v2/importErrors" and method == "GET":
            return 200, {"import_errors": fake.import_errors, "total_entries": len(fake.import_errors)}
        dag_only, tasks = _DAG.match(self.path), _TASKS.match(self.path)
        if dag_only or tasks:
            return self._route_dag(method, body, user, dag_only, tasks)
        trigger, run = _TRIGGER.match(self.path), _RUN.match(self.path)
        match = trigger or run
        if match is None or match.group("dag") not in fake.dags:
            return 404, {"detail": f"Dag with dag_id: '{match.group('dag') if match else self.path}' not found"}
        dag = match.group("dag")
        if trigger and method == "POST":
            if user in fake.read_only:
                return 403, {"detail": "Forbidden"}
            problem = _conf_problem(dag, body.get("conf"), fake.models)
            if problem:
                return 400, {"detail": problem}
            key = (dag, body["dag_run_id"])
            if key in fake.runs:
                return 409, {"detail": {"reason": "Unique constraint violation", "statement": "INSERT ..."}}
            fake.runs[key] = {"dag_id": dag, "dag_run_id": body["dag_run_id"], "conf": body["conf"],
                              "logical_date": body["logical_date"], "state": "queued", "polls": 0}
            return 200, _public(fake.runs[key])
        if run and method == "GET":
            found = fake.runs.get((dag, run.group("run")))
            if found is None:
                return 404, {"detail": f"The DagRun with dag_id: `{dag}` and run_id: `{run.group('run')}` "
                                       "was not found"}
            found["polls"] += 1
            found["state"] = "running" if found["polls"] <= fake.running_polls else fake.final_state
            return 200, _public(found)
        if trigger and method == "GET":
            runs = [_public(r) for (d, _), r in fake.runs.items() if d == dag]
            return 200, {"dag_runs": runs, "total_entries": len(runs)}
        return 405, {"detail": "Method Not Allowed"}

    def _route_dag(self, method: str, body: Any, user: str, dag_only: Any, tasks: Any) -> tuple[int, Any]:
        """`GET` and `PATCH /dags/{dag}` (pause state) and `GET .../taskInstances` of a run."""
        fake = self.server.fake
        dag = (dag_only or tasks).group("dag")
        if dag not in fake.dags:
            return 404, {"detail": f"Dag with dag_id: '{dag}' not found"}
        if tasks and method == "GET":
            if (dag, tasks.group("run")) not in fake.runs:
                return 404, {"detail": f"DagRun with dag_id: '{dag}' and run_id: '{tasks.group('run')}' not found"}
            from urllib.parse import parse_qs

            query = {k: int(v[0]) for k, v in parse_qs(tasks.group("query") or "").items() if k in ("limit", "offset")}
            offset, limit = query.get("offset", 0), min(query.get("limit", 50), PAGE_LIMIT)
            items = [{"task_id": t, "state": s, "map_index": -1} for t, s in fake.task_states.items()]
            return 200, {"task_instances": items[offset:offset + limit], "total_entries": len(items)}
        if dag_only and method == "GET":
            return 200, {"dag_id": dag, "is_paused": dag not in fake.unpaused}
        if dag_only and method == "PATCH":
            if user in fake.read_only:
                return 403, {"detail": "Forbidden"}
            (fake.unpaused.discard if (body or {}).get("is_paused") else fake.unpaused.add)(dag)
            return 200, {"dag_id": dag, "is_paused": dag not in fake.unpaused}
        return 405, {"detail": "Method Not Allowed"}

    def _reply(self, status: int, answer: Any) -> None:
        send_json(self, status, answer)


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "polls"}


class FakeAirflowServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAirflow

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = FakeAirflow(url=f"http://127.0.0.1:{self.server_address[1]}")
