"""The local stack's tests run only when asked for (`pytest -m stack`, `make test-stack`): they take minutes and
need PostgreSQL and Redis (or root, to install them)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stack" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="starts the whole local stack (minutes): make test-stack, or pytest -m stack")
    for item in items:
        if item.get_closest_marker("stack"):
            item.add_marker(skip)
