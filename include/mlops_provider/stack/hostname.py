"""Airflow's `[core] hostname_callable` for the local stack's Celery workers: on one machine every worker has the
same hostname, so each names itself (`worker-1`, `worker-2`, ...) and a task instance records which one ran it."""

from __future__ import annotations

import os

WORKER_NAME_ENV = "MLOPS_STACK_WORKER"


def worker_hostname() -> str:
    """The worker's name given by the stack (`MLOPS_STACK_WORKER`), else the machine's FQDN as Airflow's default."""
    from airflow.utils.net import getfqdn

    return os.environ.get(WORKER_NAME_ENV) or getfqdn()
