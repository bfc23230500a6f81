"""The Models page in a real browser: log in to a real `airflow standalone`, open Models from the navigation, see
both demo models with the champion MLflow says, follow a link to the real MLflow server; and nothing without a
session. The screenshot is saved under the test's tmp folder; with MLOPS_UPDATE_SCREENSHOT=1 it becomes
docs/models-page.png (the README shows it), so a plain `make test` leaves the work tree clean."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.e2e
MODELS = ("breast_cancer", "credit_default")
README_SCREENSHOT = ROOT / "docs" / "models-page.png"


def champions(mlflow_server: str, demo_env: Path) -> dict[str, str]:
    """Trained versions of both demo models with a champion each. credit_default's champion is its first new
    version, not its newest, so the page must follow the alias; breast_cancer keeps a champion an earlier e2e
    test promoted (its retraining is judged against it)."""
    from mlflow import MlflowClient

    from mlops_provider.registry import alias_version, record_serving
    from mlops_provider.tracking import CHALLENGER, CHAMPION, TAG_MONITOR
    from tests.helpers.trained_versions import register_versions

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    first, second = register_versions("credit_default", mlflow_server, [10, 20])
    client.set_registered_model_alias("credit_default", CHAMPION, first)
    client.set_registered_model_alias("credit_default", CHALLENGER, second)
    record_serving(client, "credit_default", first, "local")
    client.set_model_version_tag("credit_default", first, TAG_MONITOR, json.dumps(
        {"realized": 0.81, "metric": "roc_auc", "n_labels": 240, "verdict": "ok", "at": "2030-01-01T00:00:00+00:00"}))
    if alias_version(client, "breast_cancer", CHAMPION) is None:
        (version,) = register_versions("breast_cancer", mlflow_server, [200])
        client.set_registered_model_alias("breast_cancer", CHAMPION, version)
    return {model: str(alias_version(client, model, CHAMPION)) for model in MODELS}


def test_no_session_no_data(live_airflow: Any) -> None:
    for path in ("/mlops/models", "/mlops/api/models", "/mlops/models/credit_default",
                 "/mlops/api/models/credit_default"):
        anonymous = httpx.get(f"{live_airflow.url}{path}", timeout=30)
        assert anonymous.status_code == 401, (path, anonymous.status_code)
        forged = httpx.get(f"{live_airflow.url}{path}", cookies={"_token": "forged"}, timeout=30)
        assert forged.status_code == 403, (path, forged.status_code)
        for response in (anonymous, forged):
            assert "credit_default" not in response.text and "champion" not in response.text


def test_models_page_after_login_shows_champions_and_links_to_mlflow(
        live_airflow: Any, mlflow_server: str, demo_env: Path, chromium: Any, tmp_path: Path) -> None:
    expected = champions(mlflow_server, demo_env)

    api = httpx.get(f"{live_airflow.url}/mlops/api/models", timeout=60,
                    headers={"Authorization": f"Bearer {live_airflow.token()}"})
    assert api.status_code == 200, api.text
    rows = {row["model"]: row for row in api.json()["models"]}
    assert {m: rows[m]["champion"]["version"] for m in MODELS} == expected, rows

    context = chromium.new_context(viewport={"width": 1500, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{live_airflow.url}/", wait_until="networkidle")
        page.get_by_label("Username").fill(live_airflow.user)
        page.get_by_label("Password").fill(live_airflow.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"), timeout=30_000)

        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Models").click()
        page.wait_for_url(f"{live_airflow.url}/plugin/mlops-models", timeout=30_000)
        frame = page.frame_locator("iframe[title='Models']")
        for model, version in expected.items():
            link = frame.locator(f"tr[data-model='{model}'] td.champion a")
            link.wait_for(timeout=60_000)
            assert link.inner_text() == f"v{version}"
            assert link.get_attribute("href") == f"{mlflow_server}/#/models/{model}/versions/{version}"
        assert "local: v" in frame.locator("tr[data-model='credit_default']").inner_text()
        shot = README_SCREENSHOT if os.environ.get("MLOPS_UPDATE_SCREENSHOT") == "1" else tmp_path / "models.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        link = frame.locator("tr[data-model='credit_default'] td.champion a")
        with context.expect_page(timeout=30_000) as opened:
            link.click()
        mlflow_page = opened.value
        mlflow_page.wait_for_load_state()
        assert mlflow_page.url == f"{mlflow_server}/#/models/credit_default/versions/{expected['credit_default']}"
        loaded = mlflow_page.reload()  # the response of the page itself: the real MLflow server answers
        assert loaded is not None and loaded.status == 200 and loaded.url.startswith(mlflow_server)
    finally:
        context.close()
