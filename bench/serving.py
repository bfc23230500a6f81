"""Benchmark: the local model server against MLflow's own scoring server (`mlflow models serve`), same model.

Self-contained: a throwaway MLflow tracking server (SQLite, loopback) in a temp folder, the breast_cancer demo
model trained with the package's own training code and registered as versions 1 and 2, then four servers on free
loopback ports, each one process with one worker:

- ours, logging every request to the inference log (the defaults: a window every 10,000 rows or 60 s),
- ours with `--no-inference-log`,
- ours logging, with a shadow version (`--shadow 2`: the same model registered again, scoring a copy of every
  request after the answer is sent, into the shadow log),
- `mlflow models serve -m models:/breast_cancer/1 --env-manager local -w 1` (MLflow's FastAPI scoring server).

All four must answer the model's own predictions for the same holdout rows before anything is timed. One
client drives them in turn: `--concurrency` threads, each with its own keep-alive `httpx.Client`, posting
`dataframe_split` bodies of holdout rows (prepared beforehand) back to back. Each payload size gets `--duration`
seconds per server, split into interleaved rounds in rotating order (the machine is shared, so noise spreads
over all four). Printed: requests/s, rows/s, p50/p99 latency, server CPU per request (the process tree's
user + system time), the ratios against MLflow, the logging overhead `1 - rps(logging) / rps(no logging)`
against its 10% budget, and the shadow's cost to the live answer: p50/p99 latency and requests/s of the server
with a shadow against the same server without (the shadow's own counters: copies scored, dropped, failed).
Last, the logging server is stopped with SIGTERM and its inference log must hold exactly the rows it answered.

The benchmark exits 1 if logging costs 10% or more, if the log lost a row, or if the shadow failed or was gone.

    .venv/bin/python bench/serving.py [--duration 12] [--concurrency 4] [--rows 1 100] [--log-rows N] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_provider.netutil import free_port, wait_http

MODEL = "breast_cancer"
OVERHEAD_BUDGET = 0.10
OURS_LOG, OURS_NOLOG, MLFLOW = "ours, inference log", "ours, no inference log", "mlflow models serve"
OURS_SHADOW = "ours, inference log + shadow"
SERVERS = (OURS_LOG, OURS_NOLOG, OURS_SHADOW, MLFLOW)


# --- pure helpers ------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass
class Run:
    """What the client measured against one server for one payload size (summed over rounds)."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    seconds: float = 0.0  # measured wall time
    errors: int = 0
    cpu: float = 0.0  # server process tree CPU seconds during the measured time

    def add(self, other: Run) -> None:
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.errors += other.errors
        self.cpu += other.cpu

    def summary(self, rows: int) -> dict[str, float]:
        done = sorted(self.latencies)
        requests = len(done)
        rps = requests / self.seconds if self.seconds else math.nan
        return {"requests": requests, "errors": self.errors, "rps": rps, "rows_per_s": rps * rows,
                "p50_ms": 1000 * percentile(done, 50), "p99_ms": 1000 * percentile(done, 99),
                "cpu_us": 1e6 * self.cpu / requests if requests else math.nan}


def logging_overhead(logging_rps: float, plain_rps: float) -> float:
    """The share of throughput inference logging costs: 1 - rps(logging) / rps(no logging)."""
    return 1 - logging_rps / plain_rps


def verdict(overhead: float, budget: float = OVERHEAD_BUDGET) -> str:
    return "PASS" if overhead < budget else "FAIL"


def split_bodies(rows: Any, size: int, count: int) -> list[bytes]:
    """`count` distinct `dataframe_split` JSON bodies of `size` consecutive rows each (wrapping around)."""
    columns = list(rows.columns)
    data = rows.to_numpy().tolist()
    bodies = []
    for index in range(count):
        start = (index * size) % len(data)
        chunk = [data[(start + i) % len(data)] for i in range(size)]
        bodies.append(json.dumps({"dataframe_split": {"columns": columns, "data": chunk}}).encode())
    return bodies


def shadow_line(label: str, shadowed: dict[str, float], plain: dict[str, float]) -> str:
    """The live answer with a shadow against without: latency ratios (> 1: slower), throughput (< 1: fewer)."""
    return (f"| {label} | {shadowed['p50_ms'] / plain['p50_ms']:.2f}x | {shadowed['p99_ms'] / plain['p99_ms']:.2f}x | "
            f"**{shadowed['rps'] / plain['rps']:.2f}x** |")


def ratio_line(label: str, ours: dict[str, float], peer: dict[str, float]) -> str:
    return (f"| {label} | **{ours['rps'] / peer['rps']:.2f}x** | {peer['p50_ms'] / ours['p50_ms']:.2f}x | "
            f"{peer['p99_ms'] / ours['p99_ms']:.2f}x | {peer['cpu_us'] / ours['cpu_us']:.2f}x |")


