"""What the compose stack says, read from its own files: `docker-compose.yaml` (services, environment, commands,
volumes), the `.env` it interpolates, and the Dockerfile's COPY lines (where the image keeps the project).

`Loopback` maps the containers' view to this machine: a service host (`postgres`, `redis`, `mlflow`,
`airflow-apiserver`, with or without its container port) becomes `127.0.0.1:<local port>`, a container path
(volumes, bind mounts, the image's copies of the project) becomes a local path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_provider.exceptions import MlopsError
from mlops_provider.settings import PROJECT_DIR

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yaml"
DOCKERFILE = PROJECT_DIR / "Dockerfile"
# `$$` (an escaped `$`), `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`, `${NAME:+alt}`
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


class StackError(MlopsError):
    """The local stack could not be set up or started; the message names the file, key or process (and log)."""


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a dotenv file (comments and blank lines skipped).

    :param path: the `.env` file.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise StackError(f"{path}:{number}: not KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    """`value` (a parsed YAML node) with compose's `${...}` variables filled from `env`, as `docker compose` does.

    :param value: a string, list or dict from the compose file.
    :param env: the `.env` values.
    :param where: the service, for the error naming a required variable that is unset.
    """
    if isinstance(value, dict):
        return {k: interpolate(v, env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, where) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        present = bool(current) if op and op.startswith(":") else current is not None
        if op in (":?", "?") and not present:
            raise StackError(f"{COMPOSE_FILE.name}, service {where}: {name} is unset in .env ({arg})")
        if op in (":-", "-"):
            return current if present and current is not None else arg
        if op in (":+", "+"):
            return arg if present else ""
        return current or ""

    return _VARIABLE.sub(fill, value)


def image_paths(dockerfile: Path = DOCKERFILE) -> dict[str, Path]:
    """Where the image keeps the project's files: the container path of each `COPY` source, mapped to the local
    file or folder it was copied from.

    :param dockerfile: the Airflow image's Dockerfile.
    """
    paths: dict[str, Path] = {}
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        *sources, target = args
        for source in sources:
            # `COPY dir/ /x/dir/` and `COPY f /x/f` name the target; `COPY a b /x/` puts a and b in /x/
            inside = target if source.endswith("/") or not target.endswith("/") else target + Path(source).name
            paths[inside.rstrip("/")] = dockerfile.parent / source.rstrip("/")
    return paths


@dataclass
class Compose:
    """The parsed compose file and the `.env` it is interpolated with."""

    env: dict[str, str]
    document: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, env_file: Path, compose_file: Path = COMPOSE_FILE) -> Compose:
        """Read `compose_file` (YAML anchors and `<<` merges resolved) and `env_file`.

        :param env_file: the `.env` written by `docker/init-env.sh`.
        :param compose_file: `docker-compose.yaml`.
        """
        return cls(env=read_env_file(env_file), document=yaml.safe_load(compose_file.read_text()))

    def service(self, name: str) -> dict[str, Any]:
        """The definition of service `name`, interpolated.

        :param name: a service of the compose file.
        """
        try:
            raw = self.document["services"][name]
        except KeyError:
            raise StackError(f"{COMPOSE_FILE.name}: no service {name!r}") from None
        return dict(interpolate(raw, self.env, name))

    def environment(self, name: str) -> dict[str, str]:
        """The environment compose gives service `name` (a list `KEY=VALUE` or a mapping), interpolated.

        :param name: a service of the compose file.
        """
        environment = self.service(name).get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}

    def command(self, name: str) -> list[str]:
        """The command of service `name` as a list of arguments (a string command is split on spaces).

        :param name: a service of the compose file.
        """
        command = self.service(name).get("command") or []
        return command.split() if isinstance(command, str) else [str(c) for c in command]

    def volumes(self, name: str) -> list[tuple[str, str]]:
        """(source, container path) of each volume of service `name`: a named volume or a `./` bind mount.

        :param name: a service of the compose file.
        """
        return [(v.split(":")[0], v.split(":")[1]) for v in self.service(name).get("volumes") or []]


@dataclass
class Loopback:
    """The containers' hosts and paths as they are on this machine.

    :param ports: local port of each service host (`postgres`, `redis`, `mlflow`, `airflow-apiserver`).
    :param paths: local path of each container path (the longest matching prefix wins).
    """

    ports: dict[str, int]
    paths: dict[str, Path]

    def rewrite(self, text: str) -> str:
        """`text` with every service host (`//host[:port]`, `@host[:port]`) and container path made local.

        :param text: a URL, an environment value, or a whole file mounted into a container.
        """
        if self.ports:
            hosts = "|".join(re.escape(h) for h in sorted(self.ports, key=len, reverse=True))
            text = re.sub(rf"(//|@)({hosts})(?::\d+)?(?=[/?#\s\"']|$)",
                          lambda m: f"{m.group(1)}127.0.0.1:{self.ports[m.group(2)]}", text)
        if self.paths:
            inside = "|".join(re.escape(p) for p in sorted(self.paths, key=len, reverse=True))
            text = re.sub(rf"(?<![\w./-])({inside})(?=[/\s\"':;]|$)", lambda m: str(self.paths[m.group(1)]), text)
        return text

    def local_path(self, container_path: str) -> Path:
        """The local path of `container_path`.

        :param container_path: an absolute path inside a container.
        """
        local = self.rewrite(container_path)
        if local == container_path:
            raise StackError(f"no local folder for the container path {container_path}: not a volume or COPY")
        return Path(local)
