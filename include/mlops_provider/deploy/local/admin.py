"""Client of a local model server: its admin API (127.0.0.1 only: status, load, promote, traffic, unload) and the
headers a loopback client may send with `/invocations` (named in `serving.headers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DeploymentError

if TYPE_CHECKING:
    import httpx

    from mlops_provider.deploy.local.process import ServerHandle



class AdminClient:
    """The admin calls of a model server, each on a fresh loopback connection."""

    def __init__(self, request_timeout: float) -> None:
        self.request_timeout = request_timeout

    def http(self) -> httpx.Client:
        import httpx

        return httpx.Client(timeout=self.request_timeout, trust_env=False)  # loopback: never through a proxy

    def status(self, server: ServerHandle) -> dict[str, Any]:
        with self.http() as http:
            response = http.get(f"{server.admin_url}/admin/status", timeout=5)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def post(self, server: ServerHandle, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.http() as http:
            response = http.post(f"{server.admin_url}{path}", json=body)
        if response.status_code != 200:
            detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
            raise DeploymentError(f"model '{server.model}': admin {path} {body} refused "
                                  f"(HTTP {response.status_code}): {detail}")
        result: dict[str, Any] = response.json()
        return result

    def errors(self, server: ServerHandle, version: str) -> int:
        versions = self.status(server)["versions"]
        return next((int(v["errors"]) for v in versions if v["version"] == version), 0)
