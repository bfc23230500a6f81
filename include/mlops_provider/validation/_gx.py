"""Import Great Expectations without its import-time INFO chatter landing in task and CLI output."""

from __future__ import annotations

import logging
from typing import Any


def import_gx() -> Any:
    """The `great_expectations` module. Its loggers are capped at WARNING unless configured already:
    importing it logs a hundred "Skipping registering function ..." lines at INFO."""
    logger = logging.getLogger("great_expectations")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    import great_expectations

    return great_expectations
