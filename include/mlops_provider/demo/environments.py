"""The demo's staging -> production rollout: what each environment of a model serves, and the proof of the order.

diabetes_progression has two local environments (`deploy.environments` in include/models/diabetes_progression.yaml):
`mlops_deployment` deploys its champion to staging, verifies it there (`deploy_staging`), and only then to
production (`deploy`, `verify`). `staging_rollout` prints, per environment, the version it serves, its port and its
registry alias, and checks in the alias history that the version was recorded in staging before production.

Where in the scenario: `run_scenario` in demo/scenario.py, right after the first
`deployed = await_deployments(api, deployed)` (every champion is served by then), as `staging_rollout()`. It prints
three lines and adds three summary steps, e.g.

    [demo] diabetes_progression staging: v1 at http://127.0.0.1:41231 (serving_staging), recorded 12:01:07
    [demo] diabetes_progression production: v1 at http://127.0.0.1:41007 (serving_production), recorded 12:01:19
    [demo] staging -> production rollout of diabetes_progression: v1 served and verified in staging first
"""

from __future__ import annotations

from mlops_provider.demo.processes import MLFLOW_URL, DemoError, mlflow_client
from mlops_provider.demo.summary import step

MODEL = "diabetes_progression"  # the demo model with a staging environment


def staging_rollout(model: str = MODEL) -> None:
    """Print what each environment of `model` serves (version, address, alias, when it was recorded); raise
    `DemoError` unless production serves the version staging served first."""
    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.local import LocalTarget
    from mlops_provider.environments import environments
    from mlops_provider.history import read_history

    client = mlflow_client()
    config = load_model_config(model, check_paths=False)
    found = environments(config)
    if len(found) < 2:
        raise DemoError(f"{model} has no environment before production (deploy.environments in its config)")
    aliases = client.get_registered_model(model).aliases
    history = read_history(client, model)
    recorded: dict[str, str] = {}
    for env in found:
        version = aliases.get(env.alias)
        # the time the alias last moved to this version: staging's must come first
        recorded[env.name] = max((e.at for e in history if e.alias == env.alias and e.to == version), default="")
        server = LocalTarget(tracking_uri=MLFLOW_URL, environment=env).running(model)
        where = server.url if server else "(no server runs)"
        step(f"{model} {env.name}", f"v{version} at {where} ({env.alias}), recorded {recorded[env.name][11:19]}",
             f"{where}/invocations" if server else f"{MLFLOW_URL}/#/models/{model}")
    staging, production = found[-2], found[-1]
    served = aliases.get(production.alias)
    first = served is not None and aliases.get(staging.alias) == served \
        and "" < recorded[staging.name] <= recorded[production.name]
    outcome = (f"v{served} served and verified in {staging.name} first" if first
               else f"NOT in order: {staging.name} v{aliases.get(staging.alias)}, production v{served}")
    step(f"staging -> production rollout of {model}", outcome, f"{MLFLOW_URL}/#/models/{model}")
    if not first:
        raise DemoError(f"{model}: production serves v{served} without it having served in {staging.name} first")
