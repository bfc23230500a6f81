"""The demo's alert receiver: a webhook on loopback that prints one line per alert it receives.

Started by `mlops demo up` (log `.demo/logs/webhook.log`); the demo models' `alerts` reach it through the
Airflow connection `demo_webhook` (an `http` connection set in the demo's environment). What an on-call
pager or chat webhook would get, shown where a person can read it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def describe(body: bytes) -> str:
    """One readable line for an alert's JSON body (the `http` notifier's payload), or the raw body."""
    try:
        event = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:500]
    numbers = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in (event.get("numbers") or {}).items())
    versions = ", ".join(f"{k} v{v}" for k, v in (event.get("versions") or {}).items())
    return (f"[{event.get('kind')}] {event.get('model')}: {event.get('summary')}"
            f"{' | ' + versions if versions else ''}{' | ' + numbers if numbers else ''}")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        print(f"{datetime.now(UTC):%H:%M:%S} {describe(body)}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    port = int((argv or sys.argv[1:])[0])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"demo webhook listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
