"""Dockerfile and docker/mlflow/Dockerfile: pinned to what requirements.txt tests, the project baked in."""

from __future__ import annotations

import re
import tomllib

from tests.helpers.paths import ROOT
from tests.helpers.stack_files import SECRET_NAME


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def _instructions(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / path).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_base_image_matches_the_pinned_airflow_and_python() -> None:
    airflow = _pins()["apache-airflow"]
    makefile_python = re.search(r"^PYTHON \?= python(3\.\d+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_python, "Makefile: PYTHON ?= python3.X"
    python = makefile_python.group(1)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={python}"
    steps = _instructions("Dockerfile")
    assert steps[0] == ("FROM", f"apache/airflow:{airflow}-python{python}")
    assert ("ARG", f"AIRFLOW_VERSION={airflow}") in steps


def test_requirements_then_the_package_editable_then_the_project() -> None:
    steps = _instructions("Dockerfile")

    def index(instruction: str, fragment: str) -> int:
        found = [i for i, (name, args) in enumerate(steps) if name == instruction and fragment in args]
        assert found, f"Dockerfile: no {instruction} with {fragment!r}"
        return found[0]

    requirements = index("COPY", "requirements.txt")
    install = index("RUN", '"apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt')
    metadata = index("COPY", "pyproject.toml README.md /opt/airflow/")
    include = index("COPY", "include/ /opt/airflow/include/")
    editable = index("RUN", "pip install --no-cache-dir --no-deps -e .")
    dags = index("COPY", "dags/ /opt/airflow/dags/")
    plugins = index("COPY", "plugins/ /opt/airflow/plugins/")
    assert requirements < install < metadata < include < editable < dags and editable < plugins
    assert ("WORKDIR", "/opt/airflow") in steps[:editable]
    assert "USER" not in {name for name, _ in steps}, "stay the base image's airflow user (pip --user installs)"
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert setuptools["where"] == ["include"], "the editable install maps mlops_provider from include/"


def test_no_secret_baked_into_an_image() -> None:
    for path in ("Dockerfile", "docker/mlflow/Dockerfile"):
        for name, args in _instructions(path):
            if name in {"ENV", "ARG"}:
                assert not SECRET_NAME.search(args.split("=")[0].split()[0]), f"{path}: {name} {args}"


def test_mlflow_image_pins_the_mlflow_of_requirements() -> None:
    pins = _pins()
    steps = _instructions("docker/mlflow/Dockerfile")
    assert ("ARG", f"MLFLOW_VERSION={pins['mlflow']}") in steps
    install = next(args for name, args in steps if name == "RUN" and "pip install" in args)
    assert '"mlflow[auth]==${MLFLOW_VERSION}"' in install, "the basic-auth app needs the auth extra"
    assert f'"boto3=={pins["boto3"]}"' in install
    assert "psycopg2-binary==" in install
    users = [args for name, args in steps if name == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the tracking server must not run as root"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".env.*", ".git", ".venv", ".demo", "**/*.egg-info"} <= ignored
    assert not ignored & {"include", "dags", "plugins", "requirements.txt", "pyproject.toml", "README.md"}
