"""Operators that register a candidate in the MLflow model registry and promote it through the gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.links import MLflowModelVersionLink, PassportLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry, skip_if_retired
from mlops_provider.operators.passport import task_actor, write_passport_safely

if TYPE_CHECKING:
    from mlops_provider.xcom import Evaluation, Promotion, Registration

CHAMPION_ALIAS_EVENTS = "mlops_champion"


def gate_decision(config: Any, evaluation: Evaluation) -> Any:
    """The gate's verdict on an evaluation (`registry.decide_evaluation`: every criterion judged in it must pass):
    what promote applies, and what the approve task checks first so nobody is asked to sign off a candidate the
    gate refuses."""
    from mlops_provider.registry import decide_evaluation

    return decide_evaluation(config.gate, evaluation)


class RegisterModelOperator(ModelOperator):
    """Register the trained model as a version of `<model>`, tag it, and point `challenger` at it.

    Idempotent: a retry of the same DAG run finds the version it registered and creates no other.

    :param model: name of the model's config file in `include/models/` (templated).
    :param training: the result of `TrainModelOperator` (templated).
    :param reason: why it was trained, the version's `mlops.reason` tag (templated).
    :param extra_tags: more version tags, e.g. who asked for a retraining (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "training", "reason", "extra_tags")
    template_fields_renderers = {"training": "json", "extra_tags": "json"}
    operator_extra_links = (MLflowModelVersionLink(),)

    def __init__(self, *, training: Any, reason: str = "schedule", extra_tags: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training
        self.reason = reason
        self.extra_tags = extra_tags or {}

    def execute(self, context: Any) -> Registration:
        from mlops_provider.registry import register

        with fail_without_retry():
            config = self.load_config()
        client = self.hook.get_conn()
        skip_if_retired(client, config.name)
        result = register(client, model=config.name, training=self.training, dag_run_id=context["run_id"],
                          reason=self.reason, extra_tags={k: str(v) for k, v in self.extra_tags.items()},
                          actor=task_actor(context, self))
        MLflowModelVersionLink.persist(context, self.hook.model_version_url(config.name, result["version"]))
        self.log.info("Model %s: version %s %s, alias challenger set", config.name, result["version"],
                      "registered" if result["created"] else "found (retry, nothing created)")
        return result


class PromoteModelOperator(ModelOperator):
    """Move `champion` to the registered version when it passes the gate; keep `previous_champion`.

    The gate: every criterion of `gate` that `EvaluateModelOperator` judged passes (a metric's minimum,
    no worse than the champion by more than `max_regression`, on a paired bootstrap interval when a
    `confidence` is given; the metric per group of a slice column; the p95 latency). The decision, both
    scores and every criterion's verdict become version tags (`mlops.criteria`, `mlops.gate.<i>.<name>`)
    and the criteria table is logged and stored as `gate/criteria.md` of the training run before the
    alias moves; moving the alias is the last step. A rejected candidate leaves `champion` where it was and
    the task succeeds, saying why. A promotion emits the `x-mlops://<model>/champion` asset event.
    With an `experiment:` block in the model's config and a champion in place, a candidate that passes is made
    `challenger` instead (tag `mlops.experiment.status=pending`, the `x-mlops://<model>/challenger` event):
    the champion moves only when `mlops_experiment` finds that it wins.
    Every alias move is recorded in the model's alias history (`mlops_provider.history`), and the
    version's passport is written, promoted or not (a passport that cannot be written is a warning).

    One promotion of a model at a time, whichever DAG runs it: reading the champion, judging the
    candidate against it and moving the alias happen under the model's promotion lock
    (`registry.promotion_lock`). A promotion that waited for another is scored again against the
    champion that one left, so its decision names the champion it really replaces.

    :param model: name of the model's config file in `include/models/` (templated).
    :param registration: the result of `RegisterModelOperator` (templated).
    :param evaluation: the result of `EvaluateModelOperator`; scored again when the champion moved since
        (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "registration", "evaluation")
    template_fields_renderers = {"registration": "json", "evaluation": "json"}
    operator_extra_links = (MLflowModelVersionLink(), PassportLink())

    def __init__(self, *, registration: Any, evaluation: Any, **kwargs: Any) -> None:
        from airflow.sdk import AssetAlias

        kwargs.setdefault("outlets", [AssetAlias(CHAMPION_ALIAS_EVENTS)])
        super().__init__(**kwargs)
        self.registration = registration
        self.evaluation = evaluation
        self._challenger = False  # set by `_make_challenger` when an experiment decides instead

    def execute(self, context: Any) -> Promotion:
        from mlops_provider.registry import promotion_lock

        with fail_without_retry():
            config = self.load_config()
        client = self.hook.get_conn()
        with promotion_lock(client, config.name, owner=f"{self.dag_id}/{context['run_id']}/{self.task_id}"):
            result = self._promote(context, config, client)
        write_passport_safely(self, context, config.name, result["version"])
        if result["promoted"]:
            self._emit_champion_event(context, result)
        elif self._challenger:
            self._emit_challenger_event(context, result)
        self._alert(context, config, result)
        return result

    def _alert(self, context: Any, config: Any, result: Promotion) -> None:
        from mlops_provider.operators.alerting import alert

        versions = {"candidate": result["version"]}
        if result["previous_champion"]:
            versions["champion before" if result["promoted"] else "champion"] = result["previous_champion"]
        numbers = {f"candidate {config.gate.metric}": self.evaluation.get("candidate_score"),
                   f"champion {config.gate.metric}": self.evaluation.get("champion_score")}
        promoted = result["promoted"]
        summary = "is champion" if promoted else "was not promoted"
        if self._challenger:
            summary = "is challenger: an A/B experiment decides whether it becomes champion"
        alert(self, context, config, kind="promotion" if promoted or self._challenger else "rejected",
              summary=f"v{result['version']} {summary}",
              versions=versions, numbers=numbers, details=result["reason"],
              links={"MLflow version": self.hook.model_version_url(config.name, result["version"])})

    def _promote(self, context: Any, config: Any, client: Any) -> Promotion:
        from mlops_provider.registry import alias_version, move_champion, record_decision
        from mlops_provider.tracking import CHAMPION

        version, evaluation = self.registration["version"], self.evaluation
        champion_now = alias_version(client, config.name, CHAMPION)
        if champion_now not in (evaluation.get("champion_version"), version):
            evaluation = self._rescore(config, client)  # every criterion judged again against the new champion
        decision = gate_decision(config, evaluation)
        self._report_criteria(client, evaluation)
        record_decision(client, config.name, version, decision, evaluation)
        MLflowModelVersionLink.persist(context, self.hook.model_version_url(config.name, version))
        result: Promotion = {"model": config.name, "version": version, "promoted": decision.promote,
                  "reason": decision.reason, "previous_champion": evaluation.get("champion_version")}
        if decision.promote and config.experiment is not None and champion_now not in (None, version):
            return self._make_challenger(context, config, client, result)
        if not decision.promote:
            self.log.warning("Model %s v%s NOT promoted: %s. Champion stays v%s.", config.name, version,
                             decision.reason, evaluation.get("champion_version"))
            return result
        result["previous_champion"] = move_champion(client, config.name, version, actor=task_actor(context, self),
                                                    reason=decision.reason)
        self.log.info("Model %s v%s is champion: %s", config.name, version, decision.reason)
        return result

    def _make_challenger(self, context: Any, config: Any, client: Any, result: Promotion) -> Promotion:
        """With an `experiment:` block the gate's pass makes the candidate `challenger`, not champion: the
        champion stays until `mlops_experiment` decides (the first version of a model, with no champion to
        compare with, is promoted as usual)."""
        from mlops_provider.history import set_alias
        from mlops_provider.tracking import CHALLENGER, TAG_EXPERIMENT_STATUS

        version = result["version"]
        client.set_model_version_tag(config.name, version, TAG_EXPERIMENT_STATUS, "pending")
        set_alias(client, config.name, CHALLENGER, version, actor=task_actor(context, self),
                  reason="passed the gate; an A/B experiment decides")
        self._challenger = True
        result["promoted"] = False  # the champion did not move: no champion event, no deployment
        result["reason"] = f"{result['reason']}; challenger until the A/B experiment (mlops_experiment) decides"
        self.log.info("Model %s v%s passed the gate and is challenger: the champion v%s stays until the A/B "
                      "experiment decides", config.name, version, result["previous_champion"])
        return result

    def _emit_challenger_event(self, context: Any, result: Promotion) -> None:
        from airflow.sdk import AssetAlias

        from mlops_provider.assets import challenger_asset

        if not any(isinstance(o, AssetAlias) and o.name == CHAMPION_ALIAS_EVENTS for o in self.outlets):
            return
        context["outlet_events"][AssetAlias(CHAMPION_ALIAS_EVENTS)].add(
            challenger_asset(result["model"]), extra={"version": result["version"],
                                                      "champion": result["previous_champion"]})

    def _report_criteria(self, client: Any, evaluation: Evaluation) -> None:
        """The criteria table in this task's log and as `gate/criteria.md` of the candidate's training run."""
        from mlops_provider.gate import criteria_table
        from mlops_provider.tracking import CRITERIA_ARTIFACT

        if not evaluation.get("criteria"):
            return
        table = criteria_table(evaluation["criteria"])
        self.log.info("Gate criteria of v%s (champion v%s):\n%s", self.registration["version"],
                      evaluation.get("champion_version"), table)
        run_id = self.registration.get("run_id")
        if run_id:
            client.log_text(run_id, table, CRITERIA_ARTIFACT)

    def _rescore(self, config: Any, client: Any) -> Evaluation:
        from mlops_provider.training.run import evaluate

        self.log.info("Champion moved since evaluation; scoring again against the new champion")
        with fail_without_retry(), self.hook.fluent() as fluent_client:
            return evaluate(config, fluent_client, candidate_uri=self.registration["model_uri"])

    def _emit_champion_event(self, context: Any, result: Promotion) -> None:
        from airflow.sdk import Asset, AssetAlias

        from mlops_provider.assets import champion_asset

        if not any(isinstance(o, AssetAlias) and o.name == CHAMPION_ALIAS_EVENTS for o in self.outlets):
            return
        asset: Asset = champion_asset(result["model"])
        context["outlet_events"][AssetAlias(CHAMPION_ALIAS_EVENTS)].add(
            asset, extra={"version": result["version"], "previous_champion": result["previous_champion"]}
        )
