"""The promotion gate: judge a candidate on every criterion of a model's `gate` and say why.

Criteria: a metric's minimum and its non-inferiority to the champion (on the point, or on a paired bootstrap
interval at a confidence), the metric per group of a column (a minimum per group, a maximum gap), and the p95
latency of predictions. Everything is judged on arrays the evaluate task holds in memory; only the verdicts (small
dicts) travel on through XCom. Plain numpy and scikit-learn: no Airflow, no MLflow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import EvaluationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import pandas as pd

    from mlops_provider.config import Criterion

PASS, FAIL, NOT_JUDGED = "pass", "fail", "not judged"
RESAMPLES = 1000
BOOTSTRAP_SEED = 20240611
LATENCY_SAMPLES = 200
LATENCY_MIN_SAMPLES = 40
LATENCY_SECONDS = 5.0
# a 5k-row holdout is resampled 1000 times; in chunks, so the count matrices stay a few MB
_CHUNK = 200


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(*, metric: str, higher_is_better: bool, minimum: float, max_regression: float,
           candidate: float, champion: float | None, champion_version: str | None) -> GateDecision:
    """Absolute minimum first, then no worse than the champion by more than `max_regression` (on the point).

    A candidate score that is not a finite number (NaN: e.g. r2 on a one-row holdout) never passes: every
    comparison with NaN is false. A champion score that is not finite is no score: the gate uses the minimum."""
    if not math.isfinite(candidate):
        return GateDecision(False, f"{metric} of the candidate is {candidate}, not a number the gate can judge")
    if champion is not None and not math.isfinite(champion):
        alone = decide(metric=metric, higher_is_better=higher_is_better, minimum=minimum,
                       max_regression=max_regression, candidate=candidate, champion=None, champion_version=None)
        return GateDecision(alone.promote, f"{alone.reason} (champion v{champion_version} scored {champion})")
    sign = 1.0 if higher_is_better else -1.0
    if sign * (candidate - minimum) < 0:
        bound = "minimum" if higher_is_better else "maximum"
        return GateDecision(False, f"{metric} {candidate:.4f} misses the {bound} {minimum:.4f}")
    if champion is None:
        return GateDecision(True, f"{metric} {candidate:.4f} meets {minimum:.4f} and there is no scored champion")
    worse_by = sign * (champion - candidate)
    if worse_by > max_regression:
        return GateDecision(False, f"{metric} {candidate:.4f} is worse than champion v{champion_version} "
                                   f"({champion:.4f}) by {worse_by:.4f}, more than the allowed {max_regression:.4f}")
    return GateDecision(True, f"{metric} {candidate:.4f} vs champion v{champion_version} {champion:.4f} "
                              f"(allowed regression {max_regression:.4f})")


# -- what a model predicted on the holdout rows ---------------------------------------------------------------------

@dataclass(frozen=True)
class Scored:
    """One model's predictions on the holdout rows: what every metric of the gate needs."""

    y_true: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray | None = None  # (rows, classes), classifiers only
    classes: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> Scored:
        return Scored(self.y_true[rows], self.predicted[rows], None if self.proba is None else self.proba[rows],
                      self.classes)


def predictions(model: Any, features: pd.DataFrame, y_true: pd.Series, *, task: str, label: str) -> Scored:
    """Score the holdout once; `label` names the model in errors ("model 'credit' candidate")."""
    import numpy as np

    try:
        predicted = np.asarray(model.predict(features))
        if task != "classification":
            return Scored(y_true.to_numpy(), predicted.astype("float64"))
        proba = np.asarray(model.predict_proba(features), dtype="float64")
    except Exception as err:
        raise EvaluationError(f"{label} could not score the holdout: {type(err).__name__}: {err}") from err
    return Scored(y_true.to_numpy(), predicted, proba, np.asarray(model.classes_))


