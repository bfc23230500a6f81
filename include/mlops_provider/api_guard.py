"""An api-server middleware that enforces a DAG's `conf` contract before a run is created.

Airflow validates declared Params but passes undeclared `conf` keys through. For DAGs with a contract
(`mlops_retraining`), `POST /api/v2/dags/<dag_id>/dagRuns` with an unknown key or without a required
one is answered 400 here, so the run never starts. Pure ASGI, stdlib only: the plugin that installs
it must stay cheap to import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Any prefix: with `[api] base_url` set to a URL with a path, requests arrive as `/<prefix>/api/v2/...`.
_TRIGGER_PATH = re.compile(r"^(?:/[^?#]*)?/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
MAX_BODY = 1_000_000  # bytes of a trigger request body; a larger one is answered 413, never cut


@dataclass(frozen=True)
class ConfContract:
    allowed: frozenset[str]
    required: frozenset[str]

    def violations(self, conf: Any) -> str | None:
        """Why `conf` breaks the contract, in words for the caller; None when it holds."""
        if conf is None:
            conf = {}
        if not isinstance(conf, dict):
            return f"Invalid input for conf: expected an object, got {type(conf).__name__}"
        unknown = sorted(set(conf) - self.allowed)
        if unknown:
            return f"Invalid input for conf: unknown key(s) {unknown}; allowed keys: {sorted(self.allowed)}"
        missing = sorted(k for k in self.required if conf.get(k) is None)
        if missing:
            return f"Invalid input for conf: missing required key(s) {missing}"
        return None


class ConfContractMiddleware:
    """Rejects trigger requests whose `conf` breaks the DAG's contract with 400 and a plain `detail`."""

    def __init__(self, app: ASGIApp, contracts: dict[str, ConfContract]) -> None:
        self.app = app
        self.contracts = contracts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _TRIGGER_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        contract = self.contracts.get(match.group("dag_id")) if match else None
        if contract is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _reply(send, 413, {"detail": f"Request body over {MAX_BODY} bytes"})
                return
            if not message.get("more_body"):
                break
        problem = _problem(body, contract)
        if problem:
            await _reply(send, 400, {"detail": problem})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _problem(body: bytes, contract: ConfContract) -> str | None:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None  # let Airflow answer malformed JSON the way it always does
    if not isinstance(payload, dict):
        return None
    return contract.violations(payload.get("conf"))


async def _reply(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
