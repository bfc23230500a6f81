"""The demo's A/B experiment: credit_default's champion against another version, on labelled demo traffic.

Where in `scenario.run_scenario` it runs: after `feedback_loop(api)` (credit_default then has a champion and a
`previous_champion` on its local server, and the world of the traffic is the concept-drifted one the champion was
retrained on) and before `broken_candidate(...)`: `ab_experiment(api)`.

What it does: triggers `mlops_experiment` over REST with Params (the model, the challenger version, overrides),
waits for the split to be in place, sends labelled traffic whose requests carry `x-routing-key` (one key per
simulated customer, sticky to one arm) and drops the labels in the model's labels inbox, until the run ends; then
prints the arm sizes, the metric per arm, the interval, the p-value and the decision (`step` lines).

Why these numbers: credit_default's champion has a holdout roc_auc of about 0.78 at a default rate of about 25%,
so Hanley-McNeil puts one row's AUC variance near 0.34. A 50/50 split needs the fewest rows for a given power
(1/p + 1/(1-p) is smallest at p = 0.5: a 10% arm would need 2.8 times as many), and a minimum detectable effect of
0.06 roc_auc at alpha 0.05 and power 0.8 then needs about 3,000 labelled rows: 1-2 minutes of the demo's traffic
(about 30-50 rows a second through the local server on the demo's two busy cores). A smaller effect quadruples
per halving (0.03 -> ~12,000 rows), too long for a demo; 0.06 is large for production, and `docs/experiments.md`
says so. The deadline is an hour: the plan refuses a deadline the model's recent labelled traffic could not meet
(the feedback loop's labels, a few thousand an hour in the demo), and the demo stops waiting after 15 minutes.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from mlops_provider.serving.headers import PIN_HEADER, ROUTING_KEY_HEADER

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient

MODEL = "credit_default"
OVERRIDES = {"challenger_percent": 50, "champion_percent": 50, "minimum_detectable_effect": 0.06, "alpha": 0.05,
             "power": 0.8, "deadline_hours": 1, "metric": "roc_auc",
             "poll_minutes": 0.25}  # look every 15 s: the demo waits for the verdict, not for a 5-minute poll
ROWS_PER_CUSTOMER = 5  # one request per simulated customer (its routing key), this many applications in it


def send_keyed_traffic(model: str, *, tracking_uri: str, rows: int, seed: int, drift: float = 0.0,
                       concept: float = 0.0, state_dir: str | None = None, tag: str = "ab") -> dict[str, Any]:
    """Send `rows` labelled applications to the model's running local server, `ROWS_PER_CUSTOMER` per request,
    each request with its own `x-routing-key` (a simulated customer id); flush the server's inference log and
    drop the true labels in the model's labels inbox. Returns `{"rows", "by_version", "labels"}`."""
    import httpx
    import pandas as pd

    from mlops_provider.config import load_model_config
    from mlops_provider.demo.traffic import requests_for
    from mlops_provider.deploy.local import LocalTarget
    from mlops_provider.deploy.smoke import split_payload
    from mlops_provider.inference_log import write_atomically
    from mlops_provider.labels import EVENT_TIME_COLUMN, ID_COLUMN, INBOX, LABEL_COLUMN, labels_path

    config = load_model_config(model, check_paths=False)
    server = LocalTarget(tracking_uri=tracking_uri, state_dir=state_dir).running(model)
    if server is None:
        raise RuntimeError(f"model '{model}': no local server runs it; deploy it first")
    frame = requests_for(config, rows, drift=drift, seed=seed, concept=concept, with_target=True)
    features = frame.drop(columns=[config.target])
    ids: list[str] = []
    by_version: dict[str, int] = {}
    with httpx.Client(timeout=60, trust_env=False) as http:
        for begin in range(0, rows, ROWS_PER_CUSTOMER):
            chunk = features.iloc[begin:begin + ROWS_PER_CUSTOMER]
            answer = http.post(f"{server.url}/invocations", json=split_payload(chunk),
                               headers={ROUTING_KEY_HEADER: f"customer-{seed}-{begin // ROWS_PER_CUSTOMER}"})
            if answer.status_code != 200:
                raise RuntimeError(f"model '{model}': the server answered {answer.status_code}: {answer.text[:300]}")
            served = answer.headers.get(PIN_HEADER, "?")
            by_version[served] = by_version.get(served, 0) + len(chunk)
            ids += answer.json()["metadata"]["prediction_ids"]
        http.post(f"{server.admin_url}/admin/flush").raise_for_status()
    if len(ids) != rows:
        raise RuntimeError(f"model '{model}': {len(ids)} prediction ids for {rows} rows: the answers lost rows")
    labels = pd.DataFrame({ID_COLUMN: ids, LABEL_COLUMN: frame[config.target].to_list(),
                           EVENT_TIME_COLUMN: pd.Timestamp.now(tz="UTC").isoformat()}).to_csv(index=False).encode()
    # written whole under a hidden name, then renamed: the waiting trigger ingests the inbox at any moment
    name = f"{tag}-{seed}-{uuid.uuid4().hex[:8]}.csv"
    write_atomically(labels_path(config, INBOX), name, lambda handle: handle.write(labels))
    return {"rows": len(ids), "by_version": by_version, "labels": f"{INBOX}/{name}"}