def metric_value(metric: str, scored: Scored) -> float:
    """The metric as `training.metrics.score` computes it (scikit-learn), on arrays; NaN when undefined."""
    from sklearn import metrics as skm

    y, predicted = scored.y_true, scored.predicted
    try:
        if metric in ("roc_auc", "log_loss"):
            if scored.proba is None or scored.classes is None:
                raise EvaluationError(f"metric '{metric}' needs class probabilities")
            labels = list(scored.classes)
            if metric == "log_loss":
                return float(skm.log_loss(y, scored.proba, labels=labels))
            if len(labels) == 2:
                return float(skm.roc_auc_score(y == labels[1], scored.proba[:, 1]))
            return float(skm.roc_auc_score(y, scored.proba, multi_class="ovr", labels=labels))
        binary = scored.classes is not None and len(scored.classes) == 2
        kwargs: dict[str, Any] = ({"average": "binary", "pos_label": scored.classes[1]} if binary  # type: ignore[index]
                                  else {"average": "macro"})
        scorers: dict[str, Any] = {
            "accuracy": lambda: skm.accuracy_score(y, predicted),
            "precision": lambda: skm.precision_score(y, predicted, zero_division=0, **kwargs),
            "recall": lambda: skm.recall_score(y, predicted, zero_division=0, **kwargs),
            "f1": lambda: skm.f1_score(y, predicted, zero_division=0, **kwargs),
            "rmse": lambda: skm.root_mean_squared_error(y, predicted),
            "mae": lambda: skm.mean_absolute_error(y, predicted),
            "r2": lambda: skm.r2_score(y, predicted),
        }
        return float(scorers[metric]())
    except ValueError:  # one class only, or one row for r2: no value, not a crash
        return float("nan")


# -- the paired bootstrap ------------------------------------------------------------------------------------------

