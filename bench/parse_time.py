"""DAG parse time: each file of dags/ against a minimal airflow.sdk DAG file, in fresh interpreters.

The DAG processor re-parses every file every 30 s in a process that already has Airflow imported, so
we measure what a file adds on top of `import airflow.sdk`: each sample is a fresh interpreter that
imports airflow.sdk first (not timed), then executes the DAG file (timed). Goal: within 1.2x of the
minimal file, or +100 ms. `--models-dir` parses the DAGs for another set of models (e.g. fifty written by
`mlops scale-models`), as `MLOPS_MODELS_DIR` does.

    .venv/bin/python bench/parse_time.py [--repeat 7] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = '''"""Minimal DAG."""
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["bench"])
def minimal():
    @task
    def hello():
        return 1

    hello()


minimal()
'''

PROBE = """
import importlib.util, sys, time
import airflow.sdk  # already loaded in the DAG processor
import pendulum
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
start, cpu = time.perf_counter(), time.process_time()
spec.loader.exec_module(module)
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def parse_seconds(path: Path, repeat: int, models_dir: str | None = None, *, cpu: bool = False,
                  env: dict[str, str] | None = None) -> float:
    """Median seconds of executing `path` in a fresh interpreter that has airflow.sdk imported already: wall
    time, or with `cpu` the process's CPU time (steadier on a busy machine)."""
    env = {**os.environ, **(env or {}), **({"MLOPS_MODELS_DIR": models_dir} if models_dir else {})}
    samples = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True,
                             env=env)
        wall, cpu_seconds = out.stdout.strip().splitlines()[-1].split()
        samples.append(float(cpu_seconds if cpu else wall))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--models-dir", help="model configs to parse the DAGs for (default: MLOPS_MODELS_DIR)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        base = parse_seconds(minimal, args.repeat)
    print(f"| DAG file | parse (median of {args.repeat}) | vs minimal airflow.sdk DAG | goal met |")
    print("|---|---:|---:|---|")
    print(f"| minimal airflow.sdk DAG (peer) | {base * 1000:.1f} ms | 1.00x | |")
    ok = True
    for path in sorted((ROOT / "dags").glob("*.py")):
        seconds = parse_seconds(path, args.repeat, args.models_dir)
        met = seconds <= base * 1.2 or seconds <= base + 0.100
        ok &= met
        ratio = f"{seconds / base:.2f}x ({(seconds - base) * 1000:+.0f} ms)"
        print(f"| dags/{path.name} | {seconds * 1000:.1f} ms | {ratio} | {'yes' if met else 'NO'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
