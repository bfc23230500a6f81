"""The operator that asks a person to sign off a promotion (`gate.approval`), on Airflow's human-in-the-loop
ApprovalOperator: the request appears in the UI's Required Actions and in the HITL REST API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param

from mlops_provider.approval import APPROVE, APPROVED, COMMENT_PARAM, REJECT, REJECTED, TIMED_OUT
from mlops_provider.links import MLflowModelVersionLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.xcom import Approval

assert (ApprovalOperator.APPROVE, ApprovalOperator.REJECT) == (APPROVE, REJECT), "Airflow renamed the options"


class ApproveModelOperator(ModelOperator, ApprovalOperator):
    """Wait for a person to approve or reject the registered candidate before `promote` moves the alias.

    The model's `gate.approval` decides at run time: without `required` the task returns at once (so one DAG can
    serve models with and without approval), and so it does for a candidate the gate refuses (promote records
    the refusal). Otherwise the task writes the request (subject, Markdown body,
    `assigned_to` as Airflow's `assigned_users`) and waits in Airflow's `awaiting_input` state, which holds no
    worker slot, for at most `timeout_hours`.

    - Approve: the version gets `mlops.approval=approved` and who; `promote` runs.
    - Reject: the version gets `rejected`, who and the comment; `promote` is skipped, `champion` stays.
    - No answer in time: the version gets `timed_out` and the task fails without retry (nobody decided, so the
      run says so); `promote` does not run.

    :param model: name of the model's config file in `include/models/` (templated).
    :param registration: the result of `RegisterModelOperator` (templated).
    :param evaluation: the result of `EvaluateModelOperator` (templated).
    :param training: the result of `TrainModelOperator`: data digest, sources, validation verdict (templated).
    :param validation: the result of `ValidateDataOperator`: its message and Data Docs link (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "registration", "evaluation", "training", "validation", "subject", "body")
    template_fields_renderers = {"registration": "json", "evaluation": "json", "training": "json",
                                 "validation": "json", "body": "md"}
    operator_extra_links = (MLflowModelVersionLink(),)
    ui_color = "#fdf2c4"

    def __init__(self, *, registration: Any, evaluation: Any, training: Any = None, validation: Any = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Promote the candidate to champion?")  # the real one is set at run time
        # An explicit response timeout, replaced by the model's at run time: without one, HITLOperator would turn
        # the DAG's execution_timeout (minutes) into the time a person has to answer.
        kwargs.setdefault("response_timeout", timedelta(hours=24))
        kwargs.setdefault("params", {COMMENT_PARAM: Param(None, type=["null", "string"], title="Comment",
                                                          description="Why (recorded on the model version)")})
        super().__init__(**kwargs)
        self.registration = registration
        self.evaluation = evaluation
        self.training = training
        self.validation = validation

    def execute(self, context: Any) -> Approval | None:
        from mlops_provider.approval import request_body, request_subject

        with fail_without_retry():
            config = self.load_config()
        version = str(self.registration["version"])
        approval = config.gate.approval
        if not approval.required:
            self.log.info("Model %s does not require approval (gate.approval.required is false)", config.name)
            return self._result(config.name, version, "not_required")
        from mlops_provider.operators.registry import gate_decision

        verdict = gate_decision(config, self.evaluation)
        if not verdict.promote:  # promote records the refusal, as without approval; nobody is asked in vain
            self.log.warning("%s v%s does not pass the gate (%s): no approval asked", config.name, version,
                             verdict.reason)
            return self._result(config.name, version, "not_asked", comment=verdict.reason)
        from mlops_provider.gate import criteria_table
        from mlops_provider.registry import record_criteria

        url = self.hook.model_version_url(config.name, version)
        MLflowModelVersionLink.persist(context, url)
        record_criteria(self.hook.get_conn(), config.name, version, self.evaluation)
        if self.evaluation.get("criteria"):
            self.log.info("Criteria of %s v%s, as the person sees them:\n%s", config.name, version,
                          criteria_table(self.evaluation["criteria"]))
        self.subject = request_subject(config.name, version)
        self.body = request_body(model=config.name, version=version, evaluation=self.evaluation,
                                 training=self.training, validation=self.validation, links=self._links(url))
        self.assigned_users = [{"id": user, "name": user} for user in approval.assigned_to] or None
        self.response_timeout = timedelta(hours=approval.timeout_hours)
        self.log.info("Waiting up to %s h for %s to approve %s v%s (Required Actions, or `mlops approve %s %s`)",
                      approval.timeout_hours, ", ".join(approval.assigned_to) or "anyone allowed", config.name,
                      version, config.name, version)
        self._mark_pending(config.name, version)
        super().execute(context)  # parks the task in awaiting_input; resumes in execute_complete
        return None

    def _mark_pending(self, model: str, version: str) -> None:
        """Tag the version `mlops.approval=pending` (the Models page and `mlops models` list it); the answer
        overwrites the tag."""
        from mlops_provider.tracking import TAG_APPROVAL, TAG_APPROVAL_AT

        client = self.hook.get_conn()
        client.set_model_version_tag(model, version, TAG_APPROVAL, "pending")
        client.set_model_version_tag(model, version, TAG_APPROVAL_AT, _now())

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Approval:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops_provider.approval import record_answer, responder
        from mlops_provider.operators.passport import write_passport_safely  # promote will not run to write it
        from mlops_provider.registry import record_refusal

        model, version = str(self.model), str(self.registration["version"])
        client = self.hook.get_conn()
        if event.get("error_type") == "timeout":
            hours = self.response_timeout.total_seconds() / 3600 if self.response_timeout else None
            why = f"no answer within {hours:g} h" if hours else "no answer in time"
            record_answer(client, model, version, decision=TIMED_OUT, by=None, comment=why, at=_now())
            record_refusal(client, model, version, f"not approved: {why}")
            write_passport_safely(self, context, model, version)
            raise AirflowFailException(f"{model} v{version} was not promoted: {why}; champion unchanged")
        chosen = (event.get("chosen_options") or [None])[0]
        by = responder(event.get("responded_by_user"))
        comment = (event.get("params_input") or {}).get(COMMENT_PARAM) or None
        at = event["responded_at"].isoformat() if isinstance(event.get("responded_at"), datetime) else _now()
        decision = APPROVED if chosen == APPROVE else REJECTED
        # everything is recorded before Airflow's part: on Reject it skips promote by raising
        # (DownstreamTasksSkipped), so nothing after it runs
        record_answer(client, model, version, decision=decision, by=by, comment=comment, at=at)
        if decision == REJECTED:
            record_refusal(client, model, version, f"rejected by {by or 'someone'}: {comment or 'no comment'}")
            write_passport_safely(self, context, model, version)
            self.log.warning("%s v%s rejected by %s: %s. Champion unchanged.", model, version, by,
                             comment or "no comment")
        else:
            self.log.info("%s v%s approved by %s%s", model, version, by, f": {comment}" if comment else "")
        super().execute_complete(context, event)  # validates the answer; on Reject skips promote (raises)
        return self._result(model, version, decision, by=by, comment=comment, at=at)

    def _links(self, version_url: str) -> dict[str, str]:
        links = {"MLflow version": version_url}
        training = self.training or {}
        if training.get("experiment_id") and training.get("run_id"):
            links["training run"] = self.hook.run_url(training["experiment_id"], training["run_id"])
        if (self.validation or {}).get("data_docs_url"):
            links["validation report (Data Docs)"] = self.validation["data_docs_url"]
        return links

    @staticmethod
    def _result(model: str, version: str, decision: str, *, by: str | None = None, comment: str | None = None,
                at: str | None = None) -> Approval:
        return {"model": model, "version": version, "decision": decision, "by": by, "comment": comment, "at": at}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
