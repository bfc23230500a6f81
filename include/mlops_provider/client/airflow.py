"""A small client for Airflow 3's REST API: log in for a JWT, trigger a DAG run idempotently, follow it, answer a
human-in-the-loop request.

Runs outside Airflow (monitors, cron jobs, alert hooks), so it imports only httpx and the standard library.
Transient failures (connection errors, timeouts, 429 and 5xx) are retried with exponential backoff and full
jitter; answers that will not change on a retry (400, 401, 403, 404, 422) raise `TriggerError` at once, in
plain words.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from mlops_provider.exceptions import MlopsError

ENV_URL, ENV_USER, ENV_PASSWORD = "MLOPS_AIRFLOW_URL", "MLOPS_AIRFLOW_USER", "MLOPS_AIRFLOW_PASSWORD"
DEFAULT_URL, DEFAULT_USER = "http://127.0.0.1:8080", "admin"
FINAL_STATES = frozenset({"success", "failed"})
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]{1,250}$")  # Airflow's default `allowed_run_id_pattern`
TOKEN_REFRESH_MARGIN = 30.0  # seconds before `exp` at which a cached token is replaced
MAX_BACKOFF = 30.0
_PARAM = re.compile(r"Invalid input for param (\S+?):")


class TriggerError(MlopsError):
    """Airflow could not be reached, refused the request, or the run did not end as hoped."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TriggerResult:
    """One triggered run. `created` is False when the `dag_run_id` existed already (HTTP 409)."""

    dag_run_id: str
    created: bool
    state: str | None
    url: str


