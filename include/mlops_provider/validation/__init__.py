"""Data validation on Great Expectations 1.x: suites, the validation engine, profiling. No Airflow here.

Imports are lazy so that `import mlops_provider.validation` costs nothing until a function is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.validation.engine import ValidationReport, validate_frame
    from mlops_provider.validation.profile import profile_suite
    from mlops_provider.validation.suite import load_suite

_EXPORTS = {
    "ValidationReport": "mlops_provider.validation.engine",
    "validate_frame": "mlops_provider.validation.engine",
    "profile_suite": "mlops_provider.validation.profile",
    "load_suite": "mlops_provider.validation.suite",
}

__all__ = ["ValidationReport", "load_suite", "profile_suite", "validate_frame"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
