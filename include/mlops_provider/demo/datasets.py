"""Write the demo models' data under the data folder: credit_default (generated) and breast_cancer (sklearn)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_provider.demo import credit


def breast_cancer_frame() -> pd.DataFrame:
    """scikit-learn's Wisconsin breast cancer data (ships with sklearn), columns in snake_case."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    return frame.rename(columns={"target": "benign"})


def write_demo_data(data_dir: str | Path, *, rows: int = 5000, drift: float = 0.0, concept: float = 0.0,
                    corrupt: bool = False) -> dict[str, Path]:
    """Write `<data_dir>/credit_default/train.parquet` and `<data_dir>/breast_cancer/train.parquet`
    (`concept` applies to credit_default only: see `credit.generate`)."""
    root = Path(data_dir)
    written = {}
    credit_frame = credit.generate(rows, drift=drift, concept=concept, corrupt=corrupt)
    for model, frame in (("credit_default", credit_frame),
                         ("breast_cancer", breast_cancer_frame())):
        path = root / model / "train.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        written[model] = path
    return written
