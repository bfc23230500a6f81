"""The local model server: FastAPI + uvicorn serving registered versions of one model from MLflow.

`mlops serve MODEL` (or `python -m mlops_provider.serving MODEL`) starts it. It answers MLflow's scoring format
on `POST /invocations`, holds up to two versions with a traffic split (canary) or an atomic switch (blue-green),
logs every scored request (with its prediction ids and scores) to the model's inference log, takes labels for those
ids on `POST /feedback`, and takes orders on a loopback-only admin endpoint.
Modules: `pool` (versions and routing), `scoring` (payloads, predictions and scores), `logbuffer` (inference log),
`feedback` (request ids, `/feedback`), `headers`, `app` (the two FastAPI apps), `server` (both uvicorn servers in
one process), `cli`. Importing this package imports nothing.
"""

from __future__ import annotations
