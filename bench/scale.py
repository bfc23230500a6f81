"""Fifty models on the local Celery stack: makespans of one `mlops_training` and one `mlops_drift_monitor` run with
1 and 2 workers, DAG parse time at N models, scheduler and worker memory; 2 workers against 1 (the peer).

For each worker count: `mlops stack up --local --workers W --models-dir SET/models` (a stack of its own under
DIR), trigger `mlops_training` over the REST API and wait; then write one fresh inference window per model and
trigger `mlops_drift_monitor`. The makespan is the run's end minus its start as Airflow records them. Memory is
the peak resident set of the scheduler's process tree and of all workers' trees (pool processes and the task
processes they fork), sampled every second. The models come from `mlops scale-models`: one is broken on purpose
and must fail alone; the bench checks that every other one was trained, gated and promoted.

    PYTHONPATH=include nice -n 19 .venv/bin/python bench/scale.py --models 50 --workers 1,2 [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from parse_time import parse_seconds  # noqa: E402  (a sibling bench script, not a package)

RUN_TIMEOUT = 4 * 3600
MONITORED = ("mlops_training", "mlops_drift_monitor")


@dataclass
class Outcome:
    """What one stack (one worker count) measured."""

    workers: int
    makespan: dict[str, float] = field(default_factory=dict)  # dag_id -> seconds
    states: dict[str, dict[str, str]] = field(default_factory=dict)  # dag_id -> task_id -> state
    run_state: dict[str, str] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)  # "scheduler" | "workers" -> MB
    overlaps: list[str] = field(default_factory=list)  # other runs that shared a measured run's slots


class MemorySampler(threading.Thread):
    """Peak RSS (MB) of process trees, by group, sampled every `interval` seconds."""

    def __init__(self, groups: dict[str, list[int]], interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.groups, self.interval = groups, interval
        self.peak = dict.fromkeys(groups, 0.0)
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.done.is_set():
            for group, pids in self.groups.items():
                total = 0
                for pid in pids:
                    try:
                        root = psutil.Process(pid)
                        total += sum(p.memory_info().rss for p in (root, *root.children(recursive=True)))
                    except psutil.Error:
                        continue
                self.peak[group] = max(self.peak[group], total / 2**20)
            self.done.wait(self.interval)

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        return dict(self.peak)


def mlops(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    return subprocess.run([sys.executable, "-m", "mlops_provider.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def _credentials(path: str) -> tuple[str, str]:
    login = json.loads(Path(path).read_text())
    return login["username"], login["password"]


def _pids(folder: Path, prefix: str) -> list[int]:
    """The pids the stack recorded for its processes named `prefix*` (`DIR/run/<name>.pid`, JSON)."""
    return [int(json.loads(p.read_text())["pid"]) for p in sorted((folder / "run").glob(f"{prefix}*.pid"))]


def moment(value: Any) -> datetime | None:
    """A time as the Airflow API writes it (ISO 8601, `Z` for UTC); None for a run not started or not ended."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def run_dag(api: Any, dag_id: str, run_id: str) -> tuple[float, str, dict[str, str]]:
    """Trigger `dag_id`, wait for its end: (makespan seconds, run state, task states)."""
    api.trigger(dag_id, {}, dag_run_id=run_id)
    state = api.wait(dag_id, run_id, timeout=RUN_TIMEOUT, poll=5)
    run = api.get_run(dag_id, run_id)
    start, end = moment(run["start_date"]), moment(run["end_date"])
    assert start is not None and end is not None, f"run {run_id} ended without a start or end date"
    return (end - start).total_seconds(), state, api.task_states(dag_id, run_id)


def alone(api: Any, dag_id: str, timeout: float = 3600) -> None:
    """Unpause `dag_id` and let a run its schedule starts meanwhile (an hourly monitor's) end first: a makespan is
    one run's alone, not shared with another run's tasks."""
    api.unpause(dag_id)
    time.sleep(15)  # the scheduler's loop: a run due now is created within a few seconds of the unpause
    deadline = time.monotonic() + timeout
    while any(run["state"] in ("queued", "running") for run in api.list_runs(dag_id)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"a scheduled run of {dag_id} is still going after {timeout:.0f} s")
        time.sleep(5)


def overlapping(api: Any, dag_id: str, run_id: str) -> list[str]:
    """Runs of the measured DAGs other than `run_id` that ran during it (they would share its slots)."""
    runs = [(other_dag, run) for other_dag in MONITORED for run in api.list_runs(other_dag)]
    ours = next(run for other_dag, run in runs if other_dag == dag_id and run["dag_run_id"] == run_id)
    start, end = moment(ours["start_date"]), moment(ours["end_date"])
    found = []
    for other_dag, run in runs:
        other_start, other_end = moment(run.get("start_date")), moment(run.get("end_date"))
        if run is ours or other_start is None or start is None or end is None:
            continue
        if other_start < end and (other_end is None or other_end > start):
            found.append(f"{other_dag} {run['dag_run_id']} ran during {dag_id} {run_id}")
    return found