class AirflowClient:
    """Triggers and follows DAG runs through `/api/v2`, logging in with Airflow 3's `POST /auth/token`.

    The JWT is cached until 30 s before its `exp` claim, and fetched again once if the API answers 401.
    Use it as a context manager, or call `close()`.
    """

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30,
                 max_attempts: int = 5, backoff: float = 1.0, transport: httpx.BaseTransport | None = None) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._token: str | None = None
        self._token_expires: float | None = None

    @classmethod
    def from_env(cls, base_url: str | None = None, username: str | None = None, password: str | None = None,
                 **options: Any) -> AirflowClient:
        """A client configured by arguments, else `MLOPS_AIRFLOW_URL`, `MLOPS_AIRFLOW_USER` (default `admin`)
        and `MLOPS_AIRFLOW_PASSWORD` (required)."""
        password = password if password is not None else os.environ.get(ENV_PASSWORD)
        if password is None:
            raise TriggerError(f"no Airflow password: set {ENV_PASSWORD} (and {ENV_USER}, default '{DEFAULT_USER}')")
        return cls(base_url or os.environ.get(ENV_URL) or DEFAULT_URL,
                   username or os.environ.get(ENV_USER) or DEFAULT_USER, password, **options)

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def run_url(self, dag_id: str, run_id: str) -> str:
        """Where a person sees the run in the Airflow UI."""
        return f"{self.base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def trigger(self, dag_id: str, conf: dict[str, Any], *, dag_run_id: str) -> TriggerResult:
        """Start a run of `dag_id` with `conf`; the `dag_run_id` is the idempotency key.

        A 409 (the run id exists) is success with `created=False`: the request was made before, possibly by an
        attempt of this very call whose answer was lost.
        """
        if not RUN_ID.match(dag_run_id):
            raise TriggerError(f"dag_run_id '{dag_run_id}' is not a valid Airflow run id: "
                               "use 1 to 250 of the characters A-Z a-z 0-9 _ . ~ : + -")
        body = {"logical_date": None, "dag_run_id": dag_run_id, "conf": conf}
        response = self._api("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", json=body)
        if response.status_code == 409:
            state = self.get_run(dag_id, dag_run_id).get("state")
            return TriggerResult(dag_run_id, False, state, self.run_url(dag_id, dag_run_id))
        self._raise_for(response, dag_id=dag_id, action="trigger")
        return TriggerResult(dag_run_id, True, _json(response).get("state"), self.run_url(dag_id, dag_run_id))

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run as Airflow describes it (`state`, `start_date`, `end_date`, `conf`, ...)."""
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        response = self._api("GET", path)
        if response.status_code == 404:
            raise TriggerError(f"run '{run_id}' of DAG '{dag_id}' not found: {_detail(response)}", status=404)
        self._raise_for(response, dag_id=dag_id, action="read runs of")
        return _json(response)

    def wait(self, dag_id: str, run_id: str, *, timeout: float, poll: float = 5,
             on_state: Callable[[str], None] | None = None) -> str:
        """Poll the run until it is `success` or `failed` and return that state; `on_state` hears each change.
        Raises `TriggerError` when the run has not ended after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen = None
        while True:
            state = str(self.get_run(dag_id, run_id).get("state"))
            if state != seen and on_state is not None:
                on_state(state)
            seen = state
            if state in FINAL_STATES:
                return state
            if time.monotonic() + poll > deadline:
                raise TriggerError(f"run '{run_id}' of DAG '{dag_id}' is still '{state}' after {timeout:.0f} s; "
                                   f"follow it at {self.run_url(dag_id, run_id)}")
            time.sleep(poll)

    def unpause(self, dag_id: str) -> None:
        """Unpause `dag_id`: the scheduler then runs it on its schedule or its assets."""
        self._set_paused(dag_id, False)

    def pause(self, dag_id: str) -> None:
        """Pause `dag_id`: its schedule stops creating runs."""
        self._set_paused(dag_id, True)

    def _set_paused(self, dag_id: str, paused: bool) -> None:
        response = self._api("PATCH", f"/api/v2/dags/{quote(dag_id, safe='')}", json={"is_paused": paused})
        self._raise_for(response, dag_id=dag_id, action="pause" if paused else "unpause")

    def list_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The runs of `dag_id` (the API's first page), as Airflow describes them."""
        response = self._api("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns")
        self._raise_for(response, dag_id=dag_id, action="read runs of")
        return list(_json(response).get("dag_runs") or [])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """`{task_id: state}` of one run (a mapped task shows the state of its last map index)."""
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        states: dict[str, str] = {}
        offset = 0
        while True:  # pages of at most 100 (Airflow's maximum_page_limit); a run of 50 models has 250 tasks
            response = self._api("GET", path, params={"limit": 100, "offset": offset})
            self._raise_for(response, dag_id=dag_id, action="read task instances of")
            page = _json(response)
            items = page.get("task_instances") or []
            states.update({item["task_id"]: str(item["state"]) for item in items})
            offset += len(items)
            if not items or offset >= int(page.get("total_entries") or 0):
                return states

    def wait_for_dag(self, dag_id: str, *, timeout: float, poll: float = 2) -> None:
        """Return once the api-server knows `dag_id` (the DAG processor has parsed it); after `timeout` seconds,
        raise `TriggerError` quoting the import errors."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._api("GET", f"/api/v2/dags/{quote(dag_id, safe='')}")
            if response.status_code == 200:
                return
            if time.monotonic() + poll > deadline:
                errors = self._api("GET", "/api/v2/importErrors").text[:1000]
                raise TriggerError(f"DAG '{dag_id}' did not appear within {timeout:.0f} s; import errors: {errors}",
                                   status=404)
            time.sleep(poll)

    # -- human-in-the-loop requests (Required Actions) ---------------------------------------------------------

    def hitl_requests(self, *, subject: str | None = None, answered: bool | None = None, dag_id: str = "~",
                      run_id: str = "~", limit: int = 100) -> list[dict[str, Any]]:
        """Human-in-the-loop requests (`GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/hitlDetails`, `~` for any),
        newest first; `subject` is Airflow's substring search, so callers compare it exactly themselves."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-created_at"}
        if subject is not None:
            params["subject_search"] = subject
        if answered is not None:
            params["response_received"] = str(answered).lower()
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/hitlDetails"
        response = self._api("GET", path, params=params)
        self._raise_for(response, dag_id=dag_id, action="read the required actions of")
        return list(_json(response).get("hitl_details") or [])

    def answer_hitl(self, dag_id: str, run_id: str, task_id: str, *, chosen: list[str],
                    params_input: dict[str, Any] | None = None, map_index: int = -1) -> dict[str, Any]:
        """Answer one request (`PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails`); returns who answered,
        when and what. A request answered before raises `TriggerError` with status 409: the first answer stands."""
        path = (f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{quote(task_id, safe='')}/{map_index}/hitlDetails")
        response = self._api("PATCH", path, json={"chosen_options": chosen, "params_input": params_input or {}})
        if response.status_code == 409:
            raise TriggerError(f"task '{task_id}' of run '{run_id}' was answered already; the first answer stands "
                               f"({_detail(response)})", status=409)
        if response.status_code == 403:
            raise TriggerError(f"user '{self.username}' may not answer task '{task_id}' of run '{run_id}': "
                               f"{_detail(response)}", status=403)
        if response.status_code == 404:
            raise TriggerError(f"no request to answer at task '{task_id}' of run '{run_id}' of DAG '{dag_id}': "
                               f"{_detail(response)}", status=404)
        self._raise_for(response, dag_id=dag_id, action="answer")
        return _json(response)

    # -- HTTP with retries ------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
             ) -> httpx.Response:
        """An authenticated API call; a 401 fetches a new token once and repeats the call."""
        response = self._send(method, path, json=json, params=params,
                              headers={"Authorization": f"Bearer {self._bearer()}"})
        if response.status_code == 401:
            self._token = None
            response = self._send(method, path, json=json, params=params,
                                  headers={"Authorization": f"Bearer {self._bearer()}"})
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, repeated on transient failures up to `max_attempts` times in all."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                time.sleep(random.uniform(0, min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 2))))
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last = f"HTTP {response.status_code}: {_detail(response)}"
                continue
            return response
        raise TriggerError(f"Airflow did not answer {method} {self.base_url}{path} after {self.max_attempts} "
                           f"attempt(s); last error: {last}")

    def _bearer(self) -> str:
        if self._token is None or (self._token_expires is not None
                                   and time.time() >= self._token_expires - TOKEN_REFRESH_MARGIN):
            self._token, self._token_expires = self._login()
        return self._token

    def _login(self) -> tuple[str, float | None]:
        response = self._send("POST", "/auth/token", json={"username": self.username, "password": self._password})
        url = f"{self.base_url}/auth/token"
        if response.status_code == 401:
            raise TriggerError(f"Airflow rejected the credentials of user '{self.username}' ({url}); "
                               f"check {ENV_USER} and {ENV_PASSWORD}", status=401)
        if response.status_code == 404:
            raise TriggerError(f"{url} not found: is {self.base_url} an Airflow 3 api-server "
                               "with the simple auth manager?", status=404)
        if response.status_code >= 400:
            raise TriggerError(f"Airflow refused to log in user '{self.username}' ({url}): HTTP "
                               f"{response.status_code}: {_detail(response)}", status=response.status_code)
        token = _json(response).get("access_token")
        if not isinstance(token, str) or not token:
            raise TriggerError(f"{url} answered without an access_token: {response.text[:200]}")
        return token, token_expiry(token)

    def _raise_for(self, response: httpx.Response, *, dag_id: str, action: str) -> None:
        status, detail = response.status_code, _detail(response)
        where = f"{response.request.method} {response.request.url}"
        if status < 400:
            return
        if status == 400:
            param = _PARAM.search(detail)
            what = f"param '{param.group(1)}'" if param else "the request"
            raise TriggerError(f"Airflow rejected {what} for DAG '{dag_id}': {detail}", status=400)
        if status == 401:
            raise TriggerError(f"Airflow did not accept the token of user '{self.username}' even after logging in "
                               f"again ({where}): token not accepted: {detail}", status=401)
        if status == 403:
            raise TriggerError(f"user '{self.username}' may not {action} DAG '{dag_id}' "
                               f"(Airflow answered 403 to {where})", status=403)
        if status == 404:
            raise TriggerError(f"DAG '{dag_id}' not found (is it parsed and is the name right?): {detail}",
                               status=404)
        if status == 422:
            raise TriggerError(f"Airflow found the request for DAG '{dag_id}' malformed: {detail}", status=422)
        raise TriggerError(f"Airflow answered HTTP {status} to {where}: {detail}", status=status)


def token_expiry(token: str) -> float | None:
    """The `exp` claim (seconds since the epoch) of a JWT, read without verifying it; None when absent."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _detail(response: httpx.Response) -> str:
    """Airflow's `detail` in words: a string, a FastAPI list of field errors, or a database error object."""
    detail = _json(response).get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = [f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
                 for item in detail if isinstance(item, dict)]
        return "; ".join(parts) or str(detail)
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("reason") or detail)
    return response.text[:300] or response.reason_phrase