def _split_in_place(model: str, tracking_uri: str, versions: set[str]) -> bool:
    from mlops_provider.deploy.local import LocalTarget

    target = LocalTarget(tracking_uri=tracking_uri)
    server = target.running(model)
    if server is None:
        return False
    state = target.admin.status(server)
    live = {str(v) for v, w in state["weights"].items() if w}
    return state.get("routing") == "hash" and live == versions


def ab_experiment(api: AirflowClient, *, timeout: float = 900) -> None:
    """Run one A/B experiment of credit_default to a verdict and print it (module docstring)."""
    import json

    from mlops_provider.demo.processes import MLFLOW_URL, DemoError, log, mlflow_client
    from mlops_provider.demo.runs import finished
    from mlops_provider.demo.summary import step
    from mlops_provider.tracking import CHAMPION, PREVIOUS, TAG_EXPERIMENT_RESULT

    aliases = mlflow_client().get_registered_model(MODEL).aliases
    champion, challenger = aliases.get(CHAMPION), aliases.get(PREVIOUS)
    if champion is None or challenger is None or champion == challenger:
        raise DemoError(f"{MODEL}: the A/B experiment needs a champion and a previous_champion ({aliases})")
    api.unpause("mlops_experiment")
    run_id = f"demo__ab__{time.strftime('%Y%m%dT%H%M%S')}"
    conf = {"model": MODEL, "challenger": str(challenger), "overrides": OVERRIDES}
    api.trigger("mlops_experiment", conf, dag_run_id=run_id)
    log(f"triggered mlops_experiment {run_id}: v{challenger} (challenger) against v{champion} (champion), {conf}")
    deadline = time.monotonic() + timeout
    while not _split_in_place(MODEL, MLFLOW_URL, {str(champion), str(challenger)}):
        if api.get_run("mlops_experiment", run_id)["state"] in ("failed", "success"):
            break  # refused at the plan or the split: `finished` below says so
        if time.monotonic() > deadline:
            raise DemoError(f"mlops_experiment {run_id}: the split was not in place after {timeout:.0f}s")
        time.sleep(2)
    time.sleep(1)  # rows logged before the plan's clock started do not count
    sent, seed = 0, int(time.time()) % 10_000
    while api.get_run("mlops_experiment", run_id)["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise DemoError(f"mlops_experiment {run_id} did not finish in {timeout:.0f}s")
        batch = send_keyed_traffic(MODEL, tracking_uri=MLFLOW_URL, rows=500, seed=seed, concept=1.0, drift=0.8)
        sent, seed = sent + batch["rows"], seed + 1
        log(f"sent {sent} labelled requests with routing keys so far ({batch['by_version']} in the last batch)")
    run = finished(api, "mlops_experiment", api.get_run("mlops_experiment", run_id), "A/B experiment to a verdict")
    result = json.loads(mlflow_client().get_model_version(MODEL, str(challenger)).tags[TAG_EXPERIMENT_RESULT])
    arms, comparison = result["arms"], result.get("comparison") or {}
    for arm in ("champion", "challenger"):
        value = arms[arm]["value"]
        step(f"A/B {arm} v{arms[arm]['version']}", f"{arms[arm]['predictions']} predictions, "
             f"{arms[arm]['labelled']} labelled (planned {arms[arm]['planned']}), roc_auc "
             + ("n/a" if value is None else f"{value:.3f}"))
    if comparison:
        step("A/B effect (challenger - champion)", f"{comparison['effect']:+.3f} roc_auc, "
             f"{comparison['confidence']:.0%} interval [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}], "
             f"p = {comparison['p_value']:.3g}")
    step("A/B decision", f"{result['decision']}: {result['reason']}",
         api.run_url("mlops_experiment", run["dag_run_id"]))
