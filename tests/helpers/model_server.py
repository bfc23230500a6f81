"""A real model server for tests: the server's public app with a fitted credit_default pipeline, on a loopback port.

No MLflow: the pool's loader hands out pipelines fitted here by the model's own trainer, so a test gets real
`predict_proba`, real `classes_` and real HTTP in a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@cache
def credit_pipeline(estimator: str = "hist_gradient_boosting", rows: int = 400, seed: int = 3) -> Any:
    """credit_default's training pipeline with `estimator`, fitted on `rows` generated applications."""
    from mlops_provider.demo import credit
    from mlops_provider.training.sklearn import train_classifier

    params: dict[str, Any] = {"estimator": estimator}
    if estimator == "hist_gradient_boosting":
        params["max_iter"] = 20
    elif estimator == "random_forest":
        params["n_estimators"] = 20
    elif estimator == "logistic_regression":
        params["max_iter"] = 500
    frame = credit.generate(rows, seed=seed)
    return train_classifier(frame, target=credit.TARGET, numeric=credit.NUMERIC, categorical=credit.CATEGORICAL,
                            params=params, seed=seed)


def credit_requests(rows: int, seed: int = 5) -> Any:
    """Feature rows of credit_default (no target), as clients send them."""
    from mlops_provider.demo import credit

    return credit.generate(rows, seed=seed).drop(columns=[credit.TARGET])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run a FastAPI app under uvicorn on a free loopback port (lifespan on); yields its base URL."""
    import uvicorn

    from mlops_provider.netutil import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"test model server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
