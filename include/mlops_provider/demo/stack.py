"""The local demo stack behind `make demo`: MLflow (SQLite) and `airflow standalone` under `.demo/`.

`up` starts both in the background (logs in `.demo/logs/`), applies `airflow_settings.yaml`, writes the demo
data, then drives the whole loop through the real scheduler: `mlops_training` promotes a champion per model,
`mlops_deployment` serves each on a local model server (`.demo/serving/`), demo traffic goes through those
servers into the inference logs, `mlops_drift_monitor` finds the drift and starts `mlops_retraining`, a monitor
outside Airflow asks for a retraining over the REST API (`mlops trigger`), the new champions roll out with
their configured strategy, and a deliberately slow candidate is refused and rolled back. It ends with a
summary of every step, its outcome and where to see it. `down` stops everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops_provider.settings import PROJECT_DIR

DEMO_DIR = PROJECT_DIR / ".demo"
LOGS = DEMO_DIR / "logs"
AIRFLOW_HOME = DEMO_DIR / "airflow"
DATA_DIR = DEMO_DIR / "data"
AIRFLOW_PORT = int(os.environ.get("MLOPS_DEMO_AIRFLOW_PORT", "8080"))
MLFLOW_PORT = int(os.environ.get("MLOPS_DEMO_MLFLOW_PORT", "5000"))
AIRFLOW_URL = f"http://127.0.0.1:{AIRFLOW_PORT}"
MLFLOW_URL = f"http://127.0.0.1:{MLFLOW_PORT}"
USER, PASSWORD = "admin", "admin"
BIN = Path(sys.executable).parent


STEPS: list[tuple[str, str, str]] = []  # (step, outcome, where to see it), printed at the end


def _step(step: str, outcome: str, where: str = "") -> None:
    STEPS.append((step, outcome, where))
    _log(f"{step}: {outcome}" + (f"  [{where}]" if where else ""))


def run_url(dag_id: str, run_id: str) -> str:
    from urllib.parse import quote

    return f"{AIRFLOW_URL}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__API__BASE_URL": AIRFLOW_URL,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        "MLOPS_DATA_DIR": str(DATA_DIR),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_file(name: str) -> Path:
    return DEMO_DIR / f"{name}.pid"


def _running(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    pid = int(path.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink()
        return None
    return pid


def _start(name: str, cmd: list[str], port: int) -> None:
    if _running(name):
        _log(f"{name} already running (pid {_running(name)})")
        return
    if _port_open(port):
        raise DemoError(f"port {port} is taken by another program; stop it or set "
                        f"MLOPS_DEMO_{name.upper()}_PORT")
    log = LOGS / f"{name}.log"
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=demo_env(), cwd=PROJECT_DIR,
                                start_new_session=True)
    _pid_file(name).write_text(str(proc.pid))
    _log(f"started {name} (pid {proc.pid}), log {log.relative_to(PROJECT_DIR)}")


def _wait_http(url: str, name: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(name):
            raise DemoError(f"{name} exited; see .demo/logs/{name}.log")
        try:
            if httpx.get(url, timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise DemoError(f"{name} did not answer {url} within {timeout:.0f}s; see .demo/logs/{name}.log")


def _run(step: str, cmd: list[str]) -> None:
    log = LOGS / f"{step}.log"
    with log.open("a") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=demo_env(), cwd=PROJECT_DIR)
    if result.returncode:
        raise DemoError(f"{step} failed (exit {result.returncode}); see {log.relative_to(PROJECT_DIR)}")


class AirflowApi:
    """The few REST calls the demo makes, with the SimpleAuthManager login."""

    def __init__(self, base: str) -> None:
        import httpx

        token = httpx.post(f"{base}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        token.raise_for_status()
        self.http = httpx.Client(base_url=f"{base}/api/v2", timeout=30,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise DemoError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http.get(f"/dags/{dag_id}").status_code == 200:
                return
            time.sleep(2)
        errors = self.http.get("/importErrors").text[:1000]
        raise DemoError(f"DAG {dag_id} did not appear within {timeout:.0f}s; import errors: {errors}")

    def run_dag(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 1200) -> dict[str, Any]:
        """Unpause, trigger, and wait for the run to finish; returns the final DAG run."""
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
        self.call("POST", f"/dags/{dag_id}/dagRuns",
                  json={"logical_date": None, "dag_run_id": run_id, "conf": conf or {}})
        _log(f"triggered {dag_id} run {run_id}; waiting for the scheduler to run it")
        return self.wait_run(dag_id, run_id, timeout)

    def follow_schedule(self, dag_id: str, timeout: float = 1200, grace: float = 30) -> dict[str, Any]:
        """Unpause: a cron DAG then starts its latest slot by itself; follow that run (or, if none starts within
        `grace` seconds, trigger one). One run, not two, so the machine trains each model once."""
        before = self.run_ids(dag_id)
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            new = sorted(self.run_ids(dag_id) - before)
            if new:
                _log(f"unpaused {dag_id}: the scheduler started its latest slot, run {new[0]}; following it")
                return self.wait_run(dag_id, new[0], timeout)
            time.sleep(2)
        return self.run_dag(dag_id, timeout=timeout)

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return dict(run)
            time.sleep(5)
        raise DemoError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s")

    def run_ids(self, dag_id: str) -> set[str]:
        return {run["dag_run_id"] for run in self.call("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        items = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {item["task_id"]: item["state"] for item in items}


def registry_summary() -> list[str]:
    """One line per configured model: champion version, its score, and the newest version's decision."""
    from mlflow import MlflowClient

    from mlops_provider.settings import model_names

    client = MlflowClient(tracking_uri=MLFLOW_URL, registry_uri=MLFLOW_URL)
    lines = []
    for model in model_names():
        versions = client.search_model_versions(f"name = '{model}'")
        if not versions:
            lines.append(f"{model}: no version registered")
            continue
        aliases = client.get_registered_model(model).aliases
        newest = max(versions, key=lambda v: int(v.version))
        champion = aliases.get("champion")
        tags = newest.tags
        score = tags.get("mlops.score.candidate")
        gate = (f" {tags.get('mlops.metric', 'score')}={float(score):.4f} {tags.get('mlops.decision', '?')}"
                if score else " (not from a training run)")
        serving = aliases.get("serving_local")
        lines.append(
            f"{model}: {len(versions)} version(s); newest v{newest.version} (reason {tags.get('mlops.reason', '?')})"
            f"{gate} -> champion is {'v' + champion if champion else 'none'}"
            + (f", serving v{serving}" if serving else "") + f" ({MLFLOW_URL}/#/models/{model})"
        )
    return lines


