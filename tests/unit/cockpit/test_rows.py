"""`model_rows` and `model_detail` against the real MLflow test server, on a history the package's writers made."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_provider.cockpit.rows import BrokenConfig, Links, load_configs, model_detail, model_rows
from tests.helpers.model_history import MONITOR, History

UI, AIRFLOW = "http://mlflow.example:5000", "http://airflow.example:8080"
LINKS = Links(mlflow_ui=UI, airflow=AIRFLOW)


def test_a_row_shows_champion_challenger_serving_drift_production_and_retraining(
        history: History, registry: Any) -> None:
    rows = model_rows(registry, load_configs(), links=LINKS)
    assert [row.model for row in rows] == [history.model]
    row = rows[0]
    assert row.error is None and row.versions == 2 and row.target == "local"

    assert row.champion is not None and row.champion.version == "1"
    assert (row.champion.metric, row.champion.score) == ("roc_auc", 0.91)
    assert row.champion.url == f"{UI}/#/models/{history.model}/versions/1"
    registered = registry.get_model_version(history.model, "1").creation_timestamp
    assert row.champion.created == datetime.fromtimestamp(registered / 1000, UTC).isoformat(timespec="seconds")
    assert row.challenger is not None and row.challenger.version == "2" and row.challenger.score == 0.62
    assert row.serving == {"local": "1"}

    assert row.drift is not None
    assert (row.drift.drifted, row.drift.drift_share, row.drift.version) == (True, 0.6, "1")
    assert row.drift.report_url == (f"{UI}/#/experiments/{history.experiment_id}/runs/{history.drift_run_id}"
                                    "/artifacts/drift/drift_report.html")
    assert row.drift.airflow_url == f"{AIRFLOW}/dag_runs?run_id_pattern=scheduled__drift1"

    assert row.production is not None
    assert (row.production.version, row.production.realized, row.production.estimated) == ("1", 0.88, 0.9)
    assert (row.production.n_labels, row.production.verdict, row.production.at) == (120, "ok", MONITOR["at"])

    assert row.retraining is not None, "the validation run that came later is not a training run"
    assert (row.retraining.reason, row.retraining.version, row.retraining.decision) == ("drift", "2", "rejected")
    assert row.retraining.status == "FINISHED" and row.retraining.dag_run_id == "manual__run2"
    assert row.retraining.run_url.endswith(f"/runs/{history.training_run_ids[1]}")

    as_json = row.to_dict()
    assert as_json["champion"]["version"] == "1" and as_json["serving"] == {"local": "1"}
    assert row.pending_approvals == []


def test_a_version_waiting_for_approval_is_listed_on_the_page_and_in_the_cli(
        history: History, registry: Any) -> None:
    from mlops_provider.client.models import render
    from mlops_provider.cockpit.page import models_page
    from mlops_provider.tracking import TAG_APPROVAL

    registry.set_model_version_tag(history.model, "2", TAG_APPROVAL, "pending")  # what the approve task writes
    (row,) = model_rows(registry, load_configs(), links=LINKS)
    assert row.pending_approvals == ["2"]
    assert "awaiting approval: v2" in models_page([row], base="/mlops")
    assert "(awaiting approval: v2)" in render([row])
    registry.set_model_version_tag(history.model, "2", TAG_APPROVAL, "approved")  # the answer overwrites it
    assert model_rows(registry, load_configs(), links=LINKS)[0].pending_approvals == []


def test_a_broken_config_and_an_unregistered_model_are_rows_not_crashes(
        history: History, private_model: Any, registry: Any) -> None:
    fresh = private_model("cockpit_fresh")
    folder = Path(load_configs()[0].source).parent  # type: ignore[union-attr]
    (folder / "cockpit_bad.yaml").write_text("name: cockpit_bad\ntarget: y\ngate: {metric: rmse}\n")

    configs = load_configs()
    assert [c.name for c in configs] == ["cockpit_bad", "cockpit_fresh", history.model]
    assert isinstance(configs[0], BrokenConfig)
    rows = {row.model: row for row in model_rows(registry, configs, links=LINKS)}

    assert rows["cockpit_bad"].error and "cockpit_bad.yaml" in rows["cockpit_bad"].error
    assert "features" in rows["cockpit_bad"].error, rows["cockpit_bad"].error
    empty = rows[fresh]
    assert empty.error is None and empty.versions == 0
    assert (empty.champion, empty.drift, empty.production, empty.retraining) == (None, None, None, None)
    assert rows[history.model].champion is not None


def test_one_model_that_mlflow_refuses_is_a_row_with_the_error(history: History, registry: Any,
                                                               private_model: Any) -> None:
    from mlops_provider.config import load_model_config

    quoted = private_model("cockpit_quoted")
    config = load_model_config(quoted, check_paths=False)
    broken = config.model_copy(update={"name": "it's"})  # a name MLflow's filter grammar rejects
    rows = model_rows(registry, [broken, load_model_config(history.model, check_paths=False)], links=LINKS)
    assert rows[0].error and "MLflow could not be read for model" in rows[0].error
    assert rows[1].error is None and rows[1].champion is not None


def test_detail_lists_versions_newest_first_with_gate_decisions_and_aliases(history: History,
                                                                            registry: Any) -> None:
    from mlops_provider.config import load_model_config

    detail = model_detail(registry, load_model_config(history.model, check_paths=False), links=LINKS)
    assert detail.row.champion is not None and detail.row.champion.version == "1"
    newest, oldest = detail.versions
    assert (newest.version, newest.aliases, newest.decision) == ("2", ["challenger"], "rejected")
    assert newest.gate == "gate said False" and newest.champion_at_decision == "1"
    assert (newest.score, newest.champion_score, newest.reason) == (0.62, 0.91, "drift")
    assert newest.deploy_failures == {"local": "smoke test: p95 latency 900 ms > 250 ms"}
    assert (oldest.version, oldest.aliases, oldest.decision) == ("1", ["champion", "serving_local"], "promoted")
    assert oldest.validation == "passed 12/12" and oldest.deploy_failures == {}
    assert oldest.airflow_url == f"{AIRFLOW}/dag_runs?run_id_pattern=manual__run1"
    assert oldest.run_url == f"{UI}/#/experiments/{history.experiment_id}/runs/{history.training_run_ids[0]}"

    # the alias history the registry writers recorded, newest first, on the model's page
    from mlops_provider.cockpit.page import model_page

    moves = [(e["alias"], e["from"], e["to"]) for e in detail.history]
    assert moves[0] == ("serving_local", None, "1")
    assert ("champion", None, "1") in moves and ("challenger", "1", "2") in moves
    page = model_page(detail, base="/mlops")
    assert "<h2>Alias history</h2>" in page and "serving_local" in page


def test_a_deprecated_or_retired_model_and_an_archived_version_say_so(history: History, registry: Any) -> None:
    """The tags `mlops_lifecycle` writes (a deprecation notice, the retirement, an archived version) reach the row,
    the model's page and the terminal table."""
    import json

    from mlops_provider.client.models import render
    from mlops_provider.cockpit.page import model_page, models_page
    from mlops_provider.config import load_model_config
    from mlops_provider.tracking import TAG_ARCHIVED, TAG_ARCHIVED_WHY, TAG_DEPRECATED, TAG_RETIRED

    model = history.model
    notice = {"on": "2030-01-01", "message": "moving", "replaced_by": "credit_v2", "stop_on": "2030-03-01"}
    registry.set_registered_model_tag(model, TAG_DEPRECATED, json.dumps(notice))
    registry.set_model_version_tag(model, "2", TAG_ARCHIVED, "2030-02-01T00:00:00+00:00")
    registry.set_model_version_tag(model, "2", TAG_ARCHIVED_WHY, "older than 90 days and never served")
    try:
        (row,) = model_rows(registry, load_configs(), links=LINKS)
        assert (row.lifecycle, row.lifecycle_detail) == ("deprecated",
                                                         "serving stops on 2030-03-01; replaced by credit_v2")
        assert '<span class="badge lifecycle bad">deprecated</span>' in models_page([row], base="/mlops")
        assert f"{model} (deprecated serving stops on 2030-03-01; replaced by credit_v2)" in render([row])
        detail = model_detail(registry, load_model_config(model, check_paths=False), links=LINKS)
        newest, oldest = detail.versions
        assert newest.archived == "2030-02-01 00:00 UTC: older than 90 days and never served"
        assert oldest.archived is None
        page = model_page(detail, base="/mlops")
        assert "archived 2030-02-01 00:00 UTC: older than 90 days and never served" in page

        registry.set_registered_model_tag(model, TAG_RETIRED, "2030-03-01T12:00:00+00:00")
        (row,) = model_rows(registry, load_configs(), links=LINKS)
        assert (row.lifecycle, row.lifecycle_detail) == ("retired", "2030-03-01 12:00 UTC")
        registry.set_registered_model_tag(model, TAG_DEPRECATED, "{not json")  # a hand-edited notice
        registry.delete_registered_model_tag(model, TAG_RETIRED)
        (row,) = model_rows(registry, load_configs(), links=LINKS)
        assert (row.lifecycle, row.lifecycle_detail) == ("deprecated", "{not json")
    finally:
        for tag in (TAG_DEPRECATED, TAG_RETIRED):
            registry.delete_registered_model_tag(model, tag)
        for tag in (TAG_ARCHIVED, TAG_ARCHIVED_WHY):
            registry.delete_model_version_tag(model, "2", tag)
    assert model_rows(registry, load_configs(), links=LINKS)[0].lifecycle is None
