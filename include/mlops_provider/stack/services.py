"""Each process of the local stack, built from the compose service it stands for: its command and environment
(interpolated from `.env`, hosts and paths made local by `Loopback`), and the system's PostgreSQL and Redis.

PostgreSQL refuses to run as root, so under root its server and init script run as the `postgres` user the
Debian package creates (`runuser`); its socket lives in a private folder of the stack.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_provider.settings import INCLUDE_DIR, PROJECT_DIR
from mlops_provider.stack.compose import Compose, Loopback, StackError, image_paths
from mlops_provider.stack.hostname import WORKER_NAME_ENV

BIN = Path(sys.executable).parent
IMAGE_AIRFLOW_HOME = "/opt/airflow"
DB_USER = "postgres"  # the system account of Debian's postgresql package
SYSTEM_PACKAGES = ("postgresql", "redis-server")
# MLflow's artifacts go to a local folder through its artifact proxy instead of MinIO's S3
S3_ONLY = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one stack, kept in `stack.json` so a restart reuses them."""

    postgres: int
    redis: int
    mlflow: int
    airflow: int
    scheduler_health: int
    triggerer_log: int
    worker_log: tuple[int, ...]


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_system_packages() -> None:
    """Install PostgreSQL and Redis from the operating system's packages (apt) when their servers are missing."""
    if postgres_bin("initdb", required=False) and shutil.which("redis-server"):
        return
    if not (is_root() and shutil.which("apt-get")):
        raise StackError(f"PostgreSQL and Redis servers are needed: install the packages {' '.join(SYSTEM_PACKAGES)} "
                         "(as root: apt-get install -y --no-install-recommends postgresql redis-server)")
    print("[stack] installing PostgreSQL and Redis from the system packages (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *SYSTEM_PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise StackError(f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr[-1500:]}")


def postgres_bin(name: str, required: bool = True) -> str | None:
    """The newest installed PostgreSQL's program `name` (Debian keeps them in /usr/lib/postgresql/<major>/bin).

    :param name: `initdb`, `postgres`, `pg_isready`, ...
    :param required: raise StackError when it is missing, instead of returning None.
    """
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    path = found[-1] if found else shutil.which(name)
    if path is None and required:
        raise StackError(f"PostgreSQL's {name} not found (install the package postgresql)")
    return path


def as_db_user(cmd: list[str]) -> list[str]:
    """`cmd` run as the `postgres` account when we are root (PostgreSQL refuses root), else as ourselves.

    :param cmd: the command.
    """
    return ["runuser", "-u", DB_USER, "--", *cmd] if is_root() else cmd


def give_to_db_user(path: Path) -> None:
    """Make `path` (a folder of the stack) the `postgres` account's, mode 700, when we are root.

    :param path: the data or socket folder.
    """
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    own_by_db_user(path)
    if is_root():
        probe = subprocess.run(as_db_user(["test", "-w", str(path)]), capture_output=True)
        if probe.returncode:
            raise StackError(f"the {DB_USER} account cannot reach {path}: every folder above it must be "
                             "searchable by others (mode o+x); choose a --dir outside a private folder")


def own_by_db_user(path: Path) -> None:
    """Hand `path` to the `postgres` account when we are root (else it is ours already).

    :param path: a file or folder of the stack.
    """
    if is_root():
        shutil.chown(path, DB_USER, DB_USER)


