"""The compose stack's topology without containers: PostgreSQL, Redis, MLflow (basic auth) and Airflow on the
CeleryExecutor with N workers, as processes on loopback under `.stack/` (`mlops stack up --local`).

`compose.py` reads `docker-compose.yaml`, `.env` and the Dockerfile and maps the containers' hosts and paths to
loopback ports and local folders; `processes.py` keeps the pid files; `services.py` builds each process;
`local.py` starts, records (`stack.json`) and stops them.
"""
