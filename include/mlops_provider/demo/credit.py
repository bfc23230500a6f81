"""Seeded generator of realistic loan applications with a default target and knobs for drift (of the features),
concept drift (of what makes an applicant default) and corruption; and the delayed labels of demo traffic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PURPOSES = ["debt_consolidation", "credit_card", "home_improvement", "car", "medical", "small_business"]
PURPOSE_MIX = [0.38, 0.22, 0.14, 0.12, 0.08, 0.06]
DRIFTED_PURPOSE_MIX = [0.20, 0.15, 0.10, 0.10, 0.15, 0.30]
HOME = ["RENT", "MORTGAGE", "OWN", "OTHER"]
REGIONS = ["north", "south", "east", "west"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "retired", "unemployed"]

NUMERIC = ["age", "income", "loan_amount", "loan_term_months", "credit_score", "debt_to_income",
           "employment_years", "open_accounts", "late_payments_2y"]
CATEGORICAL = ["home_ownership", "purpose", "region", "employment_type"]
TARGET = "default"
# Concept drift hits the loans drifted traffic over-represents (30% + 15% of it, 6% + 8% of the training data):
# there, defaults follow debt-to-income and late payments far more steeply, and a high credit score no longer
# protects (inflated scores). A model trained before the shock ranks these applicants by their score, so it
# degrades; the labelled production rows of the new concept teach the new relation.
SHOCKED_PURPOSES = ("small_business", "medical")


def generate(n: int = 5000, *, seed: int = 7, drift: float = 0.0, concept: float = 0.0,
             corrupt: bool = False) -> pd.DataFrame:
    """`n` applications. `drift` in [0, 1] shifts means, widens scales, changes the purpose mix and adds
    nulls; `concept` in [0, 1] moves the default relation of small-business and medical loans from the
    training one (0) to the shocked one (1); `corrupt` breaks the data the way bad pipelines do (negative ages,
    unknown regions, null incomes). `concept=0` draws exactly the rows it always did (same seed, same rows)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d = float(np.clip(drift, 0.0, 1.0))
    age = np.clip(rng.normal(41 + 6 * d, 11 * (1 + 0.5 * d), n), 18, 90).round()
    income = np.exp(rng.normal(np.log(58_000) - 0.35 * d, 0.45 * (1 + 0.6 * d), n)).round(-2)
    loan_amount = np.clip(income * rng.uniform(0.05, 0.6 + 0.4 * d, n), 1_000, 250_000).round(-2)
    term = rng.choice([12, 24, 36, 60], n, p=[0.1, 0.2, 0.45, 0.25])
    credit = np.clip(rng.normal(690 - 60 * d, 55 * (1 + 0.4 * d), n), 300, 850).round()
    dti = np.clip(rng.gamma(4, 0.07 * (1 + 0.8 * d), n), 0, 1.5).round(3)
    years = np.clip(rng.exponential(6, n), 0, 45).round(1)
    accounts = rng.poisson(5 + 2 * d, n)
    late = rng.poisson(0.4 + 1.2 * d, n)
    purpose = rng.choice(PURPOSES, n, p=np.add(np.multiply(1 - d, PURPOSE_MIX), np.multiply(d, DRIFTED_PURPOSE_MIX)))
    home = rng.choice(HOME, n, p=[0.42, 0.38, 0.17, 0.03])
    region = rng.choice(REGIONS, n, p=[0.3, 0.25, 0.25, 0.2])
    employment = rng.choice(EMPLOYMENT, n, p=[0.62, 0.14, 0.12, 0.07, 0.05])

    logit = (-1.9 - 0.022 * (credit - 690) + 4.0 * (dti - 0.28) + 0.6 * late
             + 1.2 * (loan_amount / income - 0.3) - 0.05 * (years - 6)
             + 0.9 * (employment == "unemployed") + 0.5 * (purpose == "small_business")
             + 0.3 * (home == "RENT") + 0.2 * (term == 60))
    c = float(np.clip(concept, 0.0, 1.0))
    if c > 0:
        shocked = np.isin(purpose, SHOCKED_PURPOSES)
        shocked_logit = -1.0 + 14.0 * (dti - 0.28) + 1.0 * late + 0.03 * (credit - 690)
        logit = np.where(shocked, (1 - c) * logit + c * shocked_logit, logit)
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")

    frame = pd.DataFrame({
        "age": age.astype("int64"), "income": income, "loan_amount": loan_amount,
        "loan_term_months": term.astype("int64"), "credit_score": credit.astype("int64"),
        "debt_to_income": dti, "employment_years": years, "open_accounts": accounts.astype("int64"),
        "late_payments_2y": late.astype("int64"), "home_ownership": home, "purpose": purpose,
        "region": region, "employment_type": employment, TARGET: default,
    })
    _add_nulls(frame, rng, {"income": 0.01 + 0.08 * d, "employment_years": 0.03 + 0.1 * d,
                            "home_ownership": 0.005 + 0.05 * d})
    if corrupt:
        _corrupt(frame, rng)
    return frame


def _add_nulls(frame: pd.DataFrame, rng: object, shares: dict[str, float]) -> None:
    for column, share in shares.items():
        mask = rng.random(len(frame)) < share  # type: ignore[attr-defined]
        frame.loc[mask, column] = None


def _corrupt(frame: pd.DataFrame, rng: object) -> None:
    n = len(frame)
    frame.loc[rng.random(n) < 0.15, "income"] = None  # type: ignore[attr-defined]
    bad_age = rng.choice(n, 3, replace=False)  # type: ignore[attr-defined]
    frame.loc[bad_age, "age"] = [-4, 240, 0]
    frame.loc[rng.random(n) < 0.02, "region"] = "XX"  # type: ignore[attr-defined]



def labels_for(frame: pd.DataFrame, *, at: datetime | None = None, share: float = 1.0, seed: int = 0,
               id_column: str | None = None) -> pd.DataFrame:
    """The delayed labels of demo traffic, as a labels delivery holds them (`request_id`, `label`, `event_time`).

    `frame` holds the requests with their true target (`generate`, or the demo traffic's
    `requests_for(..., with_target=True)`) and their request ids (`id_column`, default `request_id` or else
    `mlops_request_id`). Each label is the request's true `default`, become known at `at` (default now, UTC:
    a loan defaults long after it was scored); a seeded `share` of the requests is labelled, the rest not yet.
    """
    import numpy as np
    import pandas as pd

    from mlops_provider.labels import EVENT_TIME_COLUMN, ID_COLUMN, LABEL_COLUMN

    column = id_column or next((c for c in ("request_id", "mlops_request_id") if c in frame.columns), None)
    if column is None or column not in frame.columns:
        raise ValueError(f"labels_for: the frame has no request id column ({id_column or 'request_id'}); "
                         f"it has {list(frame.columns)}")
    if TARGET not in frame.columns:
        raise ValueError(f"labels_for: the frame has no '{TARGET}' column (keep it: requests_for(..., "
                         "with_target=True))")
    if not 0 < share <= 1:
        raise ValueError(f"labels_for: share must be in (0, 1], got {share}")
    known = np.random.default_rng(seed).random(len(frame)) < share
    labelled = frame.loc[known]
    when = pd.Timestamp(at or datetime.now(UTC))
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    return pd.DataFrame({ID_COLUMN: labelled[column].astype(str).to_numpy(),
                         LABEL_COLUMN: labelled[TARGET].astype("int64").to_numpy(),
                         EVENT_TIME_COLUMN: when}).reset_index(drop=True)
