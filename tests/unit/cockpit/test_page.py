"""The Models page HTML: values escaped, nothing loaded from elsewhere, the links it promises."""

from __future__ import annotations

from mlops_provider.cockpit.page import model_page, models_page
from mlops_provider.cockpit.rows import DriftVerdict, ModelDetail, ModelRow, VersionDetail, VersionRef
from tests.helpers.html_refs import external_loads

EVIL = '<script>alert("x")</script>'
CHAMPION = VersionRef(version="3", url="http://mlflow:5000/#/models/m/versions/3", created="2030-01-02T03:04:05+00:00",
                      metric="roc_auc", score=0.93)
DRIFT = DriftVerdict(drifted=True, drift_share=0.6, version="3", at=None, report_url="http://mlflow:5000/#/r",
                     dag_run_id="scheduled__1", airflow_url="/dag_runs?run_id_pattern=scheduled__1")


def test_values_are_escaped_and_nothing_loads_from_elsewhere() -> None:
    rows = [ModelRow(model="m", description=EVIL, champion=CHAMPION, serving={"local": "3"}, drift=DRIFT),
            ModelRow(model="bad", error=f"bad.yaml: {EVIL}")]
    page = models_page(rows, base="/mlops")
    assert EVIL not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert external_loads(page) == []
    assert '<a href="http://mlflow:5000/#/models/m/versions/3" target="_blank" rel="noopener">v3</a>' in page
    assert 'href="/dag_runs?run_id_pattern=scheduled__1" target="_top"' in page
    assert 'href="/mlops/models/m"' in page and "roc_auc 0.9300" in page and "2030-01-02 03:04 UTC" in page
    assert '<span class="badge bad">drift</span>' in page and "local: v3" in page


def test_model_page_lists_versions_with_gate_decisions() -> None:
    version = VersionDetail(version="3", url="http://mlflow:5000/#/models/m/versions/3", created=None,
                            aliases=["champion", "serving_local"], reason="drift", dag_run_id=None, airflow_url=None,
                            validation="passed", decision="promoted", gate=f"roc_auc fine {EVIL}", metric="roc_auc",
                            score=0.93, champion_score=0.9, champion_at_decision="2",
                            deploy_failures={"local": "smoke failed"}, run_url=None)
    page = model_page(ModelDetail(row=ModelRow(model="m", champion=CHAMPION), versions=[version]), base="/mlops")
    assert EVIL not in page and external_loads(page) == []
    assert "champion, serving_local" in page and '<span class="badge ok">promoted</span>' in page
    assert "champion v2: roc_auc 0.9000" in page and "local: smoke failed" in page
    assert 'href="/mlops/models"' in page
