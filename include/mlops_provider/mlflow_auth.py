"""MLflow credentials bound to the server they belong to, for this process and the children it starts.

No Airflow import: the hook registers a login here, the MLflow request-header provider and the local model
server's environment read it.
"""

from __future__ import annotations

import base64
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types import FrameType

# Basic-auth headers for MLflow requests made in this process, per server (`scheme://host:port`). MLflow reads
# credentials from environment variables only, where every child process would inherit them; a request-header
# provider (registered as an entry point) hands them over instead. MLflow does not tell a header provider where the
# request goes, so the provider reads it from the MLflow call it serves (`http_request`'s `host_creds.host`) and
# adds only that server's header: credentials never travel to another server. Fails closed: if a future MLflow
# renames that argument, no header is added and the server answers 401.
_AUTH_BY_ORIGIN: dict[str, str] = {}


def origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _request_origin() -> str | None:
    """The server of the MLflow request being prepared on this thread, found in the calling frames."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return None
        host = getattr(frame.f_locals.get("host_creds"), "host", None)
        if isinstance(host, str):
            return origin(host)
        frame = frame.f_back
    return None


class BasicAuthHeaderProvider:
    """MLflow `RequestHeaderProvider` adding the basic-auth header of the server a request goes to."""

    def in_context(self) -> bool:
        return bool(_AUTH_BY_ORIGIN)

    def request_headers(self) -> dict[str, str]:
        server = _request_origin()
        header = _AUTH_BY_ORIGIN.get(server) if server else None
        return {"Authorization": header} if header else {}


def register_basic_auth(tracking_uri: str, login: str, password: str) -> str:
    """Remember the login of the MLflow server at `tracking_uri`; returns the header's token (to mask in logs)."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    _AUTH_BY_ORIGIN[origin(tracking_uri)] = f"Basic {token}"
    return token


def auth_header(tracking_uri: str) -> dict[str, str]:
    """`{"Authorization": ...}` for requests to the server at `tracking_uri`, or {} when it has no login here."""
    header = _AUTH_BY_ORIGIN.get(origin(tracking_uri))
    return {"Authorization": header} if header else {}


def basic_auth_env(tracking_uri: str) -> dict[str, str]:
    """The login of the server at `tracking_uri` as the variables MLflow reads, for one child process of that
    server only (MLflow takes credentials from nowhere else); {} when it has no login here."""
    header = _AUTH_BY_ORIGIN.get(origin(tracking_uri), "")
    if not header.startswith("Basic "):
        return {}
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
