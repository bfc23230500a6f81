"""What archiving and retiring remove from the local target: a version the model's server still holds (unloaded;
the server stopped when it holds nothing else), or the whole server. Uses LocalTarget's public pieces only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_provider.deploy.local.target import LocalTarget


def remove_local_version(target: LocalTarget, model: str, version: str) -> list[str]:
    """Unload `version` from the model's server; stop the server when it holds no other version. A version that
    still takes traffic beside another is left loaded (said in the returned lines): the server's routing, not the
    registry, is what callers hit. Returns what was done, one line each ([] when the server does not hold it)."""
    server = target.running(model)
    if server is None:
        return []
    with target.processes.locked(model):
        weights = {str(k): int(v) for k, v in target.admin.status(server)["weights"].items()}
        if version not in weights:
            return []
        others = [v for v in weights if v != version]
        if not others:
            target.stop(model)
            return [f"local: stopped the model server (pid {server.pid}, {server.url}) that held only v{version}"]
        if weights[version] > 0:
            return [f"local: v{version} still takes {weights[version]}% of the traffic at {server.url}; left loaded"]
        target.admin.post(server, "/admin/unload", {"version": version})
        return [f"local: unloaded v{version} from the model server at {server.url}"]


def remove_local_model(target: LocalTarget, model: str) -> list[str]:
    """Stop the model's server (its inference log is flushed first). Returns what was done."""
    server = target.running(model)
    if not target.stop(model):
        return []
    where = f" (pid {server.pid}, {server.url})" if server is not None else ""
    return [f"local: stopped the model server{where}"]
