"""Headless Chromium from the system's packages (apt `chromium`), driven by Playwright: Playwright's own browser
download is not available here, so the browser is launched by path."""

from __future__ import annotations

import ipaddress
import os
import shutil
from urllib.parse import urlsplit

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """`MLOPS_CHROMIUM` if set, else the first Chromium on PATH."""
    if os.environ.get("MLOPS_CHROMIUM"):
        return os.environ["MLOPS_CHROMIUM"]
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def is_loopback_or_file(url: str) -> bool:
    """A request that stays on this machine: a file, inline data, or a loopback host."""
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
