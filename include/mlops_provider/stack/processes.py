"""The local stack's long-running processes: one pid file per process under `DIR/run/` (pid, stamp, marker, as
the demo keeps them: see procutil), its log under `DIR/logs/`, starting it in its own session and stopping it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from mlops_provider.procutil import is_ours, process_stamp
from mlops_provider.stack.compose import StackError


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def pid_file(folder: Path, name: str) -> Path:
    return folder / "run" / f"{name}.pid"


def log_file(folder: Path, name: str) -> Path:
    return folder / "logs" / f"{name}.log"


def running(folder: Path, name: str) -> int | None:
    """The pid of process `name` of the stack in `folder` while it is the process we started; a stale pid file
    (its pid gone or now another process's) is removed.

    :param folder: the stack's folder (`--dir`).
    :param name: the process (`postgres`, `worker-1`, ...).
    """
    path = pid_file(folder, name)
    try:
        record = json.loads(path.read_text())
        pid, stamp, marker = int(record["pid"]), record.get("stamp"), record.get("marker") or name
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not is_ours(pid, stamp, marker):
        path.unlink(missing_ok=True)
        return None
    return pid


def start(folder: Path, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session with exactly `env`, appending its output to `DIR/logs/<name>.log`.

    :param folder: the stack's folder.
    :param name: the process's name in the stack.
    :param cmd: the command (no secret in it: secrets travel in `env` or in files of mode 600).
    :param env: the whole environment of the process.
    :param cwd: its working directory.
    """
    with log_file(folder, name).open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
    record = {"pid": proc.pid, "stamp": process_stamp(proc.pid), "marker": Path(cmd[0]).name}
    pid_file(folder, name).write_text(json.dumps(record))
    log(f"started {name} (pid {proc.pid}), log {log_file(folder, name)}")
    return proc


def run_step(folder: Path, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run a one-shot step (an init script) to its end; StackError naming its log when it fails.

    :param folder: the stack's folder.
    :param name: the step's name (its log is `DIR/logs/<name>.log`).
    :param cmd: the command.
    :param env: the whole environment of the step.
    :param cwd: its working directory.
    """
    with log_file(folder, name).open("ab") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode
    if code:
        tail = log_file(folder, name).read_text(errors="replace")[-2000:]
        raise StackError(f"{name} failed (exit {code}); see {log_file(folder, name)}:\n{tail}")
    log(f"{name}: done")


def stop(folder: Path, name: str, sig: signal.Signals = signal.SIGTERM, grace: float = 30) -> bool:
    """Signal the process group of `name` (KILL after `grace` seconds) and remove its pid file; False when it was
    not running.

    :param folder: the stack's folder.
    :param name: the process's name in the stack.
    :param sig: the first signal (Postgres shuts down fast on SIGINT).
    :param grace: seconds to wait before SIGKILL.
    """
    pid = running(folder, name)
    if pid is None:
        pid_file(folder, name).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    started = time.monotonic()
    deadline = started + grace
    while running(folder, name) is not None and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when we are its parent (the same `mlops` process)
        time.sleep(0.3)
    killed = running(folder, name) is not None
    if killed:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file(folder, name).unlink(missing_ok=True)
    log(f"stopped {name} in {time.monotonic() - started:.1f} s{' (killed)' if killed else ''}")
    return True
