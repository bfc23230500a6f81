"""Network helpers for fixtures that start real servers (importable from every test folder)."""

from mlops_provider.netutil import free_port, wait_http

__all__ = ["free_port", "wait_http"]