def measure(model_set: Any, workers: int, folder: Path, concurrency: int | None) -> Outcome:
    """Bring a stack of `workers` up in `folder`, run both DAGs once, bring it down."""
    from mlops_provider.client.airflow import AirflowClient
    from mlops_provider.scale.generate import write_inference_windows

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # PostgreSQL runs as the postgres account, which must reach its data folder
    up = ["stack", "up", "--local", "--workers", str(workers), "--dir", str(folder),
          "--models-dir", model_set.env["MLOPS_MODELS_DIR"]]
    if concurrency:
        up += ["--concurrency", str(concurrency)]
    done = mlops(*up, timeout=1800)
    outcome = Outcome(workers)
    try:
        if done.returncode:
            raise RuntimeError(f"stack up failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        state = json.loads((folder / "stack.json").read_text())
        sampler = MemorySampler({"scheduler": _pids(folder, "scheduler"), "workers": _pids(folder, "worker-")})
        sampler.start()
        with AirflowClient(state["airflow_url"], *_credentials(state["airflow_credentials_file"])) as api:
            for dag_id in MONITORED:
                api.wait_for_dag(dag_id, timeout=600)  # every DAG stays paused (paused at creation) until measured
            for dag_id in MONITORED:
                alone(api, dag_id)
                if dag_id == "mlops_drift_monitor":
                    write_inference_windows(model_set)  # the monitor reads the last hour only
                run_id = f"scale-{workers}w-{int(time.time())}"
                seconds, run_state, states = run_dag(api, dag_id, run_id)
                api.pause(dag_id)  # its schedule must not fire while the next DAG is measured
                outcome.makespan[dag_id], outcome.run_state[dag_id], outcome.states[dag_id] = seconds, run_state, states
                outcome.overlaps += overlapping(api, dag_id, run_id)
                print(f"  {workers} worker(s): {dag_id} {run_state} in {seconds:.0f} s", flush=True)
        outcome.peak_mb = sampler.stop()
    finally:
        mlops("stack", "down", "--dir", str(folder), timeout=900)
    return outcome


def training_problems(model_set: Any, states: dict[str, str]) -> list[str]:
    """What differs from "the broken model fails alone, every other one is promoted"."""
    problems = []
    for plan in model_set.plans:
        promote, validate = states.get(f"{plan.name}.promote"), states.get(f"{plan.name}.validate")
        if plan.broken and validate != "failed":
            problems.append(f"{plan.name} (broken): validate {validate}, expected failed")
        if not plan.broken and promote != "success":
            failed = sorted(t for t, s in states.items() if t.startswith(f"{plan.name}.") and s != "success")
            problems.append(f"{plan.name}: promote {promote} ({', '.join(failed)})")
    return problems


def table(models: int, outcomes: list[Outcome], parse: dict[str, float]) -> list[str]:
    base = outcomes[0]
    head = " | ".join(f"{o.workers} worker{'s' if o.workers > 1 else ''}" for o in outcomes)
    ratios = "".join(f" {o.workers}w vs {base.workers}w |" for o in outcomes[1:])
    lines = [f"| {models} models | {head} |{ratios}", "|---|" + "---:|" * (len(outcomes) * 2 - 1)]

    def row(label: str, values: list[float], unit: str) -> str:
        cells = " | ".join(f"{v:.0f} {unit}" for v in values)
        ratio = "".join(f" {v / values[0]:.2f}x |" if values[0] else " n/a |" for v in values[1:])
        return f"| {label} | {cells} |{ratio}"

    for dag_id in MONITORED:
        lines.append(row(f"makespan of one {dag_id} run", [o.makespan.get(dag_id, 0.0) for o in outcomes], "s"))
    lines.append(row("peak memory, scheduler (tree)", [o.peak_mb.get("scheduler", 0.0) for o in outcomes], "MB"))
    lines.append(row("peak memory, all workers (trees)", [o.peak_mb.get("workers", 0.0) for o in outcomes], "MB"))
    for dag_id, seconds in parse.items():
        lines.append(f"| parse of dags/{dag_id}.py at {models} models (CPU, median) | {seconds * 1000:.0f} ms |"
                     + " |" * (len(outcomes) * 2 - 2))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated; the first is the peer")
    parser.add_argument("--concurrency", type=int, help="task slots per worker (default: the stack's)")
    parser.add_argument("--dir", help="where the model set and the stacks go (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=5, help="parse-time samples")
    args = parser.parse_args(argv)
    from mlops_provider.scale.generate import generate_models

    folder = Path(args.dir or tempfile.mkdtemp(prefix="mlops-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    model_set = generate_models(folder / "set", args.models)
    print(f"{args.models} models in {model_set.folder} (broken: {', '.join(model_set.broken)})", flush=True)
    parse = {dag_id: parse_seconds(ROOT / "dags" / f"{dag_id}.py", args.repeat, model_set.env["MLOPS_MODELS_DIR"],
                                   cpu=True) for dag_id in MONITORED}
    outcomes = [measure(model_set, int(w), folder / f"stack-{w}w", args.concurrency)
                for w in args.workers.split(",")]
    print("\n".join(table(args.models, outcomes, parse)))
    ok = True
    for outcome in outcomes:
        problems = training_problems(model_set, outcome.states.get("mlops_training", {}))
        ok &= not problems and not outcome.overlaps
        for overlap in outcome.overlaps:
            print(f"{outcome.workers} worker(s): NOT ALONE: {overlap}")
        print(f"{outcome.workers} worker(s): " + ("the broken model failed alone; every other one was promoted"
                                                  if not problems else "; ".join(problems[:10])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
