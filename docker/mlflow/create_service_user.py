"""Create (or re-key) the MLflow account that Airflow and the model server use, through the basic-auth REST API.

One-shot job of the compose stack (service `mlflow-init`). Idempotent: an existing user gets its password set to
the one in the environment, so rotating MLFLOW_SERVICE_PASSWORD in .env and re-running the job takes effect.
Standard library only; no secret is printed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request


def call(method: str, url: str, body: dict[str, str], auth: tuple[str, str]) -> tuple[int, str]:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers={
        "Authorization": f"Basic {token}", "Content-Type": "application/json"})
    for attempt in range(1, 11):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except urllib.error.URLError as err:  # the server may still be starting its workers
            if attempt == 10:
                raise SystemExit(f"MLflow at {url} unreachable: {err.reason}") from None
            time.sleep(3)
    raise AssertionError("unreachable")


def main() -> int:
    base = os.environ.get("MLFLOW_URL", "http://mlflow:5000").rstrip("/")
    admin = (os.environ["MLFLOW_ADMIN_USERNAME"], os.environ["MLFLOW_ADMIN_PASSWORD"])
    user, password = os.environ["MLFLOW_SERVICE_USERNAME"], os.environ["MLFLOW_SERVICE_PASSWORD"]
    if user == admin[0]:
        print("MLFLOW_SERVICE_USERNAME must differ from MLFLOW_ADMIN_USERNAME", file=sys.stderr)
        return 2
    status, text = call("POST", f"{base}/api/2.0/mlflow/users/create", {"username": user, "password": password},
                        admin)
    if status == 200:
        print(f"created MLflow user {user!r}")
        return 0
    if "RESOURCE_ALREADY_EXISTS" not in text:
        print(f"creating MLflow user {user!r} at {base} failed: HTTP {status}: {text[:500]}", file=sys.stderr)
        return 1
    status, text = call("PATCH", f"{base}/api/2.0/mlflow/users/update-password",
                        {"username": user, "password": password}, admin)
    if status != 200:
        print(f"updating the password of MLflow user {user!r} failed: HTTP {status}: {text[:500]}", file=sys.stderr)
        return 1
    print(f"MLflow user {user!r} exists; password set from the environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
