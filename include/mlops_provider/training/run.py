"""Train a configured model inside an MLflow run, and score candidates against the champion.

Plain MLflow and pandas; the caller points MLflow at a tracking server (see `MLflowHook.fluent`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_provider.config import ModelConfig, load_callable
from mlops_provider.data import features_frame
from mlops_provider.exceptions import DataError, EvaluationError, TrainingError
from mlops_provider.monitoring import log_holdout_scores
from mlops_provider.registry import alias_version
from mlops_provider.tracking import (
    CHAMPION,
    TAG_DAG_RUN,
    TAG_DATA_SOURCES,
    TAG_DIGEST,
    TAG_MODEL,
    TAG_REASON,
    TAG_STAGE,
    ModelTrust,
    find_stage_run,
    load_registered_model,
    load_version,
    skops_format,
)
from mlops_provider.training.metrics import score
from mlops_provider.training_data import SOURCES_ARTIFACT, TrainingSet, training_batches
from mlops_provider.xcom import Evaluation, TrainingResult

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from mlflow import MlflowClient


def find_finished_run(client: MlflowClient, experiment_id: str, dag_run_id: str, digest: str) -> Any | None:
    """The finished training run of this DAG run on this data (so a retry retrains nothing)."""
    return find_stage_run(client, experiment_id, stage="training", dag_run_id=dag_run_id, digest=digest,
                          finished_only=True)


def _fit(config: ModelConfig, train: pd.DataFrame) -> Any:
    trainer = load_callable(config.trainer.callable, source=f"{config.source}: key 'trainer.callable'")
    try:
        model = trainer(train, target=config.target, numeric=list(config.features.numeric),
                        categorical=list(config.features.categorical), params=dict(config.trainer.params),
                        seed=config.trainer.seed)
    except Exception as err:
        raise TrainingError(
            f"model '{config.name}': trainer '{config.trainer.callable}' raised {type(err).__name__}: {err}"
        ) from err
    if not hasattr(model, "predict"):
        raise TrainingError(f"model '{config.name}': trainer '{config.trainer.callable}' returned "
                            f"{type(model).__name__}, which has no predict()")
    return model


def train_and_log(config: ModelConfig, client: MlflowClient, *, dag_run_id: str, reason: str,
                  profile_writer: Any = None, validation: dict[str, Any] | None = None,
                  now: datetime | None = None) -> TrainingResult:
    """Train in a new MLflow run (or return the finished run of this DAG run) and describe it.

    The training set is assembled as of `now` (the DAG run's time), else as of the time the data gate
    assembled it (`validation["data_time"]`), else now. `validation` is the data gate's summary: the data
    trained on must be the data it validated (same digest), and the verdict is carried on as the version tag
    `mlops.validation`. The run records the set's sources (artifact `data/sources.json`, tag
    `mlops.data_sources`) and the reference profile of the rows it trained on."""
    import mlflow
    import mlflow.sklearn
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    batches = training_batches(config, now=now or _validated_at(validation))
    train, holdout, assembled = batches.train, batches.holdout, batches.training_set
    digest, uri = assembled.digest, assembled.uri
    if validation and validation.get("data_digest") not in (None, digest):
        raise TrainingError(f"model '{config.name}': training data {uri} changed since it was validated "
                            f"(digest {validation['data_digest']} then, {digest} now: {assembled.summary}); "
                            "run the DAG again")
    experiment = mlflow.set_experiment(config.experiment_name)
    verdict = _validation_tag(validation)
    existing = find_finished_run(client, experiment.experiment_id, dag_run_id, digest)
    if existing is not None:
        return _describe(existing, client, config, assembled, reused=True, validation=verdict)

    tags = {TAG_DAG_RUN: dag_run_id, TAG_REASON: reason, TAG_DIGEST: digest, TAG_MODEL: config.name,
            TAG_STAGE: "training", TAG_DATA_SOURCES: assembled.summary[:5000]}
    with mlflow.start_run(run_name=f"{config.name}-{dag_run_id}"[:250], tags=tags) as run:
        mlflow.log_params({"trainer": config.trainer.callable, "seed": config.trainer.seed,
                           "train_rows": len(train), "holdout_rows": len(holdout),
                           "data_time": assembled.now.isoformat(),
                           **{f"param.{k}": v for k, v in config.trainer.params.items()}})
        mlflow.log_text(json.dumps(assembled.sources, indent=2), SOURCES_ARTIFACT)
        dataset = from_pandas(train, source=uri, targets=config.target, name=f"{config.name}-train")
        mlflow.log_input(dataset, context="training")
        model = _fit(config, train)
        holdout = holdout.assign(**features_frame(config, holdout))
        # the primary metric first (its failure names the model), then every other metric the gate judges
        metrics = dict.fromkeys([config.gate.metric, *(c.metric for c in config.gate.criteria if c.metric)])
        mlflow.log_metrics({f"holdout_{metric}": score(model, holdout, target=config.target,
                                                       features=config.features.all, metric=metric,
                                                       label=f"model '{config.name}' candidate")
                            for metric in metrics if metric})
        example = features_frame(config, train.head(5))
        signature = infer_signature(example, model.predict(example))
        mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=example,
                                 **_serialization(config, model))
        if profile_writer is not None:
            profile_writer(train[config.features.all], run.info.run_id)
        log_holdout_scores(model, holdout, config)
    return _describe(client.get_run(run.info.run_id), client, config, assembled, reused=False,
                     validation=verdict)


def _validated_at(validation: dict[str, Any] | None) -> datetime | None:
    """The time the data gate assembled the set as of (`data_time` of its summary), so training reads the same."""
    from datetime import datetime

    stamp = (validation or {}).get("data_time")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) and stamp else None


def _trained_as_of(client: MlflowClient, candidate_uri: str) -> datetime | None:
    """The `data_time` param of the run that logged `models:/<model id>`; None for another URI or an older run."""
    from datetime import datetime

    if not candidate_uri.startswith("models:/") or candidate_uri.count("/") != 1:
        return None
    run_id = client.get_logged_model(candidate_uri.removeprefix("models:/")).source_run_id
    stamp = client.get_run(run_id).data.params.get("data_time") if run_id else None
    return datetime.fromisoformat(stamp) if stamp else None


def _validation_tag(validation: dict[str, Any] | None) -> str:
    """`passed 44/44 (run <id>)`, or `not validated` when the chain has no data gate."""
    if not validation:
        return "not validated"
    evaluated = int(validation.get("evaluated", 0))
    passed = evaluated - int(validation.get("failed", 0))
    return f"passed {passed}/{evaluated} (run {validation.get('run_id', '?')})"


def _describe(run: Any, client: MlflowClient, config: ModelConfig, assembled: TrainingSet,
              *, reused: bool, validation: str) -> TrainingResult:
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'",
        max_results=1,
    )
    if not models:
        raise TrainingError(f"model '{config.name}': run {run.info.run_id} has no logged model")
    return {
        "model": config.name,
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_uri": f"models:/{models[0].model_id}",
        "model_id": models[0].model_id,
        "metrics": {k: float(v) for k, v in run.data.metrics.items()},
        "data_digest": assembled.digest,
        "data_uri": assembled.uri,
        "reused": reused,
        "validation": validation,
        "sources": list(assembled.sources),
        "data_sources": assembled.summary,
    }


def _serialization(config: ModelConfig, model: Any) -> dict[str, Any]:
    """skops (no code runs on load), listing the model's types that skops does not trust by itself; cloudpickle
    only when the config allows pickle, since such a model is refused on load otherwise."""
    try:
        return skops_format(model)
    except Exception as err:
        if config.trainer.allow_pickle:
            return {"serialization_format": "cloudpickle"}
        raise TrainingError(f"model '{config.name}': skops cannot write the trained {type(model).__name__} "
                            f"({type(err).__name__}: {err}); set trainer.allow_pickle: true to save it with "
                            "cloudpickle") from err


def evaluate(config: ModelConfig, client: MlflowClient, *, candidate_uri: str,
             now: datetime | None = None) -> Evaluation:
    """Score the candidate and the current champion on the same holdout: that of the training set assembled as
    of `now`, by default as of the time the candidate's training run assembled it (its `data_time` param), so
    the holdout is the one the candidate never saw even when new partitions or labels arrived since.

    Every criterion of the gate is judged here, on the per-row predictions of both models held in memory (the
    paired bootstrap, the slices) and on the candidate's measured latency; only the verdicts are returned."""
    from mlops_provider import gate

    batches = training_batches(config, now=now or _trained_as_of(client, candidate_uri))
    holdout, digest = batches.holdout, batches.training_set.digest
    _require_slice_columns(config, holdout, batches)
    trust = ModelTrust.of(config)
    metric, target, features = config.gate.metric, config.target, config.features.all
    holdout = holdout.assign(**features_frame(config, holdout))
    candidate_model = load_registered_model(candidate_uri, trust=trust)
    label = f"model '{config.name}' candidate {candidate_uri}"
    candidate = score(candidate_model, holdout, target=target, features=features, metric=metric, label=label)
    scored = gate.predictions(candidate_model, holdout[features], holdout[target], task=config.task, label=label)
    result: Evaluation = {"metric": metric, "candidate_score": candidate, "champion_version": None,
                          "champion_score": None, "champion_error": None, "holdout_rows": len(holdout),
                          "data_digest": digest}
    latency = {c.rows: gate.measure_latency(candidate_model, holdout[features], rows=c.rows)
               for c in config.gate.criteria if c.kind == "latency"}
    champion_scored = None
    champion = alias_version(client, config.name, CHAMPION)
    if champion is not None:
        result["champion_version"] = champion
        try:
            champion_model = load_version(config.name, champion, trust=trust)
            label = f"model '{config.name}' champion v{champion}"
            result["champion_score"] = score(champion_model, holdout, target=target, features=features,
                                             metric=metric, label=label)
            champion_scored = gate.predictions(champion_model, holdout[features], holdout[target], task=config.task,
                                               label=label)
        except EvaluationError as err:
            if "only one class" in str(err):
                raise
            result["champion_error"] = str(err)
    columns = {column: holdout[column].to_numpy() for column in config.gate.slice_columns}
    verdicts = gate.judge(config.gate.criteria, candidate=scored, champion=champion_scored,
                          champion_version=champion, columns=columns, latency=latency)
    result["criteria"] = [v.to_dict() for v in verdicts]
    result["latency"] = next(iter(latency.values()), None)
    return result


def _require_slice_columns(config: ModelConfig, holdout: pd.DataFrame, batches: Any) -> None:
    """Every slice column is in the holdout (a column that some batches lack fails here, naming the batch)."""
    missing = [c for c in config.gate.slice_columns if c not in holdout.columns]
    if missing:
        batch = config.resolve(config.data.holdout) if config.data.holdout else batches.training_set.uri
        raise DataError(f"model '{config.name}': holdout of {batch} has no slice column(s) {missing} of `gate` "
                        f"(it has {list(holdout.columns)})")
