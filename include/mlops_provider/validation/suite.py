"""Great Expectations suite files (`include/expectations/<model>.json`): load with errors naming file and entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import ConfigError

if TYPE_CHECKING:
    import great_expectations as gx

# Keys GE 1.x writes for an expectation in a suite file; anything else is a typo worth reporting.
EXPECTATION_KEYS = {"type", "kwargs", "meta", "notes", "description", "severity", "id", "rendered_content"}
SUITE_KEYS = {"name", "expectations", "meta", "notes", "id", "suite_parameters"}


def load_suite(path: str | Path) -> gx.ExpectationSuite:
    """Read and check a suite file; every problem is a ConfigError naming the file and the expectation."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"expectation suite {path} does not exist "
                          "(write a starting one with `mlops validate --init MODEL DATA`)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"expectation suite {path}: not valid JSON: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"expectation suite {path}: cannot be read: {err}") from None
    return build_suite(raw, source=str(path), default_name=path.stem)


def build_suite(raw: Any, *, source: str, default_name: str = "suite") -> gx.ExpectationSuite:
    """An `ExpectationSuite` from the parsed JSON of a suite file; `source` names the file in errors.

    Each expectation is built on its own: `gx.ExpectationSuite(expectations=[dict, ...])` logs and
    silently drops an entry with an unknown type, which would let a typo switch a check off.
    """
    from mlops_provider.validation._gx import import_gx

    gx = import_gx()

    if not isinstance(raw, dict):
        raise ConfigError(f"expectation suite {source}: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - SUITE_KEYS)
    if unknown:
        raise ConfigError(f"expectation suite {source}: unknown key(s) {unknown} (allowed: {sorted(SUITE_KEYS)})")
    entries = raw.get("expectations")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"expectation suite {source}: key 'expectations' must be a non-empty list")
    name = raw.get("name") or default_name
    if not isinstance(name, str):
        raise ConfigError(f"expectation suite {source}: key 'name' must be a string")
    expectations = [_build_expectation(entry, f"expectation suite {source}: expectation #{i}")
                    for i, entry in enumerate(entries, start=1)]
    return gx.ExpectationSuite(name=name, expectations=expectations, meta=dict(raw.get("meta") or {}),
                               notes=raw.get("notes"))


def _build_expectation(entry: Any, where: str) -> Any:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object with 'type' and 'kwargs', got {type(entry).__name__}")
    kind = entry.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{where}: key 'type' is missing (e.g. \"expect_column_values_to_not_be_null\")")
    where = f"{where} ({kind})"
    unknown = sorted(set(entry) - EXPECTATION_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
    kwargs = entry.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}: key 'kwargs' must be an object")
    fields = {k: entry[k] for k in ("meta", "notes", "description", "severity") if entry.get(k) is not None}
    try:
        return ExpectationConfiguration(type=kind, kwargs=kwargs, **fields).to_domain_obj()
    except ExpectationNotFoundError:
        raise ConfigError(f"{where}: unknown expectation type '{kind}'") from None
    except Exception as err:
        raise ConfigError(f"{where}: invalid kwargs: {_describe_error(err)}") from None


def _describe_error(err: Exception) -> str:
    """Pydantic (v1, as GE uses) errors as `key 'x': problem`, one line per key."""
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return str(err)
    seen: dict[str, str] = {}
    for item in errors():
        loc = ".".join(str(part) for part in item.get("loc", ())) or "__root__"
        seen.setdefault(loc, item.get("msg", ""))  # the first reason; later ones are union alternatives
    return "; ".join(msg if loc == "__root__" else f"key '{loc}': {msg}" for loc, msg in seen.items())


def write_suite(suite: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write a suite file (as `profile_suite` returns it); refuses to overwrite unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"expectation suite {path} already exists (use --force to overwrite)")
    build_suite(suite, source=str(path))  # never write a file that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2) + "\n")
    return path