# --- processes ---------------------------------------------------------------------------------------------


class Processes:
    """Subprocesses, each in its own session; all stopped (SIGTERM, then SIGKILL) when the block exits."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.folder,
                                    start_new_session=True)
        self.started[name] = proc
        return proc

    def log(self, name: str) -> Path:
        return self.folder / f"{name.replace(' ', '_').replace(',', '')}.log"

    def wait_http(self, name: str, url: str, timeout: float = 120) -> None:
        try:
            wait_http(url, timeout, self.started[name], self.log(name))
        except RuntimeError as err:
            raise SystemExit(f"{name}: {err}") from None

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.started[name]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return int(proc.returncode)

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name, timeout=15)

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU of the process and its children (MLflow serves from a uvicorn child)."""
        import psutil

        try:
            root = psutil.Process(self.started[name].pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
            return total
        except psutil.NoSuchProcess:
            return math.nan


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGINT (even when started with it ignored, as `cmd &` does) and SIGTERM raise KeyboardInterrupt, so the
    cleanup runs either way."""

    def raise_interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- setup -------------------------------------------------------------------------------------------------


def start_tracking(procs: Processes, env: dict[str, str]) -> str:
    folder = procs.folder / "mlflow"
    port = free_port()
    procs.start("mlflow tracking", [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ], {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})  # no job-runner processes competing for CPU
    uri = f"http://127.0.0.1:{port}"
    procs.wait_http("mlflow tracking", f"{uri}/health")
    return uri


def train_and_register(tracking: str) -> tuple[str, Any, list[Any]]:
    """Train the demo model as the training DAG does, register it twice (the second version is the shadow);
    (the first version, holdout features, predictions)."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.smoke import model_predictions, smoke_rows
    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import train_and_log

    config = load_model_config(MODEL)
    with tracking_uri(tracking):
        client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
        trained = train_and_log(config, client, dag_run_id="bench-serving", reason="manual")
        version = str(mlflow.register_model(trained["model_uri"], MODEL).version)
        mlflow.register_model(trained["model_uri"], MODEL)  # the shadow: version + 1
        rows = smoke_rows(config, 200)
        expected = model_predictions(MODEL, version, rows)
    return version, rows, expected


def start_servers(procs: Processes, env: dict[str, str], tracking: str, version: str,
                  log_rows: int | None) -> tuple[dict[str, str], dict[str, str]]:
    """The four servers, loaded and ready (the shadow too); (scoring URLs, admin URLs of ours)."""
    urls, admins = {}, {}
    logging = [] if log_rows is None else ["--log-rows", str(log_rows)]
    shadow = ["--shadow", str(int(version) + 1)]
    for name, extra in ((OURS_LOG, logging), (OURS_NOLOG, ["--no-inference-log"]), (OURS_SHADOW, logging + shadow)):
        port, admin_port = free_port(), free_port()
        own = {"MLOPS_DATA_DIR": f"{env['MLOPS_DATA_DIR']}-shadow"} if name == OURS_SHADOW else {}  # its own logs
        procs.start(name, [sys.executable, "-m", "mlops_provider.serving", MODEL, "--version", version,
                           "--tracking-uri", tracking, "--port", str(port), "--admin-port", str(admin_port),
                           "--log-level", "warning", *extra], {**env, **own})
        urls[name] = f"http://127.0.0.1:{port}"
        admins[name] = f"http://127.0.0.1:{admin_port}"
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # MLflow execs `uvicorn` from PATH
    mlflow_env = {**env, "MLFLOW_TRACKING_URI": tracking, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    procs.start(MLFLOW, [f"{bin_dir}/mlflow", "models", "serve", "-m", f"models:/{MODEL}/{version}",
                         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"], mlflow_env)
    urls[MLFLOW] = f"http://127.0.0.1:{port}"
    for name, url in urls.items():
        procs.wait_http(name, f"{url}/ready" if name != MLFLOW else f"{url}/ping", timeout=180)
    deadline = time.monotonic() + 120
    while shadow_state(admins[OURS_SHADOW]) is None:  # loaded right after the live version
        if time.monotonic() > deadline:
            raise RuntimeError(f"{OURS_SHADOW}: no shadow after 120 s; see {procs.log(OURS_SHADOW)}")
        time.sleep(0.2)
    return urls, admins


def shadow_state(admin: str) -> dict[str, Any] | None:
    import httpx

    answer = httpx.get(f"{admin}/admin/status", timeout=10, trust_env=False)
    state: dict[str, Any] | None = answer.json()["shadow_state"]
    return state


def check_predictions(urls: dict[str, str], rows: Any, expected: list[Any]) -> int:
    """Every server answers the registered version's own predictions for the same rows (in 1 request and 1 by 1)."""
    import httpx

    from mlops_provider.deploy.smoke import split_payload

    with httpx.Client(timeout=60, trust_env=False) as client:
        for name, url in urls.items():
            whole = client.post(f"{url}/invocations", json=split_payload(rows))
            assert whole.status_code == 200, (name, whole.text[:500])
            assert whole.json()["predictions"] == expected, f"{name}: predictions differ from the model's own"
            single = [client.post(f"{url}/invocations", json=split_payload(rows.iloc[i:i + 1])).json()["predictions"]
                      for i in range(20)]
            assert single == [[p] for p in expected[:20]], f"{name}: one-row predictions differ"
    return len(rows) + 20


# --- the client --------------------------------------------------------------------------------------------


def drive(url: str, bodies: list[bytes], *, concurrency: int, seconds: float, warmup: float,
          cpu: Callable[[], float] | None = None) -> tuple[Run, int]:
    """`concurrency` threads, each with its own keep-alive client, post bodies back to back for warmup +
    seconds; only requests started after the warmup count, and `cpu()` is read when the count starts and
    stops. Returns the run and every request answered (warmup included)."""
    import httpx

    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    runs = [Run() for _ in range(concurrency)]
    answered = [0] * concurrency

    def worker(index: int) -> None:
        run = runs[index]
        headers = {"content-type": "application/json"}
        with httpx.Client(timeout=60, trust_env=False) as client:
            i = index
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                try:
                    response = client.post(f"{url}/invocations", content=bodies[i % len(bodies)], headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                answered[index] += ok
                if began >= measure_from:
                    if ok:
                        run.latencies.append(time.perf_counter() - began)
                    else:
                        run.errors += 1
                i += concurrency

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_from = cpu() if cpu else 0.0
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    cpu_to = cpu() if cpu else 0.0
    for thread in threads:
        thread.join()
    total = Run(seconds=seconds, cpu=cpu_to - cpu_from)
    for run in runs:
        total.latencies += run.latencies
        total.errors += run.errors
    return total, sum(answered)


def measure(procs: Processes, urls: dict[str, str], bodies: list[bytes], *, concurrency: int, duration: float,
            rounds: int) -> tuple[dict[str, Run], int]:
    """Interleaved rounds, in rotating order; returns the runs and the requests answered by the logging server."""
    totals = {name: Run() for name in urls}
    answered = 0
    names = list(urls)
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            run, done = drive(urls[name], bodies, concurrency=concurrency, seconds=duration / rounds, warmup=0.3,
                              cpu=functools.partial(procs.cpu_seconds, name))
            answered += done if name == OURS_LOG else 0
            totals[name].add(run)
    return totals, answered


def warm_up(urls: dict[str, str], admins: dict[str, str], bodies: list[bytes], concurrency: int) -> int:
    """A second of traffic per server, then a flush of the inference log (the first window written imports
    the storage layer, a one-off second of CPU); returns the requests the logging server answered."""
    import httpx

    answered = 0
    for name, url in urls.items():
        _, done = drive(url, bodies, concurrency=concurrency, seconds=0.0, warmup=1.0)
        answered += done if name == OURS_LOG else 0
    for name in (OURS_LOG, OURS_SHADOW):
        response = httpx.post(f"{admins[name]}/admin/flush", timeout=60, trust_env=False)
        assert response.status_code == 200 and response.json()["logging"], response.text
    return answered


def logged_rows(data_dir: Path) -> tuple[int, int]:
    """(rows, windows) in the model's inference log."""
    from mlops_provider import inference_log

    windows = inference_log.list_windows(str(data_dir / MODEL / "inference"))
    return (len(inference_log.read_windows(windows)) if windows else 0), len(windows)


# --- main --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=12.0,
                        help="measured seconds per server and payload size (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default %(default)s)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100], help="rows per request (default 1 100)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds the duration is split into")
    parser.add_argument("--log-rows", type=int, help="our server's --log-rows (default: the server's default)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s per server and size, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 2.0, 2

    began = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    data_dir = folder / "data"
    env = {**os.environ, "MLOPS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    os.environ.update(MLOPS_DATA_DIR=str(data_dir), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    warnings.filterwarnings("ignore")  # MLflow's hints while training
    procs = Processes(folder)
    try:
        with interrupt_on_signals():
            from mlops_provider.demo.datasets import write_demo_data

            write_demo_data(data_dir)
            tracking = start_tracking(procs, env)
            version, rows, expected = train_and_register(tracking)
            urls, admins = start_servers(procs, env, tracking, version, args.log_rows)
            procs.stop("mlflow tracking")  # every server holds its model now; nothing else should use the CPU
            answered = check_predictions(urls, rows, expected)
            setup = time.perf_counter() - began
            results: dict[int, dict[str, dict[str, float]]] = {}
            for size in args.rows:
                bodies = split_bodies(rows, size, 64)
                answered += warm_up(urls, admins, bodies, args.concurrency) * size
                runs, logged = measure(procs, urls, bodies, concurrency=args.concurrency, duration=args.duration,
                                       rounds=args.rounds)
                answered += logged * size
                results[size] = {name: run.summary(size) for name, run in runs.items()}
            shadowed = shadow_state(admins[OURS_SHADOW])
            code = procs.stop(OURS_LOG)
            written, windows = logged_rows(data_dir)
    except KeyboardInterrupt:
        print("interrupted; stopping the servers", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all()
        shutil.rmtree(folder, ignore_errors=True)

    report(args, version, len(rows), setup, time.perf_counter() - began, results, code, written, windows, answered,
           shadowed)


def report(args: argparse.Namespace, version: str, checked: int, setup: float, total: float,
           results: dict[int, dict[str, dict[str, float]]], code: int, written: int, windows: int,
           answered: int, shadowed: dict[str, Any] | None) -> None:
    print(f"\n### Serving: {MODEL} v{version} (logistic regression, 30 features), {args.concurrency} client threads, "
          f"{args.duration:g} s per server and size in {args.rounds} interleaved rounds\n")
    print(f"All four servers answered the model's own predictions for the same {checked} holdout rows (one "
          f"request, and the first 20 one by one). Setup {setup:.0f} s, total {total:.0f} s.\n")
    print("| server | rows/request | requests | errors | requests/s | rows/s | p50 ms | p99 ms "
          "| server CPU us/request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, by_server in results.items():
        for name in SERVERS:
            s = by_server[name]
            print(f"| {name} | {size} | {s['requests']:,} | {s['errors']} | {s['rps']:,.0f} | {s['rows_per_s']:,.0f} "
                  f"| {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['cpu_us']:,.0f} |")
    print("\n| ours vs mlflow models serve (> 1: ours better) | requests/s ours/mlflow | p50 mlflow/ours "
          "| p99 mlflow/ours | CPU per request mlflow/ours |")
    print("|---|---:|---:|---:|---:|")
    for size, by_server in results.items():
        print(ratio_line(f"{size} row(s), with inference log", by_server[OURS_LOG], by_server[MLFLOW]))
        print(ratio_line(f"{size} row(s), no inference log", by_server[OURS_NOLOG], by_server[MLFLOW]))
    print(f"\nInference logging overhead, 1 - rps(logging) / rps(no logging), budget {OVERHEAD_BUDGET:.0%}:")
    failed = False
    for size, by_server in results.items():
        overhead = logging_overhead(by_server[OURS_LOG]["rps"], by_server[OURS_NOLOG]["rps"])
        cpu = by_server[OURS_LOG]["cpu_us"] / by_server[OURS_NOLOG]["cpu_us"] - 1
        failed |= verdict(overhead) == "FAIL"
        print(f"- {size} row(s)/request: {overhead:+.1%} throughput, {cpu:+.1%} server CPU per request: "
              f"**{verdict(overhead)}**")
    lost = answered - written
    print(f"\nInference log after SIGTERM (exit {code}): {written:,} rows in {windows:,} windows, of {answered:,} "
          "rows answered"
          + (" - nothing lost." if lost == 0 else f" - {lost:,} MISSING."))
    shadow_ok = report_shadow(results, shadowed)
    if failed or lost or code or not shadow_ok:
        raise SystemExit(1)


def report_shadow(results: dict[int, dict[str, dict[str, float]]], state: dict[str, Any] | None) -> bool:
    """Print the shadow's cost to the live answer and its counters; False when it failed or was gone."""
    print("\nThe live answer with a shadow version against without (the same server, same run): latency with/without "
          "(> 1: slower with the shadow), requests/s with/without (< 1: fewer with the shadow)\n")
    print("| rows/request | p50 with/without | p99 with/without | requests/s with/without |")
    print("|---|---:|---:|---:|")
    for size, by_server in results.items():
        print(shadow_line(f"{size}", by_server[OURS_SHADOW], by_server[OURS_LOG]))
    if state is None:
        print("\nThe shadow was gone at the end: FAILED")
        return False
    print(f"\nShadow v{state['version']}: {state['submitted']:,} copies offered, {state['scored']:,} scored, "
          f"{state['dropped']:,} dropped (queue of {state['queue_size']}), {state['errors']} failed, "
          f"mean {state['mean_ms']} ms per copy.")
    return not state["errors"]


if __name__ == "__main__":
    main()
