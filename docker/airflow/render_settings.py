"""Fill `${VAR}` placeholders of an airflow_settings file from the environment, for `mlops settings apply`.

Usage: python render_settings.py TEMPLATE OUTPUT. Placeholders are replaced inside parsed string values, so a
password with YAML metacharacters (`: # " '`) stays one value. A placeholder whose variable is unset or empty is
an error naming the variable. OUTPUT is created with mode 0600.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(value: Any) -> set[str]:
    """Names of the variables a parsed settings document refers to."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def fill(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: env[m.group(1)], value)
    if isinstance(value, dict):
        return {k: fill(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, env) for v in value]
    return value


def render(template: Path, env: Mapping[str, str]) -> str:
    document = yaml.safe_load(template.read_text())
    missing = sorted(name for name in placeholders(document) if not env.get(name))
    if missing:
        raise ValueError(f"{template}: environment variable(s) unset or empty: {', '.join(missing)}")
    return yaml.safe_dump(fill(document, env), sort_keys=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: render_settings.py TEMPLATE OUTPUT", file=sys.stderr)
        return 2
    try:
        text = render(Path(argv[0]), os.environ)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    fd = os.open(argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
