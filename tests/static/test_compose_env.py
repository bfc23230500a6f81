"""Secrets of the compose stack: .env stays out of git, docker/init-env.sh fills it; `docker compose config`."""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.stack_files import SECRET_NAME, read_env_file


def test_env_file_is_ignored_by_git() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", ".env"], cwd=ROOT, timeout=10)
    assert ignored.returncode == 0, ".env holds the stack's secrets: add `.env` to .gitignore"
    example = subprocess.run(["git", "check-ignore", "--no-index", "-q", ".env.example"], cwd=ROOT, timeout=10)
    assert example.returncode == 1, ".env.example must stay committed"


@pytest.fixture
def generated_env(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    target = tmp_path / ".env"
    result = subprocess.run(["bash", str(ROOT / "docker/init-env.sh"), str(target)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return target


def test_init_env_fills_every_secret_with_a_fresh_value(generated_env: Path, env_example: dict[str, str]) -> None:
    values = read_env_file(generated_env)
    assert set(values) == set(env_example)
    secrets = {name: values[name] for name in values if SECRET_NAME.search(name)}
    assert len(secrets) >= 10 and all(secrets.values())
    assert len(set(secrets.values())) == len(secrets), "every secret must be different"
    for name, value in secrets.items():
        assert len(value) >= 12, f"{name}: MLflow wants 12 characters at least"
        url_safe = value.rstrip("=") if name == "AIRFLOW_FERNET_KEY" else value
        assert url_safe.replace("-", "").replace("_", "").isalnum(), f"{name}: not URL-safe"
    assert len(base64.urlsafe_b64decode(values["AIRFLOW_FERNET_KEY"])) == 32
    for name, value in env_example.items():
        if name not in secrets:
            assert values[name] == value, f"{name}: non-secret values are copied as they are"
    assert stat.S_IMODE(os.stat(generated_env).st_mode) == 0o600


def test_init_env_never_overwrites_an_existing_env(generated_env: Path) -> None:
    before = generated_env.read_text()
    result = subprocess.run(["bash", str(ROOT / "docker/init-env.sh"), str(generated_env)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and "not overwriting" in result.stderr
    assert generated_env.read_text() == before


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_file(generated_env: Path) -> None:
    result = subprocess.run(["docker", "compose", "--env-file", str(generated_env), "-f",
                             str(ROOT / "docker-compose.yaml"), "config", "-q"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_no_credential_in_the_stack_files() -> None:
    files = [ROOT / name for name in ("docker-compose.yaml", ".env.example", "Dockerfile", ".dockerignore")]
    files += [path for path in (ROOT / "docker").rglob("*") if path.is_file()]
    assert len(files) >= 12
    patterns = {
        "an AWS access key id": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
        "a private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        # `...password: value` / `...PASSWORD=value`; not a ${reference}, a path, code or psql's :'var'
        "a password literal": (r"(?i)(?<!\{)\b\w*password\b[ \t]*(?:=|:(?!'))[ \t]*['\"]?"
                               r"(?![$/'\"\s]|os\.)[^\s'\"#]{4,}"),
    }
    for path in files:
        text = path.read_text()
        for what, pattern in patterns.items():
            found = re.search(pattern, text, re.M)
            assert found is None, f"{path.relative_to(ROOT)}: looks like {what}: {found.group(0)!r}"
        for token in re.findall(r"[A-Za-z0-9+/_-]{24,}", text):
            digits, letters = sum(c.isdigit() for c in token), sum(c.isalpha() for c in token)
            assert digits < 4 or letters < 4, f"{path.relative_to(ROOT)}: looks like a random secret: {token!r}"
