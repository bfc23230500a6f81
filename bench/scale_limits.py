"""What limits a run of many models: tasks per model, DAG parse time at N models, imports and MLflow round trips
per task. Each number comes with a named peer measured in the same run.

- **tasks**: task instances of one `mlops_training` run per model, and of one `mlops_drift_monitor` run.
- **parse**: each DAG file at the project's 2 models and at N generated ones (`bench/parse_time.py`'s probe: a
  fresh interpreter with airflow.sdk imported; CPU time, steadier than wall time on a busy machine; the DAG
  processor re-parses every 30 s, and every task process parses its DAG file again). Peer: the same file at 2
  models.
- **imports**: what a task process imports beyond airflow.sdk before it does any work (a task is a fork of the
  worker that imported only Airflow). Peer: `import airflow.sdk` in a fresh interpreter.
- **MLflow round trips**: HTTP requests each task of one model's pipeline sends to a loopback MLflow server
  (SQLite), counted by a proxy in front of it while `dag.test()` runs `mlops_training` for one generated model.
  Peer: the requests of the shortest hand-written MLflow script that trains, logs, registers and aliases the
  same model (`mlflow.sklearn.log_model(registered_model_name=...)` + `set_registered_model_alias`).
- **MLflow basic-auth per request** (the stack's MLflow runs the basic-auth app): server CPU and latency of one
  authenticated request with `docker/mlflow/basic_auth.ini`'s credential cache (`auth_cache_ttl_seconds`) against
  the same server with the cache off (the peer: MLflow's default, every request hashes the password).

    PYTHONPATH=include nice -n 19 .venv/bin/python bench/scale_limits.py [--models 50] [--repeat 3] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from parse_time import parse_seconds  # noqa: E402  (a sibling bench script, not a package)

IMPORTS = {  # what each task of a model's chain imports on top of airflow.sdk (the operators import these lazily)
    "mlflow": "import mlflow",
    "pandas + pyarrow": "import pandas, pyarrow.parquet",
    "scikit-learn (train, evaluate)": "import sklearn.ensemble, sklearn.linear_model, sklearn.pipeline",
    "great_expectations (validate)": "import great_expectations",
}
IMPORT_PROBE = """
import sys, time
import airflow.sdk
start = time.perf_counter()
exec(sys.argv[1])
print(time.perf_counter() - start)
"""
PEER_PROBE = """
import sys, time
start = time.perf_counter()
import airflow.sdk
print(time.perf_counter() - start)
"""

TASKS_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
print(json.dumps({dag_id: len(dag.tasks) for dag_id, dag in bag.dags.items()}))
"""

DAG_TEST = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
run = bag.dags["mlops_training"].test()
print(json.dumps({"state": str(run.state), "tasks": [
    {"task_id": ti.task_id, "state": str(ti.state), "start": ti.start_date.timestamp(),
     "end": ti.end_date.timestamp()} for ti in run.get_task_instances() if ti.start_date]}))
"""

PEER_SCRIPT = """
import sys
import mlflow, mlflow.sklearn, pandas as pd
from mlflow import MlflowClient
from mlops_provider.config import load_model_config
from mlops_provider.training.sklearn import train_classifier
config = load_model_config(sys.argv[1])
frame = pd.read_parquet(config.resolve(config.data.train))
mlflow.set_tracking_uri(sys.argv[2])
mlflow.set_experiment("peer/" + config.name)
with mlflow.start_run():
    model = train_classifier(frame, target=config.target, numeric=config.features.numeric,
                             categorical=config.features.categorical, params=config.trainer.params, seed=42)
    mlflow.log_params(config.trainer.params)
    mlflow.log_metric("accuracy", float(model.score(frame[config.features.all], frame[config.target])))
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="peer_" + config.name,
                                    skops_trusted_types=["numpy.dtype"])
MlflowClient(sys.argv[2]).set_registered_model_alias("peer_" + config.name, "champion",
                                                     info.registered_model_version)
