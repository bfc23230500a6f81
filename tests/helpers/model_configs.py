"""Copies of the demo's credit_default config under names no other test uses, written where a test's
`MLOPS_MODELS_DIR` points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers.paths import ROOT

CREDIT_DEFAULT = ROOT / "include" / "models" / "credit_default.yaml"


def write_credit_copy(folder: Path, name: str, **changes: Any) -> str:
    """`folder/<name>.yaml`: credit_default's config renamed, validated by its suite, logging inference under
    `<name>/inference` and its labels under `<name>/labels`, with top-level `changes` on top. Returns the name."""
    base = yaml.safe_load(CREDIT_DEFAULT.read_text())
    config = {**base, "name": name, "suite": "credit_default.json",
              "data": {**base["data"], "inference": f"{name}/inference", "labels": f"{name}/labels"},
              "alerts": [], **changes}  # the demo's webhook connection does not exist in tests: alerts opt in
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return name