def up() -> int:
    for folder in (LOGS, AIRFLOW_HOME, DATA_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    (AIRFLOW_HOME / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    try:
        if not (DATA_DIR / "credit_default" / "train.parquet").exists():
            _run("demo-data", [str(BIN / "mlops"), "demo-data", "--data-dir", str(DATA_DIR)])
            _log(f"wrote demo data to {DATA_DIR.relative_to(PROJECT_DIR)}")
        _start("mlflow", [str(BIN / "mlflow"), "server", "--backend-store-uri",
                          f"sqlite:///{DEMO_DIR / 'mlflow.db'}", "--artifacts-destination",
                          str(DEMO_DIR / "mlartifacts"), "--host", "127.0.0.1", "--port", str(MLFLOW_PORT),
                          "--workers", "1"], MLFLOW_PORT)
        _run("airflow-db-migrate", [str(BIN / "airflow"), "db", "migrate"])
        _run("settings-apply", [str(BIN / "mlops"), "settings", "apply", str(PROJECT_DIR / "airflow_settings.yaml")])
        _log("applied airflow_settings.yaml (connection mlflow_default)")
        _start("airflow", [str(BIN / "airflow"), "standalone"], AIRFLOW_PORT)
        _wait_http(f"{MLFLOW_URL}/health", "mlflow", 180)
        _wait_http(f"{AIRFLOW_URL}/api/v2/monitor/health", "airflow", 300)
        _log("MLflow and Airflow are up")
        api = AirflowApi(AIRFLOW_URL)
        api.wait_for_dag("mlops_training", 300)
        api.wait_for_dag("mlops_deployment", 120)
        api.call("PATCH", "/dags/mlops_deployment", json={"is_paused": False})  # champions deploy on their own
        deployed = api.run_ids("mlops_deployment")
        _finished(api, "mlops_training", api.follow_schedule("mlops_training"), "train, gate and promote both models")
        for line in registry_summary():
            _log(line)
        deployed = await_deployments(api, deployed)
        drift_loop(api)
        rest_trigger()
        deployed = await_deployments(api, deployed)
        broken_candidate(api, "breast_cancer")
        for line in registry_summary():
            model, _, rest = line.partition(": ")
            _step(f"registry {model}", rest.split(" (http")[0], f"{MLFLOW_URL}/#/models/{model}")
    except DemoError as err:
        _step("demo", f"FAILED: {err}")
        _print_summary()
        return 1
    _print_summary()
    return 0


def _finished(api: AirflowApi, dag_id: str, run: dict[str, Any], what: str) -> dict[str, Any]:
    _step(f"{dag_id}: {what}", run["state"], run_url(dag_id, run["dag_run_id"]))
    if run["state"] != "success":
        for task, state in sorted(api.task_states(dag_id, run["dag_run_id"]).items()):
            _log(f"  {task}: {state}")
        raise DemoError(f"{dag_id} failed; open the run in the Airflow UI for the task logs")
    return run


def drift_loop(api: AirflowApi) -> None:
    """Calm traffic for breast_cancer, drifted traffic for credit_default; the monitor finds the drift,
    emits the drift event, and the scheduler starts mlops_retraining on it."""
    mlops = str(BIN / "mlops")
    _run("demo-traffic", [mlops, "demo-traffic", "breast_cancer", "--rows", "300", "--tracking-uri", MLFLOW_URL])
    _run("demo-traffic", [mlops, "demo-traffic", "credit_default", "--rows", "600", "--drift", "0.8",
                          "--seed", str(int(time.time()) % 1000), "--tracking-uri", MLFLOW_URL])
    _log("sent demo traffic: 300 calm requests to breast_cancer, 600 drifted requests to credit_default")
    before = {r["dag_run_id"] for r in api.call("GET", "/dags/mlops_retraining/dagRuns")["dag_runs"]}
    api.call("PATCH", "/dags/mlops_retraining", json={"is_paused": False})
    _finished(api, "mlops_drift_monitor", api.run_dag("mlops_drift_monitor"), "detect drift, report, emit event")
    report = latest_drift_report("credit_default")
    _step("drift report (Evidently) for credit_default", "logged to MLflow", report)
    _log("waiting for the drift event to start mlops_retraining")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = [r for r in api.call("GET", "/dags/mlops_retraining/dagRuns")["dag_runs"]
                if r["dag_run_id"] not in before]
        if runs:
            _finished(api, "mlops_retraining", api.wait_run("mlops_retraining", runs[0]["dag_run_id"], 1200),
                      "retrain credit_default on the drift event")
            return
        time.sleep(3)
    raise DemoError("no mlops_retraining run started within 180s of the drift event "
                    "(was drift found? see the emit_drift_event task of mlops_drift_monitor)")


def rest_trigger() -> None:
    """What a monitor outside Airflow does: `mlops trigger` over the REST API, following the run."""
    cmd = [str(BIN / "mlops"), "trigger", "breast_cancer", "--reason", "performance", "--requested-by",
           "demo-monitor", "--wait", "--timeout", "900", "--url", AIRFLOW_URL, "--user", USER]
    log = LOGS / "mlops-trigger.log"
    with log.open("a") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_DIR,
                                env={**demo_env(), "MLOPS_AIRFLOW_PASSWORD": PASSWORD})
    last = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
    _step("mlops trigger breast_cancer --reason performance (REST)",
          "success" if result.returncode == 0 else f"FAILED (exit {result.returncode}): {last[0]}",
          f"{AIRFLOW_URL}/dags/mlops_retraining")
    if result.returncode:
        raise DemoError(f"mlops trigger failed; see {log.relative_to(PROJECT_DIR)}")


def _registry() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=MLFLOW_URL, registry_uri=MLFLOW_URL)


