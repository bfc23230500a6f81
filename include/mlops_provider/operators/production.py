"""Operators of the performance monitor: measure how the served version does in production, then act on the
model's policy (alert, roll back, retrain)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.operators.base import ModelOperator, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.xcom import ProductionCheck

POLICY_ALIAS = "mlops_policy"  # the asset alias the act task emits its rollback and retrain events through
LAST_ACTION_VARIABLE = "mlops_policy_last__{model}__{action}"


class CheckProductionOperator(ModelOperator):
    """Ingest the model's labels inbox, wait (deferred, no worker slot) up to `monitor.label_wait_minutes` for
    `monitor.performance.min_labels` labelled predictions of the served version, then measure it: realized and
    estimated performance, prediction and confidence drift (`production.check_production`), judge it by the
    model's policy (`policy.decide`) and log the numbers to the version's monitoring run in MLflow.

    Returns `{"check": ProductionCheck, "verdict": Verdict.to_dict(), "monitor_run_id"}`. Nothing served yet:
    skipped.

    :param model: name of the model's config file in `include/models/` (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    :param poke_interval: seconds between two looks at the labels while deferred.
    """

    ui_color = "#e4f0d7"

    def __init__(self, *, poke_interval: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poke_interval = poke_interval

    def _config(self) -> ModelConfig:
        """The model's config, its alerts' connections checked: a policy that cannot tell anyone fails here,
        naming the file, the key and the connection, before anything is measured."""
        from mlops_provider.alerts import check_connections
        from mlops_provider.config import load_model_config

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)
            check_connections(config.alerts, source=config.source)
        return config

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from mlops_provider.exceptions import DriftError
        from mlops_provider.monitoring import served_version
        from mlops_provider.triggers.labels import LabelsTrigger, labelled_count

        config = self._config()
        with self.hook.fluent() as client:
            try:
                version, _ = served_version(client, config)
            except DriftError as err:
                raise AirflowSkipException(str(err)) from None
        policy, wait = config.monitor.performance, config.monitor.label_wait_minutes
        if policy is not None and wait > 0:
            labelled = labelled_count(config.name, version, config.monitor.window_hours)
            if labelled < policy.min_labels:
                self.log.info("Model %s v%s: %d of %d labels; waiting up to %d minutes (deferred)", config.name,
                              version, labelled, policy.min_labels, wait)
                deadline = datetime.now(UTC) + timedelta(minutes=wait)
                self.defer(trigger=LabelsTrigger(model=config.name, version=version, min_labels=policy.min_labels,
                                                 window_hours=config.monitor.window_hours,
                                                 deadline=deadline.isoformat(), poke_interval=self.poke_interval),
                           method_name="execute_complete")
        return self._measure(config)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException

        if not event or "status" not in event:
            raise AirflowException(f"model '{self.model}': the labels trigger sent no status ({event!r})")
        if event["status"] == "error":
            raise AirflowException(event.get("message", "the labels trigger failed"))
        if event["status"] == "timeout":
            self.log.warning("%s; judging what arrived", event.get("message"))
        return self._measure(self._config())

    def _measure(self, config: ModelConfig) -> dict[str, Any]:
        from mlops_provider.labels import ingest_inbox
        from mlops_provider.policy import decide
        from mlops_provider.production import check_production, log_check

        ingested = [{"file": name, **report.to_dict()} for name, report in ingest_inbox(config)]
        for item in ingested:
            self.log.info("Model %s: labels file %s: %s", config.name, item["file"], item)
        with self.hook.fluent() as client:
            with fail_without_retry():
                check = check_production(config, client, now=datetime.now(UTC), labels_report={"files": ingested})
            verdict = decide(config.monitor, check).to_dict()
            run_id = log_check(client, config, check, verdict)
        self.log.info("Model %s v%s: %d predictions, %d labelled; realized %s %s (holdout %s), estimated %s; "
                      "verdict: %s", config.name, check["version"], check["predictions"], check["labelled"],
                      check["metric"], check["realized"], check["baseline"], check["estimated"],
                      "; ".join(verdict["reasons"]))
        return {"check": check, "verdict": verdict, "monitor_run_id": run_id}


class ActOnPolicyOperator(ModelOperator):
    """Take the actions the verdict asks for, in the order of the model's `monitor.on_degradation`:

    - **alert**: through the model's `alerts` (Slack webhook, HTTP, SMTP notifiers of the official providers);
    - **rollback**: tag the degraded version with the evidence (`mlops.degraded`), move `champion` back if
      `monitor.rollback_moves_champion`, and emit `x-mlops://<model>/rollback` naming the version to go back to
      (`previous_champion`, else what served before); `mlops_deployment` runs on it;
    - **retrain**: emit `x-mlops://<model>/performance` with the evidence; `mlops_retraining` runs on it with
      reason `performance` (`drift` for prediction drift).

    Each action at most once per `monitor.cooldown_minutes` per model. A failed alert is logged and the other
    actions are still taken. Returns what was done.

    :param result: the result of `CheckProductionOperator` (templated).
    :param model: not needed: the model is read from `result`.
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("result",)
    template_fields_renderers = {"result": "json"}

    def __init__(self, *, result: Any, model: str = "", **kwargs: Any) -> None:
        from airflow.sdk import AssetAlias

        kwargs.setdefault("outlets", [AssetAlias(POLICY_ALIAS)])
        super().__init__(model=model, **kwargs)
        self.result = result

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config

        check: ProductionCheck = self.result["check"]
        verdict: dict[str, Any] = self.result["verdict"]
        with fail_without_retry():
            config = load_model_config(check["model"], check_paths=False)
        done: dict[str, Any] = {"model": config.name, "version": check["version"], "actions": {}}
        for action in verdict["actions"]:
            # an alert of a degradation is not held back by the alert of a prediction drift before it
            key = f"alert_{'degradation' if verdict['degraded'] else 'drift'}" if action == "alert" else action
            blocked = self._cooldown(config, key)
            if blocked:
                self.log.warning("Model %s: %s", config.name, blocked)
                done["actions"][action] = {"taken": False, "reason": blocked}
                continue
            outcome = getattr(self, f"_{action}")(context, config, check, verdict)
            done["actions"][action] = outcome
            if outcome.get("taken"):
                self._record(config, key)
        if not verdict["actions"]:
            self.log.info("Model %s v%s: nothing to do (%s)", config.name, check["version"],
                          "; ".join(verdict["reasons"]))
        return done

    @staticmethod
    def _cooldown(config: ModelConfig, action: str) -> str | None:
        from airflow.sdk import Variable

        from mlops_provider.cooldown import cooldown_until

        last = Variable.get(LAST_ACTION_VARIABLE.format(model=config.name, action=action), default=None)
        until = cooldown_until(last, config.monitor.cooldown_minutes, datetime.now(UTC))
        if until is None:
            return None
        return (f"{action} was taken at {last}; cooldown of {config.monitor.cooldown_minutes} minutes until "
                f"{until.isoformat(timespec='seconds')}: not again")

    @staticmethod
    def _record(config: ModelConfig, action: str) -> None:
        from airflow.sdk import Variable

        Variable.set(LAST_ACTION_VARIABLE.format(model=config.name, action=action), datetime.now(UTC).isoformat())

    def _alert(self, context: Any, config: ModelConfig, check: ProductionCheck,
               verdict: dict[str, Any]) -> dict[str, Any]:
        kind = "degradation" if verdict["degraded"] else "drift"
        sent = self._send(context, config, check, kind,
                          f"v{check['version']} {'degraded' if verdict['degraded'] else 'prediction drift'}; "
                          f"actions: {', '.join(verdict['actions'])}", "\n".join(verdict["reasons"]))
        return {"taken": sent["delivered"] > 0 and not sent["failed"], **sent}

    def _send(self, context: Any, config: ModelConfig, check: ProductionCheck, kind: str, summary: str,
              details: str, versions: dict[str, str] | None = None) -> dict[str, int]:
        from mlops_provider.operators.alerting import alert

        numbers = {"realized " + check["metric"]: check["realized"], "holdout " + check["metric"]: check["baseline"],
                   f"estimated {check['estimated_metric']}": check["estimated"],
                   "labelled rows": check["labelled"], "predictions": check["predictions"]}
        links = {"MLflow version": self.hook.model_version_url(config.name, check["version"])}
        return alert(self, context, config, kind=kind, summary=summary,
                     versions=versions or {"served": check["version"]}, numbers=numbers, links=links,
                     details=details)

    def _rollback(self, context: Any, config: ModelConfig, check: ProductionCheck,
                  verdict: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk import AssetAlias

        from mlops_provider.assets import rollback_asset
        from mlops_provider.environments import production
        from mlops_provider.registry import roll_champion_back, rollback_target
        from mlops_provider.tracking import TAG_DEGRADED

        degraded = check["version"]
        evidence = {"at": check["window_end"], "reasons": verdict["reasons"], "realized": check["realized"],
                    "estimated": check["estimated"], "labelled": check["labelled"], "metric": check["metric"]}
        with self.hook.fluent() as client:
            client.set_model_version_tag(config.name, degraded, TAG_DEGRADED, json.dumps(evidence)[:4900])
            target = rollback_target(client, config.name, degraded, production(config).key)
            if target is None:
                self.log.warning("Model %s: v%s degraded but no earlier version to roll back to", config.name,
                                 degraded)
                return {"taken": False, "reason": "no earlier version to roll back to"}
            moved = config.monitor.rollback_moves_champion and roll_champion_back(
                client, config.name, degraded=degraded, to=target, owner=f"{context['run_id']}:{self.task_id}",
                reason="; ".join(verdict["reasons"]) or f"v{degraded} degraded")
        context["outlet_events"][AssetAlias(POLICY_ALIAS)].add(
            rollback_asset(config.name), extra={"version": target, "degraded": degraded, **evidence})
        self.log.info("Model %s: rolling back from v%s to v%s (rollback event emitted)", config.name, degraded,
                      target)
        self._send(context, config, check, "rollback", f"rolling back from v{degraded} to v{target}",
                   "\n".join(verdict["reasons"]), versions={"degraded": degraded, "rolled back to": target})
        return {"taken": True, "to": target, "champion_moved": moved}

    def _retrain(self, context: Any, config: ModelConfig, check: ProductionCheck,
                 verdict: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk import AssetAlias

        from mlops_provider.assets import drift_asset, performance_asset

        extra = {"policy": "degraded" if verdict["degraded"] else "prediction_drift", "version": check["version"],
                 "metric": check["metric"], "realized": check["realized"], "estimated": check["estimated"],
                 "labelled": check["labelled"], "summary": "; ".join(verdict["reasons"])[:500]}
        asset = performance_asset(config.name) if verdict["degraded"] else drift_asset(config.name)
        context["outlet_events"][AssetAlias(POLICY_ALIAS)].add(asset, extra=extra)
        self.log.info("Model %s: retraining requested (%s)", config.name, extra["summary"])
        return {"taken": True, "reason": extra["policy"]}
