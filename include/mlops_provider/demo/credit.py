"""Seeded generator of realistic loan applications with a default target and knobs for drift and corruption."""

from __future__ import annotations

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


def generate(n: int = 5000, *, seed: int = 7, drift: float = 0.0, corrupt: bool = False) -> pd.DataFrame:
    """`n` applications. `drift` in [0, 1] shifts means, widens scales, changes the purpose mix and adds
    nulls; `corrupt` breaks the data the way bad pipelines do (negative ages, unknown regions, null incomes)."""
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
