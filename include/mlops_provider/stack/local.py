"""`mlops stack up --local | down | status`: the compose stack's topology as processes under one folder (`.stack/`
by default), configured from `docker-compose.yaml` and a `.env` written by `docker/init-env.sh`, on loopback ports.

`up` installs PostgreSQL and Redis when missing, starts PostgreSQL (initialised once, by the compose file's init
script), Redis, MLflow (basic auth, then the service account of `mlflow-init`), runs `airflow-init`'s script and
starts the api-server, scheduler, dag-processor, triggerer and N Celery workers; it writes `DIR/stack.json` (ports,
URLs, the files holding the credentials; no secret). `down` stops them all, workers first.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlops_provider.netutil import free_port, wait_http
from mlops_provider.settings import PROJECT_DIR
from mlops_provider.stack import processes
from mlops_provider.stack.compose import Compose, StackError
from mlops_provider.stack.processes import log, log_file, run_step, running, start
from mlops_provider.stack.services import (
    BIN,
    Ports,
    airflow_command,
    airflow_env,
    as_db_user,
    base_env,
    ensure_system_packages,
    give_to_db_user,
    loopback,
    mlflow_command,
    mlflow_env,
    own_by_db_user,
    postgres_bin,
    redis_config,
    service_env,
    worker_name,
)

STATE_FILE = "stack.json"
INIT_ENV = PROJECT_DIR / "docker" / "init-env.sh"
COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
INITDB_DIR = "/docker-entrypoint-initdb.d/"  # the postgres image runs the scripts mounted here on a fresh volume


def up(folder: Path, *, workers: int = 1, concurrency: int | None = None,
       models_dir: Path | None = None) -> dict[str, Any]:
    """Start the stack in `folder` (what runs already is left running) and return what `stack.json` records.

    :param folder: the stack's folder (`--dir`, default `.stack`).
    :param workers: how many Celery workers.
    :param concurrency: task slots of each worker (default: Airflow's `[celery] worker_concurrency`, as compose).
    :param models_dir: model configs other than the project's `include/models` (MLOPS_MODELS_DIR of Airflow).
    """
    if workers < 1:
        raise StackError(f"--workers must be 1 or more, not {workers}")
    folder = folder.resolve()
    for sub in ("logs", "run", "volumes", "mounts", "airflow"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "secrets").mkdir(mode=0o700, exist_ok=True)
    ensure_system_packages()
    ports = _ports(folder, workers)
    compose = Compose.load(_env_file(folder, ports))
    for volume in compose.document.get("volumes") or {}:
        (folder / "volumes" / volume).mkdir(mode=0o700, exist_ok=True)  # private, as Docker keeps its volumes
    try:
        _postgres(folder, compose, ports)
        _redis(folder, compose, ports)
        _mlflow(folder, compose, ports)
        _airflow(folder, compose, ports, workers, concurrency, models_dir)
    except StackError:
        log(f"bring-up failed; stopping what started (logs stay in {folder / 'logs'})")
        down(folder)
        raise
    state = _state(folder, compose, ports, workers, models_dir)
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    return state


def down(folder: Path) -> int:
    """Stop every process of the stack in `folder`: workers first (warm shutdown), PostgreSQL last.

    :param folder: the stack's folder.
    """
    folder = folder.resolve()
    workers = sorted(p.stem for p in (folder / "run").glob("worker-*.pid"))
    for name in (*workers, "triggerer", "dag-processor", "scheduler", "apiserver", "mlflow", "redis"):
        processes.stop(folder, name)
    processes.stop(folder, "postgres", sig=signal.SIGINT)  # SIGINT: fast shutdown (SIGTERM waits for clients)
    return 0


def status(folder: Path) -> int:
    """Print which processes of the stack in `folder` run; 0 when all of them do, 1 otherwise.

    :param folder: the stack's folder.
    """
    folder = folder.resolve()
    names = sorted(p.stem for p in (folder / "run").glob("*.pid"))
    if not names:
        log(f"no stack in {folder}")
        return 1
    alive = {name: running(folder, name) for name in names}
    for name, pid in alive.items():
        log(f"{name}: running (pid {pid})" if pid else f"{name}: stopped")
    state = folder / STATE_FILE
    if state.exists():
        print(state.read_text(), end="")
    return 0 if all(alive.values()) else 1


def _ports(folder: Path, workers: int) -> Ports:
    """The ports recorded in `stack.json` (a restart keeps its URLs), or free ones; one log port per worker."""
    try:
        known = json.loads((folder / STATE_FILE).read_text())["ports"]
    except (FileNotFoundError, KeyError, ValueError):
        known = {}
    taken: set[int] = set()

    def pick(name: str) -> int:
        port = int(known[name]) if name in known else free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        return port

    names = ("postgres", "redis", "mlflow", "airflow", "scheduler_health", "triggerer_log")
    chosen = {name: pick(name) for name in names}
    old_logs = list(known.get("worker_log", []))
    logs = []
    for index in range(workers):
        port = int(old_logs[index]) if index < len(old_logs) else free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        logs.append(port)
    return Ports(**chosen, worker_log=tuple(logs))


def _env_file(folder: Path, ports: Ports) -> Path:
    """`DIR/.env`: written once by `docker/init-env.sh` (fresh secrets, mode 600); its host ports set to ours."""
    path = folder / ".env"
    if not path.exists():
        run_step(folder, "init-env", ["bash", str(INIT_ENV), str(path)], base_env(), PROJECT_DIR)
    local = {"AIRFLOW_HOST_PORT": str(ports.airflow), "MLFLOW_HOST_PORT": str(ports.mlflow),
             "MLFLOW_UI_URL": f"http://127.0.0.1:{ports.mlflow}"}
    lines = []
    for line in path.read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={local[key]}" if key in local and "=" in line else line)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _postgres(folder: Path, compose: Compose, ports: Ports) -> None:
    """Start PostgreSQL on its volume; on a fresh one, initialise it as the postgres image does (superuser and
    database from POSTGRES_USER/POSTGRES_DB, then the scripts the compose file mounts in its init folder)."""
    if running(folder, "postgres"):
        return
    view = loopback(compose, "postgres", folder, ports)
    data, sockets = view.local_path("/var/lib/postgresql/data"), folder / "pg-socket"
    env = compose.environment("postgres")
    user, database = env.get("POSTGRES_USER", "postgres"), env.get("POSTGRES_DB", "postgres")
    fresh = not (data / "PG_VERSION").exists()
    give_to_db_user(sockets)
    if fresh:
        give_to_db_user(data)
        password_file = sockets / "initdb-password"
        password_file.write_text(env["POSTGRES_PASSWORD"])
        password_file.chmod(0o600)
        own_by_db_user(password_file)
        try:
            run_step(folder, "postgres-initdb", as_db_user([
                str(postgres_bin("initdb")), "-D", str(data), "-U", user, f"--pwfile={password_file}",
                "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"]), base_env(), folder)
        finally:
            password_file.unlink(missing_ok=True)
    start(folder, "postgres", as_db_user([
        str(postgres_bin("postgres")), "-D", str(data), "-c", f"port={ports.postgres}",
        "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"]), base_env(), folder)
    _wait_for(folder, "postgres", lambda: subprocess.run(
        [str(postgres_bin("pg_isready")), "-q", "-h", "127.0.0.1", "-p", str(ports.postgres)]).returncode == 0, 60)
    if not fresh:
        return
    client = {**base_env(), **env, "PGHOST": str(sockets), "PGPORT": str(ports.postgres), "PGUSER": user}
    if database != "postgres":  # as the image: initdb made only the database `postgres`
        run_step(folder, "postgres-createdb", as_db_user([str(postgres_bin("createdb")), database]), client, folder)
    for _source, inside in compose.volumes("postgres"):
        if inside.startswith(INITDB_DIR) and inside.endswith(".sh"):
            run_step(folder, f"postgres-init-{Path(inside).stem}", as_db_user(["bash", str(view.local_path(inside))]),
                     client, folder)


def _redis(folder: Path, compose: Compose, ports: Ports) -> None:
    """Start Redis with the compose file's password (in a mode-600 config file rather than on the command line)."""
    if running(folder, "redis"):
        return
    start(folder, "redis", ["redis-server", str(redis_config(compose, folder, ports.redis))], base_env(), folder)
    _wait_for(folder, "redis", lambda: _port_open(ports.redis), 30)


def _mlflow(folder: Path, compose: Compose, ports: Ports) -> None:
    """Start MLflow's basic-auth app on PostgreSQL, then run `mlflow-init`'s script (the service account)."""
    url = f"http://127.0.0.1:{ports.mlflow}"
    if not running(folder, "mlflow"):
        view = loopback(compose, "mlflow", folder, ports)
        (folder / "volumes" / "mlflow-artifacts").mkdir(mode=0o700, exist_ok=True)
        proc = start(folder, "mlflow", mlflow_command(compose, view, folder, ports.mlflow),
                     mlflow_env(compose, view), folder)
        wait_http(f"{url}/health", 240, proc, log_file(folder, "mlflow"))
    view = loopback(compose, "mlflow-init", folder, ports)
    command = [view.rewrite(arg) for arg in compose.command("mlflow-init")]
    run_step(folder, "mlflow-init", [str(BIN / command[0]), *command[1:]],
             service_env(compose, "mlflow-init", view), folder)


def _airflow(folder: Path, compose: Compose, ports: Ports, workers: int, concurrency: int | None,
             models_dir: Path | None) -> None:
    """Run `airflow-init`'s script, then start the components and the workers; wait for the API and scheduler."""
    view = loopback(compose, "airflow-init", folder, ports)
    run_step(folder, "airflow-init", [view.rewrite(arg) for arg in airflow_command(compose, "airflow-init")],
             airflow_env(compose, "airflow-init", folder, ports, models_dir=models_dir), folder)
    procs = {}
    for service in COMPONENTS:
        name = service.removeprefix("airflow-")
        if not running(folder, name):
            procs[name] = start(folder, name, airflow_command(compose, service),
                                airflow_env(compose, service, folder, ports, models_dir=models_dir), folder)
    for surplus in sorted(p.stem for p in (folder / "run").glob("worker-*.pid")):
        if int(surplus.removeprefix("worker-")) > workers:  # an earlier `up` asked for more
            processes.stop(folder, surplus)
    for number in range(1, workers + 1):
        name = worker_name(number)
        if running(folder, name):
            continue
        extra = ["--celery-hostname", f"{name}@%h"] + (["--concurrency", str(concurrency)] if concurrency else [])
        start(folder, name, [*airflow_command(compose, "airflow-worker"), *extra],
              airflow_env(compose, "airflow-worker", folder, ports, worker=number, models_dir=models_dir), folder)
    wait_http(f"http://127.0.0.1:{ports.airflow}/api/v2/version", 300, procs.get("apiserver"),
              log_file(folder, "apiserver"))
    wait_http(f"http://127.0.0.1:{ports.scheduler_health}/health", 300, procs.get("scheduler"),
              log_file(folder, "scheduler"))
    for number in range(1, workers + 1):
        name = worker_name(number)
        _wait_for(folder, name, lambda name=name: " ready." in log_file(folder, name).read_text(errors="replace"), 300)


def _state(folder: Path, compose: Compose, ports: Ports, workers: int, models_dir: Path | None) -> dict[str, Any]:
    """What `stack.json` records: ports, URLs, folders and the files holding the credentials (mode 600)."""
    env = compose.env
    airflow_login = _secret_file(folder, "airflow-admin.json", env["AIRFLOW_ADMIN_USERNAME"],
                                 env["AIRFLOW_ADMIN_PASSWORD"])
    mlflow_login = _secret_file(folder, "mlflow-service.json", env["MLFLOW_SERVICE_USERNAME"],
                                env["MLFLOW_SERVICE_PASSWORD"])
    return {
        "dir": str(folder),
        "workers": [worker_name(n) for n in range(1, workers + 1)],
        "ports": asdict(ports),
        "airflow_url": f"http://127.0.0.1:{ports.airflow}",
        "airflow_username": env["AIRFLOW_ADMIN_USERNAME"],
        "airflow_credentials_file": str(airflow_login),
        "mlflow_url": f"http://127.0.0.1:{ports.mlflow}",
        "mlflow_username": env["MLFLOW_SERVICE_USERNAME"],
        "mlflow_credentials_file": str(mlflow_login),
        "env_file": str(folder / ".env"),
        "data_dir": str(folder / "volumes" / "mlops-data"),
        "models_dir": str(models_dir) if models_dir else None,
        "logs": str(folder / "logs"),
    }


def _secret_file(folder: Path, name: str, username: str, password: str) -> Path:
    """`DIR/secrets/<name>`: `{"username": ..., "password": ...}`, mode 600."""
    path = folder / "secrets" / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"username": username, "password": password}, out)
    return path


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(folder: Path, name: str, ready: Any, timeout: float) -> None:
    """Poll `ready()` until it is true; StackError naming the log when `name` exits first or after `timeout`."""
    deadline = time.monotonic() + timeout
    while not ready():
        if running(folder, name) is None:
            raise StackError(f"{name} exited; see {log_file(folder, name)}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} not ready after {timeout:.0f}s; see {log_file(folder, name)}")
        time.sleep(0.5)