def base_env() -> dict[str, str]:
    """The environment every process starts from: the caller's, without its Airflow, MLflow, MLOps, Postgres,
    Redis or AWS settings, with this interpreter's tools first on PATH and this checkout's package importable."""
    drop = ("AIRFLOW", "MLFLOW_", "MLOPS_", "PG", "REDIS", "AWS_", "POSTGRES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(INCLUDE_DIR), env.get("PYTHONPATH")) if p)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def loopback(compose: Compose, service: str, folder: Path, ports: Ports) -> Loopback:
    """The hosts and paths of `service`'s container on this machine: named volumes under `DIR/volumes/`, bind
    mounts mirrored under `DIR/mounts/<service>/` (their text with hosts and paths made local), and the image's
    copies of the project (Dockerfile COPY) as the project itself.

    :param compose: the compose file.
    :param service: the compose service.
    :param folder: the stack's folder.
    :param ports: the stack's ports.
    """
    hosts = {"postgres": ports.postgres, "redis": ports.redis, "mlflow": ports.mlflow,
             "airflow-apiserver": ports.airflow}
    # the image's AIRFLOW_HOME is /opt/airflow: what no volume or COPY covers there is in the local AIRFLOW_HOME
    paths: dict[str, Path] = {IMAGE_AIRFLOW_HOME: folder / "airflow", **image_paths()}
    binds: list[tuple[Path, Path]] = []
    for source, inside in compose.volumes(service):
        if source.startswith((".", "/")):
            mirror = folder / "mounts" / service / inside.lstrip("/")
            binds.append(((PROJECT_DIR / source).resolve(), mirror))
            paths[inside] = mirror
        else:
            paths[inside] = folder / "volumes" / source
    view = Loopback(ports=hosts, paths=paths)
    for local_source, mirror in binds:
        _mirror(local_source, mirror, view)
    return view


def _mirror(source: Path, target: Path, view: Loopback) -> None:
    """Copy the file or folder `source` to `target`, its text with hosts and container paths made local."""
    if source.is_dir():
        for child in source.iterdir():
            if child.name != "__pycache__":
                _mirror(child, target / child.name, view)
        return
    if not source.exists():
        raise StackError(f"the compose file mounts {source}, which does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(view.rewrite(source.read_text()))
    target.chmod(source.stat().st_mode & 0o755)


def service_env(compose: Compose, service: str, view: Loopback) -> dict[str, str]:
    """The environment compose gives `service`, its hosts and paths made local, on top of `base_env()`.

    :param compose: the compose file.
    :param service: the compose service.
    :param view: the service's `loopback`.
    """
    return {**base_env(), **{k: view.rewrite(v) for k, v in compose.environment(service).items()}}


def airflow_env(compose: Compose, service: str, folder: Path, ports: Ports, worker: int | None = None,
                models_dir: Path | None = None) -> dict[str, str]:
    """The environment of an Airflow component: compose's, plus what the image and the container network gave
    it (AIRFLOW_HOME, DAG and plugin folders, the log folder on its volume, loopback ports of its servers).

    :param compose: the compose file.
    :param service: `airflow-apiserver`, `airflow-scheduler`, ..., `airflow-worker`, `airflow-init`.
    :param folder: the stack's folder.
    :param ports: the stack's ports.
    :param worker: the worker's number (1..N) for `airflow-worker`: its own log server port and hostname.
    :param models_dir: model configs other than the project's `include/models`.
    """
    view = loopback(compose, service, folder, ports)
    env = service_env(compose, service, view)
    env.update({
        "AIRFLOW_HOME": str(view.local_path(IMAGE_AIRFLOW_HOME)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(view.local_path("/opt/airflow/dags")),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(view.local_path("/opt/airflow/plugins")),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "volumes" / "airflow-logs"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.airflow),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{ports.airflow}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.triggerer_log),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_log[0]),
    })
    if models_dir is not None:
        env["MLOPS_MODELS_DIR"] = str(models_dir)
    if worker is not None:
        # one machine, one hostname: each worker names itself, so task instances record which one ran them
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(ports.worker_log[worker - 1])
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "mlops_provider.stack.hostname.worker_hostname"
        env[WORKER_NAME_ENV] = worker_name(worker)
    return env


def worker_name(worker: int) -> str:
    return f"worker-{worker}"


def airflow_command(compose: Compose, service: str) -> list[str]:
    """The service's command as the image's entrypoint runs it: `airflow <command>` for a component, the command
    itself for a script (`bash /opt/airflow/docker/init.sh`, paths made local by the caller).

    :param compose: the compose file.
    :param service: the compose service.
    """
    command = compose.command(service)
    if command and command[0] in ("bash", "python"):
        return command
    return [str(BIN / "airflow"), *command]


def mlflow_command(compose: Compose, view: Loopback, folder: Path, port: int) -> list[str]:
    """The `mlflow` service's command on loopback, its artifacts in `DIR/volumes/mlflow-artifacts`.

    :param compose: the compose file.
    :param view: the mlflow service's `loopback`.
    :param folder: the stack's folder.
    :param port: MLflow's local port.
    """
    local = {"--host": "127.0.0.1", "--port": str(port),
             "--artifacts-destination": str(folder / "volumes" / "mlflow-artifacts")}
    command = [view.rewrite(arg) for arg in compose.command("mlflow")]
    for option, value in local.items():
        if option not in command:
            raise StackError(f"the compose service mlflow has no {option} (docker-compose.yaml)")
        command[command.index(option) + 1] = value
    return [str(BIN / command[0]), *command[1:]]


def mlflow_env(compose: Compose, view: Loopback) -> dict[str, str]:
    """The `mlflow` service's environment without its S3 (MinIO) settings.

    :param compose: the compose file.
    :param view: the mlflow service's `loopback`.
    """
    return {k: v for k, v in service_env(compose, "mlflow", view).items() if k not in S3_ONLY}


def redis_config(compose: Compose, folder: Path, port: int) -> Path:
    """Redis's config file (mode 600: it holds the password compose passes with `--requirepass`).

    :param compose: the compose file.
    :param folder: the stack's folder.
    :param port: Redis's local port.
    """
    password = compose.environment("redis").get("REDIS_PASSWORD")
    if not password:
        raise StackError("docker-compose.yaml: the service redis has no REDIS_PASSWORD")
    data = folder / "volumes" / "redis"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "secrets" / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f'bind 127.0.0.1\nport {port}\nrequirepass "{password}"\ndir "{data}"\nsave ""\n'
                  "appendonly no\nprotected-mode yes\n")
    return path
