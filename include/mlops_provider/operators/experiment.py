"""Operators of `mlops_experiment`, an A/B test of the challenger against the champion to a verdict: plan, split,
wait (deferred), decide, act, record. The statistics live in `mlops_provider.experiments` (no Airflow there)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.operators.base import ModelOperator, fail_without_retry
from mlops_provider.operators.passport import task_actor

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.experiments.plan import ExperimentPlan

EXPERIMENT_EVENTS = "mlops_experiment"  # the asset alias the act task emits the champion event through
OVERRIDES = ("champion_percent", "challenger_percent", "minimum_detectable_effect", "alpha", "power",
             "deadline_hours", "metric", "poll_minutes")
LOOKBACK_HOURS = 24  # the traffic rate that judges whether the plan is reachable is measured over at most this


class PlanExperimentOperator(ModelOperator):
    """State the plan before any data: the champion and challenger versions, the metric, the split and the labelled
    rows per arm for the minimum detectable effect at alpha and power, the variance taken from the champion's
    holdout (`experiments.plan`). Refused, without retry and naming why: no champion, no challenger (or the
    challenger is the champion, or the gate rejected it), a split not summing to 100, a metric the experiment
    cannot judge, or a planned size the model's labelled traffic cannot reach before the deadline. With no
    labelled traffic yet, the plan says so in its notes (and on the challenger's tags) and goes on.

    :param model: name of the model's config file in `include/models/` (templated).
    :param challenger: the version to test (default: the `challenger` alias) (templated).
    :param overrides: values replacing the config's `experiment:` keys: `champion_percent`,
        `challenger_percent`, `minimum_detectable_effect`, `alpha`, `power`, `deadline_hours`, `metric`,
        `poll_minutes` (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "challenger", "overrides")
    template_fields_renderers = {"overrides": "json"}
    ui_color = "#f3e5f5"

    def __init__(self, *, challenger: Any = None, overrides: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.challenger = challenger
        self.overrides = overrides

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
            with self.hook.fluent() as client:
                plan = self._plan(config, client)
                self._record_start(client, plan)
        self.log.info("Plan, %s", plan.describe())
        for note in plan.notes:
            self.log.warning("Model %s: %s", config.name, note)
        return plan.to_dict()

    @staticmethod
    def _record_start(client: Any, plan: ExperimentPlan) -> None:
        """The plan and its notes (e.g. no labelled traffic yet) on the challenger, before any data."""
        from mlops_provider.tracking import TAG_EXPERIMENT_REASON, TAG_EXPERIMENT_STATUS

        client.set_model_version_tag(plan.model, plan.challenger, TAG_EXPERIMENT_STATUS, "running")
        said = "; ".join([f"plan: {plan.describe()}", *plan.notes])
        client.set_model_version_tag(plan.model, plan.challenger, TAG_EXPERIMENT_REASON, said[:5000])

    def _settings(self, config: ModelConfig) -> dict[str, Any]:
        from mlops_provider.exceptions import ConfigError

        given = {k: v for k, v in dict(self.overrides or {}).items() if v is not None}
        unknown = sorted(set(given) - set(OVERRIDES))
        if unknown:
            raise ConfigError(f"model '{config.name}': unknown experiment override(s) {unknown} (known: "
                              f"{', '.join(OVERRIDES)})")
        block = config.experiment
        base: dict[str, Any] = block.model_dump() if block is not None else {}
        if "challenger_percent" in given and "champion_percent" not in given:
            given["champion_percent"] = 100 - int(given["challenger_percent"])
        settings = {**base, **given}
        settings.setdefault("challenger_percent", 10)
        settings.setdefault("champion_percent", 100 - int(settings["challenger_percent"]))
        if "minimum_detectable_effect" not in settings:
            raise ConfigError(f"{config.source}: model '{config.name}' has no `experiment:` block: give at least "
                              "`minimum_detectable_effect` in the run's overrides")
        for key, default in (("alpha", 0.05), ("power", 0.8), ("deadline_hours", 72.0), ("poll_minutes", 5.0)):
            settings.setdefault(key, default)
        if not 0 < float(settings["poll_minutes"]) <= 24 * 60:
            raise ConfigError(f"model '{config.name}': experiment override poll_minutes must be above 0 and at most "
                              f"a day (1440), got {settings['poll_minutes']!r}")
        return settings

    def _plan(self, config: ModelConfig, client: Any) -> ExperimentPlan:
        from mlops_provider.experiments.plan import check_split, experiment_metric, make_plan, reachability
        from mlops_provider.monitoring import load_holdout_scores

        settings = self._settings(config)
        split = check_split(config.name, settings["champion_percent"], settings["challenger_percent"])
        metric = experiment_metric(config, settings.get("metric"))
        champion, challenger = self._versions(config, client)
        holdout = load_holdout_scores(client, config, champion)
        if holdout is None:
            from mlops_provider.exceptions import ConfigError

            raise ConfigError(f"model '{config.name}': the champion v{champion} has no holdout scores "
                              "(monitoring/holdout_scores.parquet): the plan's variance cannot be taken from it")
        plan = make_plan(config, champion=champion, challenger=challenger, holdout=holdout, split=split,
                         mde=float(settings["minimum_detectable_effect"]), alpha=float(settings["alpha"]),
                         power=float(settings["power"]), deadline_hours=float(settings["deadline_hours"]),
                         metric=metric, poll_minutes=float(settings["poll_minutes"]))
        rate, hours = labelled_rate(config)
        why = reachability(plan, rate, hours)
        if why is not None:
            from mlops_provider.exceptions import ConfigError

            raise ConfigError(why)
        if rate is None:
            plan.notes.append(f"no labelled traffic in the last {hours:g} h: whether {sum(plan.rows.values())} "
                              f"labelled rows arrive before the deadline ({plan.deadline}) cannot be judged yet")
        else:
            plan.notes.append(f"observed {rate:.1f} labelled rows per hour over the last {hours:.2g} h: the "
                              f"planned size is reachable before the deadline")
        return plan

    def _versions(self, config: ModelConfig, client: Any) -> tuple[str, str]:
        from mlops_provider.exceptions import ConfigError
        from mlops_provider.registry import alias_version
        from mlops_provider.tracking import CHALLENGER, CHAMPION, TAG_DECISION

        champion = alias_version(client, config.name, CHAMPION)
        if champion is None:
            raise ConfigError(f"model '{config.name}': no champion to test a challenger against")
        challenger = str(self.challenger).strip() if self.challenger not in (None, "") else None
        chosen = challenger is not None
        if challenger is None:
            challenger = alias_version(client, config.name, CHALLENGER)
        if challenger is None:
            raise ConfigError(f"model '{config.name}': no challenger (no `challenger` alias and no version given): "
                              "nothing to test")
        if challenger == champion:
            raise ConfigError(f"model '{config.name}': v{challenger} is the champion itself: nothing to test")
        tags = client.get_model_version(config.name, challenger).tags or {}
        if not chosen and tags.get(TAG_DECISION) == "rejected":
            raise ConfigError(f"model '{config.name}': the challenger v{challenger} was rejected by the gate "
                              "(mlops.decision=rejected): no experiment for it; give a version by hand to insist")
        return champion, challenger


def labelled_rate(config: ModelConfig, now: datetime | None = None) -> tuple[float | None, float]:
    """(labelled rows per hour, hours measured): over the last `LOOKBACK_HOURS`, from the first labelled
    prediction in them (a model deployed an hour ago is not judged on 24 hours); None without any."""
    import pandas as pd

    from mlops_provider.inference_log import TIMESTAMP
    from mlops_provider.labels import ingest_inbox, labelled_predictions

    end = now or datetime.now(UTC)
    ingest_inbox(config)
    joined = labelled_predictions(config, start=end - timedelta(hours=LOOKBACK_HOURS), end=end)
    if not len(joined):
        return None, float(LOOKBACK_HOURS)
    first = pd.to_datetime(joined[TIMESTAMP], utc=True).min()
    hours = max((pd.Timestamp(end) - first).total_seconds() / 3600, 1 / 60)
    return len(joined) / hours, hours


class SplitTrafficOperator(ModelOperator):
    """Load the challenger beside the champion on the model's local server and split the traffic as planned, by a
    hash of each request's `x-routing-key` (`deploy.local.split`); other targets are refused for now. Returns the
    plan with its clock started now (rows logged before the split would count against the champion alone).

    :param model: name of the model's config file in `include/models/` (templated).
    :param plan: the plan (templated).
    :param state_dir: the local servers' state folder (default: the target's).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "plan")
    template_fields_renderers = {"plan": "json"}

    def __init__(self, *, plan: Any, state_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.state_dir = state_dir

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config
        from mlops_provider.deploy.local.split import split_target, start_split

        plan = dict(self.plan)
        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
            with self.hook.fluent():
                target = split_target(config, tracking_uri=self.hook.tracking_uri, state_dir=self.state_dir)
                steps = start_split(target, config, champion=plan["champion"], challenger=plan["challenger"],
                                    split=plan["split"])
        for step in steps:
            self.log.info("Model %s: %s", config.name, step)
        hours = (datetime.fromisoformat(plan["deadline"]) - datetime.fromisoformat(plan["started"]))
        started = datetime.now(UTC)
        return {**plan, "started": started.isoformat(), "deadline": (started + hours).isoformat()}


class WaitForSampleOperator(ModelOperator):
    """Wait, deferred (no worker slot), until both arms have their planned labelled rows, a guardrail stops the
    experiment, or the deadline passes (`triggers.experiment.ExperimentTrigger`, one look every
    `experiment.poll_minutes`). Returns `{"status": "ready" | "deadline" | "stopped", "labelled", "reason"}`.

    :param model: name of the model's config file in `include/models/` (templated).
    :param plan: the plan, clock started (templated).
    :param state_dir: the local servers' state folder (default: the target's).
    :param poll_seconds: seconds between two looks (default: `experiment.poll_minutes`).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "plan")
    template_fields_renderers = {"plan": "json"}

    def __init__(self, *, plan: Any, state_dir: str | None = None, poll_seconds: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.state_dir = state_dir
        self.poll_seconds = poll_seconds

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config
        from mlops_provider.experiments.progress import look
        from mlops_provider.triggers.experiment import ExperimentTrigger

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
        seen = look(config.name, dict(self.plan), tracking_uri=self.hook.tracking_uri, state_dir=self.state_dir)
        if seen["stopped"]:
            return {"status": "stopped", "labelled": seen["labelled"], "reason": seen["stopped"]}
        if seen["ready"]:
            return {"status": "ready", "labelled": seen["labelled"], "reason": "planned size reached"}
        poll = self.poll_seconds or 60 * float(self.plan.get("poll_minutes") or 5)  # the config's, or the run's
        self.log.info("Model %s: labelled %s of planned %s; waiting (deferred) until %s, a look every %ss",
                      config.name, seen["labelled"], self.plan["rows"], self.plan["deadline"], poll)
        self.defer(trigger=ExperimentTrigger(model=config.name, plan=dict(self.plan),
                                             tracking_uri=self.hook.tracking_uri, poll_seconds=poll,
                                             state_dir=self.state_dir),
                   method_name="execute_complete")
        raise AssertionError("unreachable: defer raises")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException

        if not event or event.get("status") not in ("ready", "deadline", "stopped"):
            message = (event or {}).get("message", f"the experiment trigger sent no status ({event!r})")
            raise AirflowException(f"model '{self.model}': {message}")
        self.log.info("Model %s: %s (labelled %s)", self.model, event["reason"], event["labelled"])
        return {"status": event["status"], "labelled": event["labelled"], "reason": event["reason"]}


class DecideExperimentOperator(ModelOperator):
    """The verdict (`experiments.analysis.decide`): `stopped` by a guardrail, `invalid` on a sample-ratio mismatch
    or labels for one arm only, else `win`, `lose` or `inconclusive` by the plan's fixed-horizon test. The report
    goes to the task log.

    :param model: name of the model's config file in `include/models/` (templated).
    :param plan: the plan, clock started (templated).
    :param wait: the wait task's result (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "plan", "wait")
    template_fields_renderers = {"plan": "json", "wait": "json"}

    def __init__(self, *, plan: Any, wait: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.wait = wait

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config
        from mlops_provider.experiments.analysis import decide
        from mlops_provider.experiments.plan import ExperimentPlan
        from mlops_provider.experiments.progress import arm_traffic
        from mlops_provider.experiments.report import markdown_report

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
        plan = ExperimentPlan.from_dict(dict(self.plan))
        predictions, labelled = arm_traffic(config, plan)
        status = self.wait["status"]
        horizon = {"ready": "planned size", "deadline": "deadline"}.get(status, "guardrail")
        result = decide(plan, predictions, labelled, horizon=horizon,
                        stopped=self.wait["reason"] if status == "stopped" else None).to_dict()
        self.log.info("Model %s: %s: %s\n%s", config.name, result["decision"], result["reason"],
                      markdown_report(result))
        return result


class ActOnExperimentOperator(ModelOperator):
    """What the verdict asks. `win`: under the model's promotion lock, the challenger becomes champion through the
    registry's promotion path (`previous_champion` kept, alias history recorded), `challenger` is removed and the
    `x-mlops://<model>/champion` event makes `mlops_deployment` roll it out to all traffic. Anything else: the
    champion takes all traffic again, the challenger is unloaded and its alias removed. A retry never promotes
    twice: a champion already on the challenger is found, not moved; a champion moved by someone else since the
    plan is refused.

    :param model: name of the model's config file in `include/models/` (templated).
    :param result: the decide task's result (templated).
    :param state_dir: the local servers' state folder (default: the target's).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "result")
    template_fields_renderers = {"result": "json"}

    def __init__(self, *, result: Any, state_dir: str | None = None, **kwargs: Any) -> None:
        from airflow.sdk import AssetAlias

        kwargs.setdefault("outlets", [AssetAlias(EXPERIMENT_EVENTS)])
        super().__init__(**kwargs)
        self.result = result
        self.state_dir = state_dir

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
        plan, decision = self.result["plan"], self.result["decision"]
        with self.hook.fluent() as client:
            if decision == "win":
                steps = self._promote(context, config, client, plan)
            else:
                steps = self._roll_back(context, config, client, plan)
        for step in steps:
            self.log.info("Model %s: %s", config.name, step)
        return {"model": config.name, "decision": decision, "steps": steps}

    def _promote(self, context: Any, config: ModelConfig, client: Any, plan: dict[str, Any]) -> list[str]:
        from airflow.sdk import AssetAlias
        from airflow.sdk.exceptions import AirflowFailException

        from mlops_provider.assets import champion_asset
        from mlops_provider.history import delete_alias
        from mlops_provider.registry import alias_version, move_champion, promotion_lock
        from mlops_provider.tracking import CHALLENGER, CHAMPION

        actor = task_actor(context, self)
        challenger, champion = plan["challenger"], plan["champion"]
        with promotion_lock(client, config.name, owner=actor):
            now = alias_version(client, config.name, CHAMPION)
            if now == challenger:
                steps = [f"v{challenger} is already champion (a retry): not moved again"]
            elif now != champion:
                raise AirflowFailException(f"model '{config.name}': the champion moved to v{now} since the "
                                           f"experiment compared v{challenger} with v{champion}: not promoted")
            else:
                move_champion(client, config.name, challenger, actor=actor,
                              reason=f"won the A/B experiment against v{champion}: {self.result['reason']}"[:500])
                steps = [f"v{challenger} is champion, v{champion} previous_champion"]
            if alias_version(client, config.name, CHALLENGER) == challenger:
                delete_alias(client, config.name, CHALLENGER, actor=actor, reason="won the A/B experiment")
                steps.append("challenger alias removed")
        context["outlet_events"][AssetAlias(EXPERIMENT_EVENTS)].add(
            champion_asset(config.name), extra={"version": challenger, "previous_champion": champion,
                                                "reason": "experiment"})
        steps.append("champion event emitted: mlops_deployment rolls it out to all traffic")
        return steps

    def _roll_back(self, context: Any, config: ModelConfig, client: Any, plan: dict[str, Any]) -> list[str]:
        from mlops_provider.deploy.local.split import end_split, split_target
        from mlops_provider.history import delete_alias
        from mlops_provider.registry import alias_version
        from mlops_provider.tracking import CHALLENGER

        challenger, champion = plan["challenger"], plan["champion"]
        with fail_without_retry():
            target = split_target(config, tracking_uri=self.hook.tracking_uri, state_dir=self.state_dir)
            steps = end_split(target, config, keep=champion, drop=challenger)
        if alias_version(client, config.name, CHALLENGER) == challenger:
            delete_alias(client, config.name, CHALLENGER, actor=task_actor(context, self),
                         reason=f"A/B experiment: {self.result['decision']}")
            steps.append("challenger alias removed")
        steps.append(f"v{champion} stays champion")
        return steps


class RecordExperimentOperator(ModelOperator):
    """Record the verdict on both versions (`mlops.experiment.*` tags: role, DAG run, decision, reason, effect,
    interval, p-value, the whole result as JSON) and the readable report as `experiment/report.md` and
    `experiment/report.html` of the challenger's training run.

    :param model: name of the model's config file in `include/models/` (templated).
    :param result: the decide task's result (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "result")
    template_fields_renderers = {"result": "json"}

    def __init__(self, *, result: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.experiments.record import record_result

        with self.hook.fluent() as client:
            where = record_result(client, dict(self.result), dag_run_id=context["run_id"])
        self.log.info("Model %s: recorded on v%s and v%s; report at %s", self.model,
                      self.result["plan"]["champion"], self.result["plan"]["challenger"], where)
        return {"decision": self.result["decision"], "report": where}
