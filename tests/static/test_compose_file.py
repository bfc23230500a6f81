"""docker-compose.yaml, checked statically: services, health ordering, Airflow settings, exposure, secrets."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.stack_files import (
    AIRFLOW_SERVICES,
    COMPOSE_VARIABLE,
    ONE_SHOT,
    REQUIRED_REFERENCE,
    SECRET_NAME,
)

EXPECTED_SERVICES = {
    "postgres", "redis", "minio", "minio-init", "mlflow", "mlflow-init", "airflow-init", "airflow-apiserver",
    "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "airflow-cli",
    "model-server",
}
PUBLISHED = {"airflow-apiserver", "mlflow", "model-server"}


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _healthcheck(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def _host_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Bind mounts of the service: container path -> host path (relative to the repository)."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, _, rest = volume.partition(":")
        if host.startswith("./"):
            mounts[rest.split(":")[0]] = host[2:]
    return mounts


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == EXPECTED_SERVICES


def test_long_running_services_have_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert service.get("restart") == "always", f"{name}: a long-running service should restart"


def test_one_shot_jobs_run_once(services: dict[str, Any]) -> None:
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name}: a one-shot job must not restart"
        assert "healthcheck" not in services[name], name


def test_depends_on_waits_for_health_or_completion(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must give a condition per service"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {target}: condition {spec.get('condition')}"
            if expected == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"


def test_airflow_components_share_one_configuration(compose: dict[str, Any], services: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["AIRFLOW__CORE__AUTH_MANAGER"] == (
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert common["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert common["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert REQUIRED_REFERENCE.match(common[key]), f"{key} must come from .env: {common[key]!r}"
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        for key, value in common.items():
            assert environment.get(key) == value, f"{name}: {key} differs from x-airflow-common"


def test_airflow_images_are_built_from_the_dockerfile(compose: dict[str, Any], services: dict[str, Any]) -> None:
    image = compose["x-airflow-image"]
    assert image["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    for name in (*AIRFLOW_SERVICES, "model-server"):
        assert services[name]["image"] == image["image"], name
        assert services[name]["build"] == image["build"], name


def test_every_locally_built_image_is_built_where_it_is_used(services: dict[str, Any]) -> None:
    builds = {service["image"]: service["build"] for service in services.values() if "build" in service}
    assert len(builds) == 2, "the Airflow image and the MLflow image"
    for name, service in services.items():
        if service.get("image") in builds:
            # compose would try to pull a local-only tag for a service without `build`
            assert service.get("build") == builds[service["image"]], name
    for build in builds.values():
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_airflow_healthchecks_follow_the_official_file(services: dict[str, Any]) -> None:
    expected = {
        "airflow-apiserver": "curl --fail http://localhost:8080/api/v2/version",
        "airflow-scheduler": "curl --fail http://localhost:8974/health",
        "airflow-dag-processor": 'airflow jobs check --job-type DagProcessorJob --hostname "$${HOSTNAME}"',
        "airflow-triggerer": 'airflow jobs check --job-type TriggererJob --hostname "$${HOSTNAME}"',
        "airflow-worker": 'inspect ping -d "celery@$${HOSTNAME}"',
    }
    commands = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                "airflow-worker": "celery worker"}
    for name, fragment in expected.items():
        assert fragment in _healthcheck(services[name]), f"{name}: {_healthcheck(services[name])}"
        assert _command(services[name]) == commands[name], name


def test_the_worker_scales_out(compose_text: str, services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert "container_name:" not in compose_text, "a fixed container name stops `--scale` and parallel stacks"
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"


def test_published_ports_bind_to_loopback_only(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == PUBLISHED
    for name in published:
        for port in services[name]["ports"]:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port!r} is not loopback"
    for name in ("postgres", "redis", "minio"):
        assert "ports" not in services[name], f"{name} must stay inside the compose network"


def test_no_secret_literal_in_the_file(compose_text: str, services: dict[str, Any]) -> None:
    checked = 0
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAME.search(key):
                assert REQUIRED_REFERENCE.match(value), f"{name}: {key} must be ${{VAR:?...}} from .env: {value!r}"
                checked += 1
            if value.startswith("{"):
                password = json.loads(value).get("password")
                assert password is None or REQUIRED_REFERENCE.match(password), f"{name}: {key} has a password"
    assert checked >= 15
    urls = re.findall(r"://([^:/@\s\"]*):(\$\{[^}]*\}|[^@\s]*)@", compose_text)
    assert urls, "expected the database and broker URLs"
    for _user, password in urls:
        assert REQUIRED_REFERENCE.match(password), f"credential literal in a URL: {password!r}"


def test_every_variable_is_documented_in_env_example(compose_text: str, env_example: dict[str, str]) -> None:
    used = COMPOSE_VARIABLE.findall(compose_text)
    assert used
    for name, operator, argument in used:
        assert name in env_example, f"${{{name}}} is used in docker-compose.yaml but missing from .env.example"
        if SECRET_NAME.search(name):
            assert operator == ":?", f"secret ${{{name}}} must be required (`:?`), never defaulted"
        else:
            assert operator == ":-", f"${{{name}}} needs a default (`:-`) like .env.example's"
            assert argument == env_example[name], f"${{{name}}}: default {argument!r} != .env.example's"
    bare = re.findall(r"(?<!\$)\$(?!\$|\{)[A-Za-z_]\w*", compose_text)
    assert not bare, f"unbraced variables (compose interpolates them; escape as $$): {bare}"


def test_env_example_keeps_secrets_empty_and_has_no_stale_keys(compose_text: str,
                                                                env_example: dict[str, str]) -> None:
    used = {name for name, _, _ in COMPOSE_VARIABLE.findall(compose_text)}
    secrets = {name for name in env_example if SECRET_NAME.search(name)}
    assert len(secrets) >= 10
    for name in secrets:
        assert env_example[name] == "", f".env.example must not carry a value for the secret {name}"
    assert set(env_example) <= used, f"unused in docker-compose.yaml: {sorted(set(env_example) - used)}"


def test_bind_mounts_exist(services: dict[str, Any]) -> None:
    mounts = [(name, host) for name, service in services.items() for host in _host_mounts(service).values()]
    assert len(mounts) >= 5
    for name, host in mounts:
        assert (ROOT / host).exists(), f"{name}: bind mount ./{host} does not exist"


def test_mlflow_runs_basic_auth_on_postgres_with_s3_artifacts(services: dict[str, Any]) -> None:
    mlflow = services["mlflow"]
    command = mlflow["command"]
    option = {flag: command[i + 1] for i, flag in enumerate(command[:-1]) if flag.startswith("--")}
    assert command[:2] == ["mlflow", "server"]
    assert option["--app-name"] == "basic-auth"
    assert option["--port"] == "5000", "the port of mlflow_default's http://mlflow:5000"
    assert option["--backend-store-uri"] == "postgresql+psycopg2://mlflow@postgres:5432/mlflow"
    assert option["--artifacts-destination"] == "s3://${MLFLOW_ARTIFACTS_BUCKET:-mlflow-artifacts}/"
    environment = mlflow["environment"]
    assert environment["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    for key in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY"):
        assert REQUIRED_REFERENCE.match(environment[key]), key
    ini_path = _host_mounts(mlflow)[environment["MLFLOW_AUTH_CONFIG_PATH"]]
    ini = configparser.ConfigParser()
    ini.read(ROOT / ini_path)
    assert ini["mlflow"]["database_uri"] == "postgresql+psycopg2://mlflow@postgres:5432/mlflow_auth"
    assert "admin_password" not in ini["mlflow"], "the admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD"
    init_sql = (ROOT / "docker/postgres/init-mlflow-db.sh").read_text()
    for database in ("mlflow", "mlflow_auth"):
        assert f"CREATE DATABASE {database} OWNER mlflow;" in init_sql
    assert "/docker-entrypoint-initdb.d/init-mlflow-db.sh" in _host_mounts(services["postgres"])


def test_minio_init_creates_the_bucket_mlflow_writes_to(services: dict[str, Any]) -> None:
    job = services["minio-init"]
    assert job["depends_on"] == {"minio": {"condition": "service_healthy"}}
    bucket = job["environment"]["MLFLOW_ARTIFACTS_BUCKET"]
    assert services["mlflow"]["command"][services["mlflow"]["command"].index("--artifacts-destination") + 1] == (
        f"s3://{bucket}/")
    assert job["environment"]["MLFLOW_S3_ACCESS_KEY"] == services["mlflow"]["environment"]["AWS_ACCESS_KEY_ID"]
    script = (ROOT / _host_mounts(job)[job["entrypoint"][-1]]).read_text()
    assert 'mc mb --ignore-existing "stack/$MLFLOW_ARTIFACTS_BUCKET"' in script
    assert 'mc anonymous set none "stack/$MLFLOW_ARTIFACTS_BUCKET"' in script


def test_airflow_init_migrates_then_applies_the_settings(services: dict[str, Any]) -> None:
    init = services["airflow-init"]
    mounts = _host_mounts(init)
    script_path = init["command"][-1]
    folder = next(inside for inside in mounts if script_path.startswith(inside + "/"))
    script = (ROOT / mounts[folder] / script_path[len(folder) + 1:]).read_text()
    steps = ["airflow db migrate", "mlops settings apply /opt/airflow/airflow_settings.yaml",
             "render_settings.py /opt/airflow/docker/airflow_settings.compose.yaml", 'mlops settings apply "$rendered"']
    positions = [script.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "COPY --chown=airflow:0 airflow_settings.yaml /opt/airflow/airflow_settings.yaml" in (
        ROOT / "Dockerfile").read_text()
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == "${AIRFLOW_ADMIN_PASSWORD:?set it in .env}"
    assert "airflow-auth:/opt/airflow/auth" in init["volumes"]
    assert "airflow-auth:/opt/airflow/auth" in services["airflow-apiserver"]["volumes"]


def test_model_server_runs_mlops_serve_for_a_configured_model(services: dict[str, Any],
                                                              env_example: dict[str, str]) -> None:
    server = services["model-server"]
    assert server["entrypoint"][-1] == "mlops"
    assert server["command"][:2] == ["serve", "${MLOPS_SERVE_MODEL:-credit_default}"]
    assert (ROOT / "include/models" / f"{env_example['MLOPS_SERVE_MODEL']}.yaml").is_file()
    assert "/health" in _healthcheck(server)
    assert server["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "mlops-data:/opt/airflow/data" in server["volumes"], "the drift monitor reads the inference log it writes"
    assert "mlops-data:/opt/airflow/data" in services["airflow-worker"]["volumes"]


def production_section_services(readme: str) -> set[str] | None:
    """Services named in the first column of the tables of README's "Running in production" (None: no section)."""
    match = re.search(r"^## Running in production\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if match is None:
        return None
    first_cells = [line.split("|")[1] for line in match.group(1).splitlines() if line.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}


def test_readme_names_exactly_the_services_of_the_stack(services: dict[str, Any]) -> None:
    named = production_section_services((ROOT / "README.md").read_text())
    if named is None:
        pytest.skip("README.md has no 'Running in production' section yet")
    assert named == set(services), f"README only: {named - set(services)}; undocumented: {set(services) - named}"


FAKE_MC = """#!/bin/sh
echo "$*" >> "$MC_LOG"
case "$*" in
  "admin policy attach"*)
    [ -n "${MC_ATTACH_ERROR:-}" ] && { echo "mc: <ERROR> $MC_ATTACH_ERROR" >&2; exit 1; } ;;
esac
exit 0
"""


def test_minio_init_is_idempotent_and_limits_mlflow_to_its_bucket(tmp_path: Path) -> None:
    if shutil.which("sh") is None:
        pytest.skip("no POSIX sh")
    (tmp_path / "mc").write_text(FAKE_MC)
    (tmp_path / "mc").chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "TMPDIR": str(tmp_path), "MC_LOG": str(tmp_path / "log"),
           "MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "x" * 12, "MLFLOW_ARTIFACTS_BUCKET": "artifacts",
           "MLFLOW_S3_ACCESS_KEY": "mlflow", "MLFLOW_S3_SECRET_KEY": "y" * 12}

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(ROOT / "docker/minio/minio-init.sh")], env={**env, **extra},
                              capture_output=True, text=True, timeout=30)

    first = run()
    assert first.returncode == 0, first.stderr
    log = (tmp_path / "log").read_text()
    assert "mb --ignore-existing stack/artifacts" in log and "anonymous set none stack/artifacts" in log
    policy = json.loads((tmp_path / "mlflow-artifacts-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::artifacts", "arn:aws:s3:::artifacts/*"}
    assert run(MC_ATTACH_ERROR="The specified policy change is already in effect.").returncode == 0
    failed = run(MC_ATTACH_ERROR="Access Denied.")
    assert failed.returncode == 1 and "Access Denied" in failed.stderr


def test_mlflow_remembers_a_verified_login_briefly() -> None:
    """Without the credential cache every MLflow request hashes the password (scrypt, ~0.1 s of CPU), ~130 times
    per model in a training run (bench/scale_limits.py); the cache must stay short, as it delays a revocation."""
    config = configparser.ConfigParser()
    config.read(ROOT / "docker" / "mlflow" / "basic_auth.ini")
    assert 0 < config.getint("mlflow", "auth_cache_ttl_seconds") <= 300
