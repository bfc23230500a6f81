"""N model configs with their suites and data, in one folder a DAG run can be pointed at (`mlops scale-models`).

    DIR/models/<model>.yaml          point MLOPS_MODELS_DIR here (e.g. `mlops stack up --models-dir`)
    DIR/expectations/<model>.json    profiled from the model's good data
    DIR/data/<model>/train.parquet
    DIR/data/<model>/inference/      a window of recent requests per model (`write_inference_windows`)

The configs name their suite and data by absolute path, so MLOPS_MODELS_DIR is all a process needs (a stack's
workers keep their own MLOPS_DATA_DIR and expectations folder).

The models vary in rows (2,000 to 50,000, spread evenly on a log scale), in their mix of numeric and categorical
features, in task (classification, regression) and in estimator. One is broken on purpose (its name ends in
`_broken`): its training data lacks a declared feature, so its validate task fails and the others go on. Every
set is seeded: the same count gives the same configs and data. No Airflow import.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MIN_ROWS, MAX_ROWS = 2_000, 50_000
WINDOW_ROWS = 250  # rows of each model's inference window: above the configs' drift.min_rows
DRIFT_MIN_ROWS = 200
# (task, estimator, params): cheap enough that fifty of them train on two cores in minutes
TRAINERS = (
    ("classification", "logistic_regression", {"max_iter": 500, "C": 1.0}),
    ("classification", "hist_gradient_boosting", {"max_iter": 60, "learning_rate": 0.1}),
    ("regression", "ridge", {"alpha": 1.0}),
    ("classification", "random_forest", {"n_estimators": 30, "max_depth": 8}),
    ("regression", "hist_gradient_boosting", {"max_iter": 60}),
)
GATE = {"classification": {"metric": "roc_auc", "minimum": 0.6, "max_regression": 0.05},
        "regression": {"metric": "r2", "minimum": 0.2, "max_regression": 0.05}}
CATEGORIES = ("north", "south", "east", "west", "centre", "islands")


@dataclass(frozen=True)
class ModelPlan:
    """What one generated model looks like; `broken` drops `missing` from its training data."""

    name: str
    task: str
    estimator: str
    params: dict[str, Any]
    rows: int
    numeric: list[str]
    categorical: list[str]
    seed: int
    broken: bool = False

    @property
    def missing(self) -> str | None:
        """The declared feature the broken model's training data lacks."""
        return self.numeric[0] if self.broken else None


def plan_models(count: int, *, broken: bool = True) -> list[ModelPlan]:
    """`count` model plans; with `broken`, the one in the middle is the broken one.

    :param count: how many models (at least 1).
    :param broken: make one of them fail validation.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    plans = []
    broken_at = count // 2 if broken else -1
    for index in range(count):
        task, estimator, params = TRAINERS[index % len(TRAINERS)]
        share = index / (count - 1) if count > 1 else 0.0
        rows = int(round(math.exp(math.log(MIN_ROWS) + share * (math.log(MAX_ROWS) - math.log(MIN_ROWS)))))
        n_numeric = 2 + (index * 7) % 11          # 2..12
        n_categorical = (index * 3) % 5           # 0..4
        suffix = "broken" if index == broken_at else ("clf" if task == "classification" else "reg")
        plans.append(ModelPlan(
            name=f"m{index:03d}_{suffix}", task=task, estimator=estimator, params=dict(params), rows=rows,
            numeric=[f"x{i}" for i in range(n_numeric)], categorical=[f"c{i}" for i in range(n_categorical)],
            seed=1000 + index, broken=index == broken_at))
    return plans


def _features(plan: ModelPlan, rows: int, rng: np.random.Generator, *, shift: float = 0.0) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({name: rng.normal(shift, 1.0, rows) for name in plan.numeric})
    for position, name in enumerate(plan.categorical):
        levels = CATEGORIES[: 3 + position % 4]
        frame[name] = rng.choice(levels, rows)
    return frame


def _target(plan: ModelPlan, frame: pd.DataFrame) -> np.ndarray:
    """A target the features explain well enough to pass the gate: linear in the numerics plus an effect per
    category, noisy. Its weights come from the plan's seed only, so new rows follow the same law."""
    import numpy as np

    weights = np.random.default_rng(plan.seed).uniform(0.5, 1.5, len(plan.numeric))
    signal = frame[plan.numeric].to_numpy() @ weights / math.sqrt(len(plan.numeric))
    for name in plan.categorical:
        signal = signal + 0.5 * (frame[name] == CATEGORIES[0]).to_numpy()
    noise = np.random.default_rng(plan.seed + 1).normal(0, 0.6, len(frame))
    if plan.task == "regression":
        return 3.0 * signal + noise
    return (signal + noise > 0).astype("int64")


