"""What the demo did: every step with its outcome and where to see it, the registry per model, the addresses."""

from __future__ import annotations

from mlops_provider.demo.processes import AIRFLOW_URL, MLFLOW_URL, PASSWORD, USER, log, mlflow_client
from mlops_provider.tracking import CHAMPION

STEPS: list[tuple[str, str, str]] = []  # (step, outcome, where to see it), printed at the end


def step(name: str, outcome: str, where: str = "") -> None:
    STEPS.append((name, outcome, where))
    log(f"{name}: {outcome}" + (f"  [{where}]" if where else ""))


def registry_summary() -> list[str]:
    """One line per configured model: champion version, its score, and the newest version's decision."""
    from mlops_provider.config import load_model_config
    from mlops_provider.environments import production
    from mlops_provider.settings import model_names

    client = mlflow_client()
    lines = []
    for model in model_names():
        versions = client.search_model_versions(f"name = '{model}'")
        if not versions:
            lines.append(f"{model}: no version registered")
            continue
        aliases = client.get_registered_model(model).aliases
        newest = max(versions, key=lambda v: int(v.version))
        champion = aliases.get(CHAMPION)
        tags = newest.tags
        score = tags.get("mlops.score.candidate")
        gate = (f" {tags.get('mlops.metric', 'score')}={float(score):.4f} {tags.get('mlops.decision', '?')}"
                if score else " (not from a training run)")
        serving = aliases.get(production(load_model_config(model, check_paths=False)).alias)
        lines.append(
            f"{model}: {len(versions)} version(s); newest v{newest.version} (reason {tags.get('mlops.reason', '?')})"
            f"{gate} -> champion is {'v' + champion if champion else 'none'}"
            + (f", serving v{serving}" if serving else "") + f" ({MLFLOW_URL}/#/models/{model})"
        )
    return lines


def latest_drift_report(model: str) -> str:
    """The MLflow URL of the newest drift report of `model` (empty if there is none)."""
    client = mlflow_client()
    experiment = client.get_experiment_by_name(f"mlops/{model}")
    if experiment is None:
        return ""
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mlops.stage` = 'drift'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return ""
    return (f"{MLFLOW_URL}/#/experiments/{experiment.experiment_id}/runs/{runs[0].info.run_id}"
            "/artifacts/drift/drift_report.html")


def print_summary() -> None:
    print("\n  What happened:")
    for name, outcome, where in STEPS:
        print(f"  - {name}: {outcome}" + (f"\n      {where}" if where else ""))
    print_access()


def print_access() -> None:
    print(f"""
  Airflow UI: {AIRFLOW_URL}   (login {USER} / {PASSWORD})
  MLflow UI:  {MLFLOW_URL}
  Model servers: .demo/serving/<model>.json (port; POST /invocations)
  Logs:       .demo/logs/        Stop with: make stop
""", flush=True)
