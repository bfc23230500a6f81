"""The local stack's configuration, taken from the compose stack's own files: `docker-compose.yaml` interpolated
with a `.env`, container hosts and paths mapped to loopback ports and local folders (no process started)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_provider.stack.compose import Compose, Loopback, StackError, image_paths, interpolate, read_env_file
from mlops_provider.stack.services import Ports, airflow_env, loopback, mlflow_command, mlflow_env, redis_config
from tests.helpers.paths import ROOT

PORTS = Ports(postgres=15432, redis=16379, mlflow=15000, airflow=18080, scheduler_health=18974,
              triggerer_log=18794, worker_log=(18793, 18795))
CONTAINER_HOSTS = re.compile(r"(//|@)(postgres|redis|mlflow|airflow-apiserver|minio)\b")


@pytest.fixture
def compose(tmp_path: Path) -> Compose:
    """The compose file with `.env.example`, every empty secret filled as docker/init-env.sh would."""
    lines = [f"{line}secret-{n}" if re.fullmatch(r"[A-Z0-9_]+=", line) else line
             for n, line in enumerate((ROOT / ".env.example").read_text().splitlines())]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    return Compose.load(env_file)


def test_interpolation_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}/$${SET}", env, "s") == "v/d//d/${SET}"
    assert interpolate({"k": ["${SET:+alt}", "${EMPTY:+alt}"]}, env, "s") == {"k": ["alt", ""]}
    with pytest.raises(StackError, match=r"service airflow-worker: EMPTY is unset in .env \(set it\)"):
        interpolate("${EMPTY:?set it}", env, "airflow-worker")


def test_an_env_line_without_equals_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nA=1\nB\n")
    with pytest.raises(StackError, match=r"\.env:3: not KEY=VALUE"):
        read_env_file(path)


def test_the_image_paths_come_from_the_dockerfile() -> None:
    paths = image_paths()
    assert paths["/opt/airflow/dags"] == ROOT / "dags"
    assert paths["/opt/airflow/plugins"] == ROOT / "plugins"
    assert paths["/opt/airflow/airflow_settings.yaml"] == ROOT / "airflow_settings.yaml"
    assert paths["/opt/airflow/pyproject.toml"] == ROOT / "pyproject.toml", "COPY a b /dir/ puts a in /dir/"


def test_rewrite_maps_hosts_with_or_without_port_and_the_longest_path() -> None:
    view = Loopback(ports={"postgres": 1, "redis": 2}, paths={"/opt/a": Path("/x"), "/opt/a/b": Path("/y")})
    assert view.rewrite("pg://u:p@postgres/db redis://:p@redis:6379/0") == "pg://u:p@127.0.0.1:1/db redis://:p@127.0.0.1:2/0"
    assert view.rewrite("/opt/a/b/c /opt/a/d /opt/ab") == "/y/c /x/d /opt/ab"
    assert view.rewrite("redisx://postgresql") == "redisx://postgresql", "only whole host names"


def test_airflow_components_get_compose_settings_on_loopback(compose: Compose, tmp_path: Path) -> None:
    env = airflow_env(compose, "airflow-scheduler", tmp_path, PORTS)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:15432/airflow")
    assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@127.0.0.1:16379/0")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == compose.env["AIRFLOW_FERNET_KEY"]
    assert env["MLOPS_DATA_DIR"] == str(tmp_path / "volumes" / "mlops-data")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    from_compose = {k: env[k] for k in compose.environment("airflow-scheduler")}
    leftovers = {k: v for k, v in from_compose.items() if CONTAINER_HOSTS.search(v) or v.startswith("/opt/")}
    assert not leftovers, f"container hosts or paths left: {sorted(leftovers)}"
    assert "AIRFLOW_ADMIN_PASSWORD" not in env, "only airflow-init gets the admin password"


def test_each_worker_has_its_own_name_and_log_port(compose: Compose, tmp_path: Path) -> None:
    first, second = (airflow_env(compose, "airflow-worker", tmp_path, PORTS, worker=n) for n in (1, 2))
    assert (first["MLOPS_STACK_WORKER"], second["MLOPS_STACK_WORKER"]) == ("worker-1", "worker-2")
    assert first["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "mlops_provider.stack.hostname.worker_hostname"
    assert (first["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"], second["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]) \
        == ("18793", "18795")


def test_mlflow_runs_the_compose_command_on_loopback_without_s3(compose: Compose, tmp_path: Path) -> None:
    view = loopback(compose, "mlflow", tmp_path, PORTS)
    command = mlflow_command(compose, view, tmp_path, PORTS.mlflow)
    options = {arg: command[i + 1] for i, arg in enumerate(command[:-1]) if arg.startswith("--")}
    assert command[1:4] == ["server", "--app-name", "basic-auth"]
    assert (options["--host"], options["--port"]) == ("127.0.0.1", "15000")
    assert options["--backend-store-uri"] == "postgresql+psycopg2://mlflow@127.0.0.1:15432/mlflow"
    assert options["--artifacts-destination"] == str(tmp_path / "volumes" / "mlflow-artifacts")
    env = mlflow_env(compose, view)
    assert not {k for k in env if k.startswith("AWS_") or k == "MLFLOW_S3_ENDPOINT_URL"}
    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"])
    assert config.is_relative_to(tmp_path), "the mounted basic_auth.ini is mirrored, its database made local"
    assert "database_uri = postgresql+psycopg2://mlflow@127.0.0.1:15432/mlflow_auth" in config.read_text()


def test_airflow_init_runs_the_compose_script_with_local_paths(compose: Compose, tmp_path: Path) -> None:
    view = loopback(compose, "airflow-init", tmp_path, PORTS)
    script = view.local_path("/opt/airflow/docker/init.sh")
    text = script.read_text()
    assert not re.search(r"(?<![\w/-])/opt/airflow", text), "every container path is local"
    assert f"mlops settings apply {ROOT / 'airflow_settings.yaml'}" in text
    overrides = script.parent / "airflow_settings.compose.yaml"
    assert "conn_host: http://127.0.0.1:15000" in overrides.read_text()
    assert "${MLFLOW_SERVICE_PASSWORD}" in overrides.read_text(), "placeholders are filled by render_settings.py"


def test_redis_password_stays_in_a_private_file(compose: Compose, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    path = redis_config(compose, tmp_path, PORTS.redis)
    assert path.stat().st_mode & 0o777 == 0o600
    assert f'requirepass "{compose.env["REDIS_PASSWORD"]}"' in path.read_text()
    assert "port 16379" in path.read_text()
