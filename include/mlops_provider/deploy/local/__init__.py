"""The local target: one `mlops_provider.serving` process per model on this machine, driven over its admin API.

`process` starts, finds and stops the server processes, `admin` is the client of their admin API, `target` holds
`LocalTarget` (see its module docstring). The public names are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_provider.deploy._lazy import lazy_names

if TYPE_CHECKING:
    from mlops_provider.deploy.local.admin import AdminClient
    from mlops_provider.deploy.local.process import (
        DB_BLOCKED,
        ServerHandle,
        ServerProcesses,
        default_state_dir,
        server_env,
    )
    from mlops_provider.deploy.local.target import LocalTarget

_PUBLIC = {
    "admin": ("AdminClient",),
    "process": ("DB_BLOCKED", "ServerHandle", "ServerProcesses", "default_state_dir", "server_env"),
    "target": ("LocalTarget",),
}
__all__ = [
    "DB_BLOCKED",
    "AdminClient",
    "LocalTarget",
    "ServerHandle",
    "ServerProcesses",
    "default_state_dir",
    "server_env",
]


__getattr__ = lazy_names(__name__, _PUBLIC)