def await_deployments(api: AirflowApi, seen: set[str], timeout: float = 600) -> set[str]:
    """Wait until every model's champion is what its local server serves (`serving_local`), deployed by the
    mlops_deployment runs the champion events started; report each new run. Returns the run ids seen."""
    from mlops_provider.config import load_model_config
    from mlops_provider.settings import model_names

    client = _registry()
    deadline = time.monotonic() + timeout
    _log("waiting for mlops_deployment to serve each champion")
    while True:
        runs = [r for r in api.call("GET", "/dags/mlops_deployment/dagRuns")["dag_runs"]
                if r["dag_run_id"] not in seen]
        aliases = {model: client.get_registered_model(model).aliases for model in model_names()}
        pending = {m: a.get("champion") for m, a in aliases.items() if a.get("champion") != a.get("serving_local")}
        busy = [r for r in runs if r["state"] not in ("success", "failed")]
        if not busy and (not pending or any(r["state"] == "failed" for r in runs)):
            break
        if time.monotonic() > deadline:
            raise DemoError(f"champions {pending} were not served within {timeout:.0f}s of their promotion")
        time.sleep(5)
    for run in sorted(runs, key=lambda r: r["dag_run_id"]):
        states = api.task_states("mlops_deployment", run["dag_run_id"])
        _step("mlops_deployment: " + ", ".join(f"{t}={s}" for t, s in sorted(states.items())), run["state"],
              run_url("mlops_deployment", run["dag_run_id"]))
    if pending:
        raise DemoError(f"champions {pending} are not served; see the mlops_deployment runs")
    for model, alias in sorted(aliases.items()):
        config = load_model_config(model, check_paths=False)
        server = _served_url(model)
        _step(f"{model} v{alias['champion']} served locally ({config.deploy.strategy})",
              "smoke-tested and recorded as serving_local", f"{server}/invocations")
    return seen | {r["dag_run_id"] for r in runs}


