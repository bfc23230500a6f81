"""Loopback helpers shared by the local target, the benchmarks and the tests: a free port, waiting for HTTP."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port(avoid: int | None = None) -> int:
    """A TCP port free on 127.0.0.1 right now (never `avoid`)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != avoid:
            return port


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Return once `url` answers 200; RuntimeError when `proc` exits first (with the tail of `log`) or after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"process for {url} exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    tail = f":\n{log.read_text()[-3000:]}" if log else ""
    raise RuntimeError(f"{url} not healthy after {timeout:.0f}s{tail}")