def model_frame(plan: ModelPlan, rows: int | None = None, *, seed: int | None = None) -> pd.DataFrame:
    """The model's full data (features and `target`), before the broken model loses its column."""
    import numpy as np

    rng = np.random.default_rng(plan.seed if seed is None else seed)
    frame = _features(plan, rows or plan.rows, rng)
    frame["target"] = _target(plan, frame)
    return frame


def model_config(plan: ModelPlan, root: Path) -> dict[str, Any]:
    """The YAML document of the plan's model, its suite and data under `root` (absolute paths)."""
    data = root.resolve() / "data" / plan.name
    config: dict[str, Any] = {
        "name": plan.name,
        "description": f"Generated {plan.task} model for scale runs ({plan.rows} rows"
                       + (f"; broken: its training data lacks '{plan.missing}')" if plan.broken else ")"),
        "task": plan.task,
        "target": "target",
        "features": {"numeric": plan.numeric, **({"categorical": plan.categorical} if plan.categorical else {})},
        "data": {"train": str(data / "train.parquet"), "holdout_fraction": 0.25, "inference": str(data / "inference")},
        "trainer": {"params": {"estimator": plan.estimator, **plan.params}, "seed": 42},
        "gate": GATE[plan.task],
        "suite": str(root.resolve() / "expectations" / f"{plan.name}.json"),
        "drift": {"min_rows": DRIFT_MIN_ROWS, "cooldown_minutes": 60},
        "deploy": {"target": "local"},
    }
    return config


@dataclass(frozen=True)
class ModelSet:
    """A generated set: its folder and plans; `env` points a DAG run at it."""

    folder: Path
    plans: list[ModelPlan]

    @property
    def env(self) -> dict[str, str]:
        """What makes DAGs, operators and the CLI use this set instead of include/models."""
        return {"MLOPS_MODELS_DIR": str(self.folder.resolve() / "models")}

    @property
    def broken(self) -> list[str]:
        return [plan.name for plan in self.plans if plan.broken]


def generate_models(folder: str | Path, count: int, *, broken: bool = True) -> ModelSet:
    """Write `count` models' configs, suites and training data under `folder` (files of an earlier set of the
    same names are overwritten; a folder holding other models' configs is refused).

    :param folder: where `models/`, `expectations/` and `data/` go.
    :param count: how many models.
    :param broken: make one of them fail validation (see the module docstring).
    """
    from mlops_provider.config import parse_model_config
    from mlops_provider.validation.profile import profile_suite

    root = Path(folder)
    plans = plan_models(count, broken=broken)
    models, suites, data = root / "models", root / "expectations", root / "data"
    stray = sorted(p.name for p in models.glob("*.yaml") if p.stem not in {plan.name for plan in plans}) \
        if models.is_dir() else []
    if stray:
        raise ValueError(f"{models} holds other models' configs ({', '.join(stray[:5])}): pick an empty folder")
    for path in (models, suites, data):
        path.mkdir(parents=True, exist_ok=True)
    for plan in plans:
        source = models / f"{plan.name}.yaml"
        document = model_config(plan, root)
        config = parse_model_config(document, str(source))  # what we write must load
        frame = model_frame(plan)
        suite = profile_suite(frame, config, source=f"generated ({plan.rows} rows, seed {plan.seed})")
        (suites / f"{plan.name}.json").write_text(json.dumps(suite, indent=1))
        if plan.missing:
            frame = frame.drop(columns=[plan.missing])
        (data / plan.name).mkdir(exist_ok=True)
        frame.to_parquet(data / plan.name / "train.parquet", index=False)
        source.write_text(yaml.safe_dump(document, sort_keys=False))
    return ModelSet(root, plans)


def write_inference_windows(model_set: ModelSet, *, rows: int = WINDOW_ROWS, shift: float = 0.0,
                            version: str = "1", now: datetime | None = None) -> list[str]:
    """One inference window per model, started a minute before `now`, so the drift monitor's next run finds
    a full window at once (written after training: the monitor reads only recent windows).

    :param model_set: the generated set.
    :param rows: rows per window (the configs ask for 200 before they judge).
    :param shift: move every numeric feature by this much (0: no drift; 1: drift in every numeric column).
    :param version: the model version the rows claim to come from (the monitor compares with the served one).
    :param now: the clock (default: now, UTC).
    """
    import numpy as np

    from mlops_provider.inference_log import PREDICTION, TIMESTAMP, VERSION, write_window

    start = (now or datetime.now(UTC)) - timedelta(minutes=1)
    written = []
    for plan in model_set.plans:
        frame = _features(plan, rows, np.random.default_rng(plan.seed + 7), shift=shift)
        frame[PREDICTION] = 0.0
        frame[VERSION] = version
        frame[TIMESTAMP] = start
        written.append(write_window(model_set.folder / "data" / plan.name / "inference", frame, start=start))
    return written
