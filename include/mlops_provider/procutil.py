"""Whether a recorded pid still names the process we started, before anything signals it.

A pid file or state file outlives its process (a crash, a reboot), and the kernel hands its pid to the next
process, which may be anyone's. So with the pid we record a stamp, the boot and the start time of the process
(`/proc/<pid>/stat`, field 22): together they name one process for good. Where a record has no stamp (written
before stamps, or no `/proc`), the command line must contain a marker of ours instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROC = Path("/proc")
EXITED = ("Z", "X")  # a zombie (exited, not reaped) or dead


def process_stamp(pid: int) -> str | None:
    """`<boot id>:<start time in clock ticks>` of the live process `pid`; None when it is gone (or a zombie), or
    when there is no `/proc` to ask."""
    fields = _stat(pid)
    if fields is None or fields[0] in EXITED:
        return None
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return f"{boot}:{fields[19]}"


def command_line(pid: int) -> str | None:
    """The command line of `pid`, its arguments joined by spaces; None when it is gone."""
    if PROC.is_dir():
        try:
            return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return None
    try:  # no /proc (macOS): ps knows
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def alive(pid: int) -> bool:
    """True while `pid` runs (an exited process its parent has not reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    fields = _stat(pid)
    return fields is None or fields[0] not in EXITED


def is_ours(pid: int, stamp: str | None, marker: str) -> bool:
    """True when `pid` lives and is the process recorded with `stamp`, or, without a stamp to compare, when its
    command line contains `marker`. False for a dead pid and for a pid now held by an unrelated process."""
    if pid <= 1 or not alive(pid):
        return False
    now = process_stamp(pid)
    if stamp and now:
        return now == stamp
    command = command_line(pid)
    return command is not None and marker in command


def _stat(pid: int) -> list[str] | None:
    """The fields of `/proc/<pid>/stat` after the command name (state first); None without it."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()  # the command name in parentheses may hold spaces
