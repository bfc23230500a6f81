"""Write the demo models' data under the data folder: credit_default (generated), breast_cancer and
diabetes_progression (both ship with scikit-learn)."""

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


# scikit-learn's names s1..s6 for the six blood serum measurements, as its dataset description lists them
DIABETES_SERUM = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}


def diabetes_frame() -> pd.DataFrame:
    """scikit-learn's diabetes data (442 patients, in original units, not scaled): ten baseline variables and
    `progression`, a quantitative measure of disease progression one year later. `sex` is a category ("1" or
    "2", as the dataset codes it): the gate's fairness slice."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={**DIABETES_SERUM,
                                                                           "target": "progression"})
    frame["sex"] = frame["sex"].astype(int).astype(str)
    return frame


def write_demo_data(data_dir: str | Path, *, rows: int = 5000, drift: float = 0.0, concept: float = 0.0,
                    corrupt: bool = False) -> dict[str, Path]:
    """Write `<data_dir>/<model>/train.parquet` for credit_default, breast_cancer and diabetes_progression
    (`rows`, `drift`, `concept` and `corrupt` apply to credit_default only: see `credit.generate`)."""
    root = Path(data_dir)
    written = {}
    credit_frame = credit.generate(rows, drift=drift, concept=concept, corrupt=corrupt)
    for model, frame in (("credit_default", credit_frame),
                         ("breast_cancer", breast_cancer_frame()),
                         ("diabetes_progression", diabetes_frame())):
        path = root / model / "train.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        written[model] = path
    return written
