"""The demo's lifecycle step: `mlops lifecycle credit_default` (its archive rule: what it would archive next and
why, what it keeps and why), one archive run, and a retirement plan shown, not acted on.

Where: in `scenario.run_scenario`, after `reject_a_retraining(api)` and before the closing registry summary: by
then credit_default has several versions (the first training, the drift retraining, the REST-triggered one and the
feedback loop's), of which only the champion, previous_champion and serving_local hold aliases.

What is safe: the archive run uses the rule at 0 days (in memory; the config file keeps its 30), so every
version holding no alias is archived now: tagged `mlops.lifecycle.archived` and unloaded from the model server
if it still held one. Aliases of every kind protect a version, so the champion, previous_champion, what serves
and any challenger stay. The retirement plan (dated from today, replaced by breast_cancer only to name a
configured model) is rendered from memory: nothing is recorded, no phase acts.

Prints: the `mlops lifecycle` report before, the versions archived with what was removed, the report after
(`archived:` lists them), the plan with each phase's date and state; one summary step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops_provider.demo.processes import MLFLOW_URL, log, mlflow_client
from mlops_provider.demo.summary import step

MODEL = "credit_default"


def _show(title: str, text: str) -> None:
    log(title)
    for line in text.splitlines():
        log(f"  {line}")


def lifecycle_demo() -> None:
    """Show `mlops lifecycle credit_default`, archive what no alias holds, show a retirement plan (see the module
    docstring)."""
    from mlops_provider.client.lifecycle import build_report, render
    from mlops_provider.config import load_model_config
    from mlops_provider.lifecycle.archive import apply_archive_rule
    from mlops_provider.lifecycle.options import LifecycleConfig, RetirementPlan
    from mlops_provider.lifecycle.serving import every_environment

    client = mlflow_client()
    config = load_model_config(MODEL, check_paths=False)
    _show(f"mlops lifecycle {MODEL}:", render(build_report(client, config)))

    now = config.model_copy(update={"lifecycle": LifecycleConfig(archive_after_days=0)})
    outcome = apply_archive_rule(client, now, serving=every_environment(now))
    for version, removed in outcome.archived.items():
        log(f"archived {MODEL} v{version}: {'; '.join(removed) or 'nothing served it'}")
    _show(f"mlops lifecycle {MODEL} after one archive run (archive_after_days: 0):",
          render(build_report(client, now)))

    today = datetime.now(UTC).date()
    phases = [{"phase": "deprecate", "on": today + timedelta(days=7), "message": "credit_default is retired"},
              {"phase": "reduce_traffic", "on": today + timedelta(days=14), "traffic_percent": 50},
              {"phase": "reduce_traffic", "on": today + timedelta(days=21), "traffic_percent": 10},
              {"phase": "migrate", "on": today + timedelta(days=28)},
              {"phase": "stop", "on": today + timedelta(days=35)}]
    plan = RetirementPlan.model_validate({"replaced_by": "breast_cancer", "phases": phases})
    planned = config.model_copy(update={"lifecycle": LifecycleConfig(retirement=plan)})
    text = render(build_report(client, planned))
    _show("a retirement plan for it, shown and not recorded (lifecycle.retirement):",
          text[text.index("retirement plan"):])
    kept = ", ".join(f"v{v} ({why})" for v, why in build_report(client, now)["kept"].items()
                     if "archived" not in why)
    step(f"lifecycle {MODEL}", f"archived {', '.join('v' + v for v in outcome.archived) or 'nothing'}; kept {kept}",
         f"{MLFLOW_URL}/#/models/{MODEL}")