"""


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to `upstream` (host, port) and records (time, method, path) of each."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.seen: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Forward)

    def requests_between(self, start: float, end: float) -> list[tuple[float, str, str]]:
        with self.lock:
            return [r for r in self.seen if start <= r[0] <= end]


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingProxy

    def _forward(self) -> None:
        with self.server.lock:
            self.server.seen.append((time.time(), self.command, self.path.split("?")[0]))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def median_run(code: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    samples = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", *code], capture_output=True, text=True, check=True,
                             env={**os.environ, **(env or {})})
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def count_tasks(model_set: Any) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", TASKS_PROBE, str(ROOT / "dags")], capture_output=True, text=True,
                         check=True, env={**os.environ, **model_set.env})
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def parse_table(model_set: Any, repeat: int) -> list[str]:
    count = len(model_set.plans)
    lines = [f"| DAG file (parse CPU, median) | at 2 models (peer) | at {count} models | ratio |",
             "|---|---:|---:|---:|"]
    for path in sorted((ROOT / "dags").glob("*.py")):
        base = parse_seconds(path, repeat, str(ROOT / "include" / "models"), cpu=True)
        many = parse_seconds(path, repeat, model_set.env["MLOPS_MODELS_DIR"], cpu=True)
        lines.append(f"| dags/{path.name} | {base * 1000:.0f} ms | {many * 1000:.0f} ms | {many / base:.2f}x |")
    return lines


def import_table(repeat: int) -> list[str]:
    peer = median_run([PEER_PROBE], repeat)
    lines = ["| a task imports | seconds (median) | vs `import airflow.sdk` (peer) |", "|---|---:|---:|",
             f"| airflow.sdk (peer) | {peer:.2f} s | 1.00x |"]
    for label, statement in IMPORTS.items():
        seconds = median_run([IMPORT_PROBE, statement], repeat)
        lines.append(f"| {label} | {seconds:.2f} s | {seconds / peer:.2f}x |")
    return lines


def _start_mlflow(folder: Path) -> tuple[subprocess.Popen, int]:
    from mlops_provider.netutil import free_port, wait_http

    port = free_port()
    log = folder / "mlflow.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                                 f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
                                 str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", timeout=180, proc=proc, log=log)
    return proc, port


def mlflow_table(folder: Path) -> list[str]:
    """Round trips per task of one classification model's `mlops_training` chain, against the peer script."""
    from mlops_provider.scale.generate import generate_models

    model_set = generate_models(folder / "one", 1, broken=False)
    home = folder / "airflow"
    env = {**os.environ, **model_set.env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
           "PYTHONPATH": str(ROOT / "include"), "MLOPS_STATE_DIR": str(folder / "state")}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    server, port = _start_mlflow(folder)
    proxy = CountingProxy(("127.0.0.1", port))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        env["AIRFLOW_CONN_MLFLOW_DEFAULT"] = json.dumps({"conn_type": "mlflow", "host": uri})
        out = subprocess.run([sys.executable, "-c", DAG_TEST, str(ROOT / "dags")], env=env, capture_output=True,
                             text=True)
        if out.returncode:
            raise RuntimeError(f"dag.test() of mlops_training failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        start = time.time()
        out = subprocess.run([sys.executable, "-c", PEER_SCRIPT, model_set.plans[0].name, uri], env=env,
                             capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"the peer script failed:\n{out.stderr[-3000:]}")
        peer = len(proxy.requests_between(start, time.time()))
    finally:
        proxy.shutdown()
        os.killpg(server.pid, signal.SIGTERM)  # the server runs uvicorn and job workers as children
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    lines = ["| task (one model) | MLflow HTTP requests | wall s (warm imports) | most frequent |",
             "|---|---:|---:|---|"]
    total = 0
    for task in sorted(result["tasks"], key=lambda t: t["start"]):
        calls = proxy.requests_between(task["start"], task["end"])
        total += len(calls)
        paths: dict[str, int] = {}
        for _, method, path in calls:
            key = f"{method} {path.removeprefix('/api/2.0/mlflow/').removeprefix('/ajax-api/2.0/mlflow/')}"
            paths[key] = paths.get(key, 0) + 1
        top = ", ".join(f"{k} x{v}" for k, v in sorted(paths.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {task['task_id'].split('.')[-1]} ({task['state']}) | {len(calls)} | "
                     f"{task['end'] - task['start']:.1f} | {top} |")
    lines.append(f"| **chain total** | **{total}** | | ratio to peer: {total / max(peer, 1):.1f}x |")
    lines.append(f"| peer: hand-written train + log_model + register + alias | {peer} | | 1.0x |")
    return lines


def _auth_server(folder: Path, cache_seconds: int) -> tuple[subprocess.Popen, str]:
    """A basic-auth MLflow server (SQLite) whose admin is `admin`/`bench-password-1234`."""
    from mlops_provider.netutil import free_port, wait_http

    folder.mkdir(parents=True)
    ini = folder / "basic_auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{folder / 'auth.db'}\n"
                   "admin_username = admin\nadmin_password = bench-password-1234\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   f"auth_cache_ttl_seconds = {cache_seconds}\n")
    port = free_port()
    log = folder / "mlflow.log"
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
                                 "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1"], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=folder, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", timeout=180, proc=proc, log=log)
    return proc, f"http://127.0.0.1:{port}"


def _server_cpu(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in (root, *root.children(recursive=True)))


def auth_table(folder: Path, requests: int = 30) -> list[str]:
    """Per-request server CPU and latency of authenticated MLflow requests, credential cache off vs on."""
    import httpx

    rows = {}
    for label, cache in (("cache off (MLflow's default; peer)", 0), ("auth_cache_ttl_seconds = 60", 60)):
        proc, url = _auth_server(folder / f"auth-{cache}", cache)
        try:
            with httpx.Client(base_url=url, auth=("admin", "bench-password-1234"), timeout=60) as http:
                http.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "Default"})
                cpu, latencies = _server_cpu(proc.pid), []
                for _ in range(requests):
                    start = time.perf_counter()
                    answer = http.get("/api/2.0/mlflow/experiments/get-by-name",
                                      params={"experiment_name": "Default"})
                    latencies.append(time.perf_counter() - start)
                    answer.raise_for_status()
                rows[label] = ((_server_cpu(proc.pid) - cpu) / requests, statistics.median(latencies))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    peer_cpu, peer_latency = next(iter(rows.values()))
    lines = ["| MLflow basic-auth, one request | server CPU | latency (median) | CPU vs peer | latency vs peer |",
             "|---|---:|---:|---:|---:|"]
    for label, (cpu, latency) in rows.items():
        lines.append(f"| {label} | {cpu * 1000:.0f} ms | {latency * 1000:.0f} ms | {cpu / peer_cpu:.2f}x | "
                     f"{latency / peer_latency:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true", help="no MLflow round-trip count (the slow part)")
    args = parser.parse_args(argv)
    from mlops_provider.scale.generate import generate_models

    with tempfile.TemporaryDirectory(prefix="mlops-scale-limits-") as tmp:
        folder = Path(tmp)
        model_set = generate_models(folder / "many", args.models)
        tasks = count_tasks(model_set)
        print(f"tasks at {args.models} models: " + ", ".join(f"{k} {v}" for k, v in sorted(tasks.items())))
        print(f"mlops_training: {tasks['mlops_training'] / args.models:.1f} tasks per model; "
              f"mlops_drift_monitor: {tasks['mlops_drift_monitor']} tasks mapped to {args.models} models each\n")
        print("\n".join(parse_table(model_set, args.repeat)) + "\n")
        print("\n".join(import_table(args.repeat)) + "\n")
        if not args.skip_mlflow:
            print("\n".join(auth_table(folder)) + "\n")
            print("\n".join(mlflow_table(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
