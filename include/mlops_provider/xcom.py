"""The small JSON dicts that cross task boundaries through XCom: their keys, written down once.

The deployment result is `deploy.DeploymentResult.to_dict()`: that dataclass is its definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from mlops_provider.training_data import DataSource


class TrainingResult(TypedDict):
    """`training.run.train_and_log` -> evaluate, register."""

    model: str
    run_id: str
    experiment_id: str
    model_uri: str  # models:/<logged model id>
    model_id: str
    metrics: dict[str, float]
    data_digest: str
    data_uri: str
    reused: bool  # a retry found the finished run of this DAG run
    validation: str  # the data gate's verdict, carried on as the version tag mlops.validation
    sources: NotRequired[list[DataSource]]  # what the assembled training set was made of
    data_sources: NotRequired[str]  # the same in one line: the run's (and version's) tag mlops.data_sources


class Evaluation(TypedDict):
    """`training.run.evaluate` -> promote: candidate and champion scored on the same holdout."""

    metric: str
    candidate_score: float
    champion_version: str | None
    champion_score: float | None
    champion_error: str | None
    holdout_rows: int
    data_digest: str
    # every criterion of the gate judged on this holdout (`gate.CriterionResult.to_dict()`): name, value, bound,
    # interval, verdict (pass | fail | not judged), why, and a slice's groups; promote decides on them
    criteria: NotRequired[list[dict[str, Any]]]
    latency: NotRequired[dict[str, float] | None]  # `gate.measure_latency` of the candidate, when a criterion asks


class Registration(TypedDict):
    """`registry.register` -> promote."""

    model: str
    version: str
    created: bool  # False: a retry found the version this DAG run registered
    run_id: str
    model_uri: str  # models:/<model>/<version>


class Approval(TypedDict):
    """`ApproveModelOperator` -> the run's record: a person's answer to one promotion request."""

    model: str
    version: str
    decision: str  # approved | rejected | not_required | not_asked (the gate refuses); timed_out fails the task
    by: str | None
    comment: str | None
    at: str | None  # ISO 8601, UTC


class Promotion(TypedDict):
    """`PromoteModelOperator` -> the champion asset event."""

    model: str
    version: str
    promoted: bool
    reason: str
    previous_champion: str | None


class DriftCheck(TypedDict):
    """`monitoring.check_drift` -> the drift report and event tasks."""

    model: str
    version: str
    alias: str  # the alias the compared version was found by (serving_<target> or champion)
    windows: list[str]
    window_start: str
    rows: int
    drifted: bool
    result: dict[str, Any]  # DriftResult.to_dict()
    report_url: NotRequired[str]
    report_run_id: NotRequired[str]



class ProductionCheck(TypedDict):
    """`production.check_production` -> the policy (`policy.decide`) and the act task: how the served version
    does in production over the window."""

    model: str
    version: str  # the served version judged
    alias: str
    window_start: str
    window_end: str
    predictions: int  # rows the served version scored in the window
    labelled: int  # of them, rows with a label
    unlabelled: int
    metric: str  # the policy's metric (the gate's metric without a performance policy)
    baseline: float | None  # the metric on the version's holdout
    realized: float | None  # None: no labelled rows (no verdict)
    realized_interval: list[float] | None
    realized_metrics: dict[str, float | None]  # the companions (accuracy, precision, recall, f1, ...)
    by_version: list[dict[str, Any]]  # realized per version present in the window (a canary, a rollback)
    estimated: float | None  # CBPE of the estimated policy's metric on all predictions of the window
    estimated_metric: str | None
    estimated_baseline: float | None
    estimated_note: str | None
    prediction_drift: dict[str, Any] | None  # the prediction column against the holdout's predictions
    confidence_drift: dict[str, Any] | None  # the scores against the holdout's scores
    labels: dict[str, Any]  # inbox ingestion of this check: files and their reports
    notes: list[str]
