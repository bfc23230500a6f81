"""`mlops approve` and `mlops reject`: answer the promotion request of one model version over Airflow's REST API.

Exit codes: 0 answered, 1 refused (no request waits for that version, it was answered already, this user may not
answer it, or Airflow could not be reached), 2 bad input.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from mlops_provider.approval import APPROVE, COMMENT_PARAM, REJECT, request_subject
from mlops_provider.client.airflow import AirflowClient, TriggerError
from mlops_provider.client.cli import ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, _airflow_arguments, _code, _fail

VERSION = re.compile(r"^[1-9][0-9]*$")


def approve_main(argv: list[str] | None = None) -> int:
    """`mlops approve MODEL VERSION [--comment C]`."""
    return _answer(_parser(APPROVE), argv, APPROVE)


def reject_main(argv: list[str] | None = None) -> int:
    """`mlops reject MODEL VERSION --comment C`."""
    return _answer(_parser(REJECT), argv, REJECT)


def find_request(airflow: AirflowClient, model: str, version: str) -> tuple[dict[str, Any] | None,
                                                                            dict[str, Any] | None]:
    """(the request of `model` `version` that waits for an answer, else None; its newest request, else None).

    Waiting means unanswered and its task in `awaiting_input`: Airflow's API also accepts an answer for a request
    whose task has timed out or was stopped, but nothing would act on it."""
    subject = request_subject(model, version)
    found = [r for r in airflow.hitl_requests(subject=subject) if r.get("subject") == subject]
    waiting = [r for r in found if not r.get("response_received")
               and (r.get("task_instance") or {}).get("state") == "awaiting_input"]
    return (waiting[0] if waiting else None), (found[0] if found else None)


def _answer(parser: argparse.ArgumentParser, argv: list[str] | None, option: str) -> int:
    from mlops_provider.config import MODEL_NAME

    try:
        args = parser.parse_args(argv)
        if not MODEL_NAME.match(args.model):
            parser.error(f"model '{args.model}' is not a valid model name (lower-case letters, digits, _)")
        version = args.version.removeprefix("v")
        if not VERSION.match(version):
            parser.error(f"version '{args.version}' is not a version number (a registered model version, e.g. 3)")
        if option == REJECT and not (args.comment or "").strip():
            parser.error("--comment is required to reject: say why (it is recorded on the version)")
    except SystemExit as done:
        return _code(done)
    try:
        airflow = AirflowClient.from_env(args.url, args.user)
    except TriggerError as err:
        return _fail(err, EXIT_USAGE)
    verb = "approved" if option == APPROVE else "rejected"
    with airflow:
        try:
            waiting, answered = find_request(airflow, args.model, version)
            if waiting is None:
                if answered is not None and answered.get("response_received"):
                    return _fail(TriggerError(f"{args.model} v{version} was answered already: {_said(answered)}"),
                                 EXIT_FAILED)
                if answered is not None:
                    state = (answered.get("task_instance") or {}).get("state")
                    return _fail(TriggerError(f"the approval request of {args.model} v{version} no longer waits "
                                              f"(its task is {state}: timed out or stopped); nothing to answer"),
                                 EXIT_FAILED)
                return _fail(TriggerError(f"no approval request waits for {args.model} v{version} (is its run at "
                                          "the approve task, and does the model set gate.approval.required?)"),
                             EXIT_FAILED)
            ti = waiting["task_instance"]
            comment = (args.comment or "").strip()
            response = airflow.answer_hitl(ti["dag_id"], ti["dag_run_id"], ti["task_id"], chosen=[option],
                                           params_input={COMMENT_PARAM: comment} if comment else {},
                                           map_index=int(ti.get("map_index", -1)))
        except TriggerError as err:
            if err.status == 409:
                _, answered = find_request(airflow, args.model, version)
                if answered is not None and answered.get("response_received"):
                    err = TriggerError(f"{err}; {_said(answered)}", status=409)
            return _fail(err, EXIT_FAILED)
        by = (response.get("responded_by") or {}).get("name") or airflow.username
        print(f"{args.model} v{version} {verb} by {by} at {response.get('responded_at')}"
              f"{f': {comment}' if comment else ''}\n  {airflow.run_url(ti['dag_id'], ti['dag_run_id'])}")
    return EXIT_OK


def _said(request: dict[str, Any]) -> str:
    user = request.get("responded_by_user") or {}
    comment = (request.get("params_input") or {}).get(COMMENT_PARAM)
    return (f"{', '.join(request.get('chosen_options') or ['(timed out)'])} by {user.get('name') or 'nobody'} "
            f"at {request.get('responded_at')}{f' ({comment})' if comment else ''}")


def _parser(option: str) -> argparse.ArgumentParser:
    name, verb = ("approve", "Approve") if option == APPROVE else ("reject", "Reject")
    example = ("  mlops approve credit_default 7\n  mlops approve credit_default 7 --comment 'checked the slices'"
               if option == APPROVE else "  mlops reject credit_default 7 --comment 'recall on new clients too low'")
    parser = argparse.ArgumentParser(
        prog=f"mlops {name}", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"{verb} the promotion of a model version that waits at its approve task (a model with\n"
                    "gate.approval.required): found among Airflow's Required Actions over the REST API and\n"
                    f"answered '{option}'. Your user, the time and the comment are recorded on the version\n"
                    "(tags mlops.approval, mlops.approval.by, mlops.approval.comment, mlops.approval.at).",
        epilog=f"{ENVIRONMENT}\nexample:\n{example}\n\n"
               "exit codes: 0 answered, 1 refused (no request waits for that version, it was answered\n"
               "already, your user is not assigned, or Airflow did not answer), 2 bad input\n")
    parser.add_argument("model", help="a configured model name, e.g. credit_default")
    parser.add_argument("version", help="the registered version waiting for approval, e.g. 7")
    parser.add_argument("--comment", required=option == REJECT, metavar="TEXT",
                        help="why (required to reject); recorded on the version")
    _airflow_arguments(parser)
    return parser