def bootstrap_difference(metric: str, candidate: Scored, champion: Scored, *, higher_is_better: bool,
                         confidence: float, resamples: int = RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The `confidence` interval of how much better the candidate is than the champion (positive: better, for
    losses too), over `resamples` resamples of the holdout rows that both models scored (paired: one resample
    draws the same rows for both, so what the two share cancels out). Fixed seed: the same data, the same
    interval."""
    import numpy as np

    n = len(candidate.y_true)
    if n < 2 or len(champion.y_true) != n:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    sign = 1.0 if higher_is_better else -1.0
    differences = []
    for start in range(0, resamples, _CHUNK):
        b = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype("float64")
        differences.append(sign * (_weighted(metric, counts, candidate) - _weighted(metric, counts, champion)))
    diff = np.concatenate(differences)
    diff = diff[np.isfinite(diff)]
    if not len(diff):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diff, [tail, 100 - tail])
    return float(low), float(high)


def _weighted(metric: str, counts: np.ndarray, scored: Scored) -> np.ndarray:
    """The metric of each resample (a row of `counts`: how often each holdout row was drawn), vectorised."""
    import numpy as np

    y, predicted = scored.y_true, scored.predicted
    total = counts.sum(axis=1)
    if metric in ("rmse", "mae", "r2"):
        residual = y.astype("float64") - predicted
        if metric == "rmse":
            return np.sqrt(counts @ residual**2 / total)
        if metric == "mae":
            return counts @ np.abs(residual) / total
        target = y.astype("float64")
        spread = counts @ target**2 - (counts @ target) ** 2 / total
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 - (counts @ residual**2) / spread
    classes = scored.classes if scored.classes is not None else np.unique(y)
    if len(classes) != 2 and metric != "accuracy":
        return _looped(metric, counts, scored)
    if metric == "accuracy":
        return counts @ (predicted == y).astype("float64") / total
    positive = y == classes[-1]
    if metric == "log_loss":
        assert scored.proba is not None
        index = np.searchsorted(classes, y)
        own = np.clip(scored.proba[np.arange(len(y)), index], np.finfo("float64").eps, 1.0)
        return counts @ -np.log(own) / total
    if metric == "roc_auc":
        assert scored.proba is not None
        return _weighted_auc(counts, positive, scored.proba[:, 1])
    said = predicted == classes[-1]
    tp, fp, fn = (counts @ (said & positive).astype("float64"), counts @ (said & ~positive).astype("float64"),
                  counts @ (~said & positive).astype("float64"))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = {"precision": tp / (tp + fp), "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn)}[metric]
    return np.nan_to_num(value, nan=0.0)  # as scikit-learn's zero_division=0


def _weighted_auc(counts: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each resample from ranks: the share of (positive, negative) pairs the score orders right, ties
    counting half. Rows sorted by score once; per resample only weighted cumulative sums over the tie groups."""
    import numpy as np

    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    weights = counts[:, order]
    pos = positive[order].astype("float64")
    pos_g = np.add.reduceat(weights * pos, starts, axis=1)
    neg_g = np.add.reduceat(weights * (1.0 - pos), starts, axis=1)
    below = np.cumsum(neg_g, axis=1) - neg_g
    pairs = pos_g.sum(axis=1) * neg_g.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (pos_g * (below + 0.5 * neg_g)).sum(axis=1) / pairs


def _looped(metric: str, counts: np.ndarray, scored: Scored) -> np.ndarray:
    """Multi-class metrics other than accuracy: one scikit-learn call per resample (slower, rarely needed)."""
    import numpy as np

    rows = np.arange(counts.shape[1])
    return np.array([metric_value(metric, scored.subset(np.repeat(rows, row.astype("int64")))) for row in counts])


# -- latency -------------------------------------------------------------------------------------------------------

def measure_latency(model: Any, features: pd.DataFrame, *, rows: int = 1, samples: int = LATENCY_SAMPLES,
                    warmup: int = 5, max_seconds: float = LATENCY_SECONDS) -> dict[str, float]:
    """p95 and median milliseconds of `model.predict` on frames of `rows` holdout rows (up to `samples` frames),
    after `warmup` calls, with one OpenMP/BLAS thread as the model server runs. Each frame is timed twice and the
    faster kept: on a shared machine the slower one mostly measures the scheduler, not the model. Timing stops
    after `max_seconds` (at least `LATENCY_MIN_SAMPLES` frames), so a slow model or a busy machine does not hold
    the evaluate task for minutes."""
    import time

    import numpy as np
    from threadpoolctl import threadpool_limits

    frames = [features.iloc[i:i + rows] for i in range(0, min(len(features), samples * rows), rows)]
    frames = [f for f in frames if len(f) == rows] or [features.iloc[:rows]]
    timings: list[float] = []
    # one OpenMP/BLAS thread, as the local model server runs (OMP_NUM_THREADS=1, deploy/local/process.py)
    with threadpool_limits(limits=1):
        for frame in frames[:warmup]:
            model.predict(frame)
        deadline = time.perf_counter() + max_seconds
        for frame in frames:
            best = math.inf
            for _ in range(2):
                start = time.perf_counter()
                model.predict(frame)
                best = min(best, time.perf_counter() - start)
            timings.append(best * 1000)
            if len(timings) >= LATENCY_MIN_SAMPLES and time.perf_counter() > deadline:
                break
    return {"p95_ms": float(np.percentile(timings, 95)), "median_ms": float(np.median(timings)),
            "samples": float(len(timings)), "rows": float(rows)}


# -- judging -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CriterionResult:
    """One criterion's verdict: `pass`, `fail` or `not judged` (with why); `interval` is the bootstrap interval
    of candidate - champion (non-inferiority), `groups` the slice's groups."""

    index: int
    name: str
    kind: str
    value: float | None
    bound: str
    verdict: str
    why: str
    interval: list[float] | None = None
    champion: float | None = None
    groups: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(criteria: Sequence[Criterion], *, candidate: Scored, champion: Scored | None = None,
          champion_version: str | None = None, columns: dict[str, np.ndarray] | None = None,
          latency: dict[int, dict[str, float]] | None = None) -> list[CriterionResult]:
    """Every criterion's verdict. `columns` holds each slice column's values on the holdout rows, `latency` the
    `measure_latency` result per `rows`."""
    results = []
    for index, criterion in enumerate(criteria):
        if criterion.kind == "latency":
            results.append(_judge_latency(index, criterion, (latency or {}).get(criterion.rows)))
        elif criterion.kind == "slice":
            values = (columns or {}).get(str(criterion.slice))
            if values is None:
                raise EvaluationError(f"slice column '{criterion.slice}' was not kept for the gate")
            results.append(_judge_slice(index, criterion, candidate, values))
        else:
            results.append(_judge_metric(index, criterion, candidate, champion, champion_version))
    return results


def _judge_metric(index: int, criterion: Criterion, candidate: Scored, champion: Scored | None,
                  champion_version: str | None) -> CriterionResult:
    metric, higher = str(criterion.metric), criterion.higher_is_better
    minimum = float(criterion.minimum if criterion.minimum is not None else -math.inf if higher else math.inf)
    value = metric_value(metric, candidate)
    theirs = metric_value(metric, champion) if champion is not None else None
    compare = criterion.max_regression is not None
    bound = f"{'>=' if higher else '<='} {minimum:.4f}"
    if compare:
        bound += f"; no worse than the champion by more than {criterion.max_regression:.4f}"
        if criterion.confidence is not None:
            bound += f" at {criterion.confidence:.0%}"
    point = decide(metric=metric, higher_is_better=higher, minimum=minimum,
                   max_regression=float(criterion.max_regression or 0.0), candidate=value,
                   champion=theirs if compare else None, champion_version=champion_version)
    result: dict[str, Any] = {"index": index, "name": criterion.name, "kind": "metric", "value": _finite(value),
                              "bound": bound, "champion": _finite(theirs) if theirs is not None else None}
    usable = champion is not None and theirs is not None and math.isfinite(theirs) and math.isfinite(value)
    if not compare and point.promote:  # a floor only: the champion is not part of it
        return CriterionResult(**result, verdict=PASS, why=f"{metric} {value:.4f} meets {minimum:.4f}")
    if criterion.confidence is None or not compare or not usable or (
            not point.promote and "misses the" in point.reason):
        return CriterionResult(**result, verdict=PASS if point.promote else FAIL, why=point.reason)
    assert champion is not None and theirs is not None
    low, high = bootstrap_difference(metric, candidate, champion, higher_is_better=higher,
                                     confidence=criterion.confidence)
    allowed = float(criterion.max_regression or 0.0)
    better_by = (value - theirs) * (1 if higher else -1)
    said = (f"{metric} {value:.4f} vs champion v{champion_version} {theirs:.4f}: better by {better_by:+.4f}, "
            f"{criterion.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]")
    if not math.isfinite(low):
        return CriterionResult(**result, verdict=FAIL, why=f"{said}: the bootstrap has no interval")
    if low <= -allowed:
        why = (f"{said}: may be worse than champion v{champion_version} by up to {-low:.4f}, more than the "
               f"allowed {allowed:.4f}")
        return CriterionResult(**result, verdict=FAIL, why=why, interval=[low, high])
    return CriterionResult(**result, verdict=PASS, interval=[low, high],
                           why=f"{said}: non-inferior (allowed regression {allowed:.4f})")


def _judge_slice(index: int, criterion: Criterion, candidate: Scored, values: np.ndarray) -> CriterionResult:
    import numpy as np
    import pandas as pd

    metric, higher, column = str(criterion.metric), criterion.higher_is_better, str(criterion.slice)
    keys = pd.Series(values).astype("string").fillna("(missing)").to_numpy()
    groups, judged = [], []
    for group in sorted(set(keys)):
        rows = np.flatnonzero(keys == group)
        value = metric_value(metric, candidate.subset(rows))
        entry: dict[str, Any] = {"group": group, "rows": len(rows), "value": _finite(value)}
        if len(rows) < criterion.min_rows:
            entry.update(verdict=NOT_JUDGED, why=f"{len(rows)} rows, fewer than min_rows {criterion.min_rows}")
        elif not math.isfinite(value):
            entry.update(verdict=NOT_JUDGED, why=f"{metric} is not defined on this group (one class?)")
        else:
            low = criterion.minimum is not None and (value - criterion.minimum) * (1 if higher else -1) < 0
            entry.update(verdict=FAIL if low else PASS,
                         why=f"misses {criterion.minimum:.4f}" if low else "")
            judged.append(entry)
        groups.append(entry)
    parts = []
    if criterion.minimum is not None:
        parts.append(f"{'>=' if higher else '<='} {criterion.minimum:.4f} per group")
    if criterion.max_gap is not None:
        parts.append(f"gap <= {criterion.max_gap:.4f}")
    parts.append(f"groups of >= {criterion.min_rows} rows")
    common: dict[str, Any] = {"index": index, "name": criterion.name, "kind": "slice", "bound": "; ".join(parts),
                              "groups": groups}
    if not judged or (criterion.minimum is None and len(judged) < 2):
        return CriterionResult(**common, value=None, verdict=NOT_JUDGED,
                               why=f"{metric} by {column}: no group has {criterion.min_rows} rows to judge "
                                   f"({len(groups)} group(s))" if not judged else
                                   f"{metric} by {column}: one group to judge, no gap to measure")
    scores = [float(g["value"]) for g in judged]
    worst = min(scores) if higher else max(scores)
    gap = max(scores) - min(scores)
    problems = [f"group '{g['group']}' {g['value']:.4f} misses {criterion.minimum:.4f}"
                for g in judged if g["verdict"] == FAIL]
    if criterion.max_gap is not None and gap > criterion.max_gap:
        problems.append(f"gap {gap:.4f} between groups is over {criterion.max_gap:.4f}")
    small = [g["group"] for g in groups if g["verdict"] == NOT_JUDGED]
    note = f" ({len(small)} group(s) not judged: {', '.join(small[:5])})" if small else ""
    head = f"{metric} by {column}: worst {worst:.4f}, gap {gap:.4f} over {len(judged)} group(s)"
    why = f"{head}: {'; '.join(problems)}{note}" if problems else f"{head}{note}"
    return CriterionResult(**common, value=worst, verdict=FAIL if problems else PASS, why=why,
                           interval=[min(scores), max(scores)])


def _judge_latency(index: int, criterion: Criterion, measured: dict[str, float] | None) -> CriterionResult:
    budget = float(criterion.latency_p95_ms or 0)
    common: dict[str, Any] = {"index": index, "name": criterion.name, "kind": "latency",
                              "bound": f"p95 <= {budget:g} ms"}
    if not measured:
        return CriterionResult(**common, value=None, verdict=NOT_JUDGED, why="latency was not measured")
    p95 = measured["p95_ms"]
    said = (f"p95 of {int(measured['samples'])} predictions of {criterion.rows} row(s): {p95:.2f} ms "
            f"(median {measured['median_ms']:.2f} ms)")
    if p95 > budget:
        return CriterionResult(**common, value=p95, verdict=FAIL, why=f"{said}, over the budget {budget:g} ms")
    return CriterionResult(**common, value=p95, verdict=PASS, why=f"{said}, within {budget:g} ms")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# -- from the verdicts (XCom dicts) to a decision and a table ------------------------------------------------------

def decision_of(criteria: Sequence[dict[str, Any]]) -> GateDecision:
    """Promote only when no criterion failed; the reason names the failed ones, else all verdicts."""
    failed = [c for c in criteria if c.get("verdict") == FAIL]
    if failed:
        return GateDecision(False, "; ".join(str(c["why"]) for c in failed))
    if not criteria:
        return GateDecision(False, "the gate has no criterion")
    return GateDecision(True, "; ".join(str(c["why"]) for c in criteria))


def criteria_table(criteria: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per criterion, then one table per slice of its groups."""
    lines = ["| # | criterion | value | champion | bound | interval | verdict | why |",
             "|---|---|---|---|---|---|---|---|"]
    for c in criteria:
        interval = "" if not c.get("interval") else f"[{c['interval'][0]:.4f}, {c['interval'][1]:.4f}]"
        lines.append(f"| {c['index']} | {c['name']} | {_cell(c.get('value'))} | {_cell(c.get('champion'))} | "
                     f"{c['bound']} | {interval} | **{c['verdict']}** | {_escape(str(c['why']))} |")
    for c in criteria:
        if not c.get("groups"):
            continue
        lines += ["", f"**{c['name']}** (criterion {c['index']})", "", "| group | rows | value | verdict | why |",
                  "|---|---|---|---|---|"]
        lines += [f"| {_escape(str(g['group']))} | {g['rows']} | {_cell(g.get('value'))} | {g['verdict']} | "
                  f"{_escape(str(g.get('why', '')))} |" for g in c["groups"]]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
