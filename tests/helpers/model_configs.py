"""Copies of the demo's model configs (credit_default under names no other test uses), written where a test's
`MLOPS_MODELS_DIR` points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers.paths import ROOT

MODELS = ROOT / "include" / "models"
CREDIT_DEFAULT = MODELS / "credit_default.yaml"


def write_credit_copy(folder: Path, name: str, **changes: Any) -> str:
    """`folder/<name>.yaml`: credit_default's config as `write_model_copy` writes it. Returns the name."""
    return write_model_copy(folder, "credit_default", name, **changes)


def write_model_copy(folder: Path, source: str, name: str, **changes: Any) -> str:
    """`folder/<name>.yaml`: the demo model `source`'s config renamed, validated by its suite, logging inference
    under `<name>/inference` (and labels under `<name>/labels` when it has labels), without alerts, with top-level
    `changes` on top. Returns the name."""
    base = yaml.safe_load((MODELS / f"{source}.yaml").read_text())
    data = {**base["data"], "inference": f"{name}/inference"}
    if "labels" in data:
        data["labels"] = f"{name}/labels"
    config = {**base, "name": name, "suite": f"{source}.json", "data": data,
              "alerts": [], **changes}  # the demo's webhook connection does not exist in tests: alerts opt in
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return name


def write_demo_models(folder: Path, *, approval: bool = False) -> list[str]:
    """The repo's model configs copied to `folder`, each as it is except that a model's `gate.approval` is
    turned off unless `approval` (dag.test() would wait for a person's answer). Returns the names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(MODELS.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if not approval and isinstance(config.get("gate"), dict):
            config["gate"].pop("approval", None)
        (folder / path.name).write_text(yaml.safe_dump(config))
        names.append(config["name"])
    return names