def _served_url(model: str) -> str:
    from mlops_provider.deploy.local import LocalTarget

    server = LocalTarget(tracking_uri=MLFLOW_URL).running(model)
    return server.url if server else "(no server runs)"


def broken_candidate(api: AirflowApi, model: str) -> None:
    """A candidate 0.75 s slower per request than the champion, deployed by hand: the smoke test must refuse it,
    the server must roll it back, and the champion must keep serving."""
    from mlops_provider.demo.broken import register_slow_candidate

    client = _registry()
    serving = client.get_registered_model(model).aliases.get("serving_local")
    version = register_slow_candidate(model, tracking_uri=MLFLOW_URL, seconds=0.75)
    _log(f"registered {model} v{version}: v{serving} made 0.75 s slower per request; deploying it by hand")
    run = api.run_dag("mlops_deployment", {"model": model, "version": version}, timeout=600)
    after = client.get_registered_model(model).aliases.get("serving_local")
    reason = client.get_model_version(model, version).tags.get("mlops.deploy.local.failed", "")
    ok = run["state"] == "failed" and after == serving and reason
    _step(f"broken candidate {model} v{version} (slow)",
          f"refused and rolled back as intended, v{after} still serves: {reason}" if ok
          else f"NOT rolled back: run {run['state']}, serving v{after}",
          run_url("mlops_deployment", run["dag_run_id"]))
    if not ok:
        raise DemoError(f"the slow candidate {model} v{version} was not rolled back")


def latest_drift_report(model: str) -> str:
    """The MLflow URL of the newest drift report of `model` (empty if there is none)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=MLFLOW_URL)
    experiment = client.get_experiment_by_name(f"mlops/{model}")
    if experiment is None:
        return ""
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mlops.stage` = 'drift'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return ""
    return (f"{MLFLOW_URL}/#/experiments/{experiment.experiment_id}/runs/{runs[0].info.run_id}"
            "/artifacts/drift/drift_report.html")


def _print_summary() -> None:
    print("\n  What happened:")
    for step, outcome, where in STEPS:
        print(f"  - {step}: {outcome}" + (f"\n      {where}" if where else ""))
    _print_access()


def _print_access() -> None:
    print(f"""
  Airflow UI: {AIRFLOW_URL}   (login {USER} / {PASSWORD})
  MLflow UI:  {MLFLOW_URL}
  Model servers: .demo/serving/<model>.json (port; POST /invocations)
  Logs:       .demo/logs/        Stop with: make stop
""", flush=True)


def down() -> int:
    from mlops_provider.deploy.local import LocalTarget

    servers = DEMO_DIR / "serving"
    for state in sorted(servers.glob("*.json")) if servers.is_dir() else []:
        if LocalTarget(state_dir=servers, tracking_uri=MLFLOW_URL).stop(state.stem):
            _log(f"stopped the model server of {state.stem} (its inference log flushed)")
    for name in ("airflow", "mlflow"):
        pid = _running(name)
        if pid is None:
            _log(f"{name} is not running")
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            if _running(name) is None:
                break
            time.sleep(0.5)
        else:
            os.killpg(pid, signal.SIGKILL)
        _pid_file(name).unlink(missing_ok=True)
        _log(f"stopped {name}")
    return 0


def status() -> int:
    for name, url in (("airflow", AIRFLOW_URL), ("mlflow", MLFLOW_URL)):
        pid = _running(name)
        _log(f"{name}: running (pid {pid}) at {url}" if pid else f"{name}: stopped")
    return 0
