"""The passport of a model version: one document saying where the version came from and what happened to it.

Training data (digest, sources), validation, trainer and parameters, the gate's evaluation (decision, scores,
criteria), the approval, the DAG run that produced it, its deployments and alias history, its production checks.
Written as `passport/passport.json` and a self-contained `passport/passport.html` (inline CSS, no script, nothing
loaded from elsewhere: it renders where the MLflow server has no internet) into the version's training run, and
linked from the version by the tag `mlops.passport`. Plain MLflow, imported inside functions; no Airflow import.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_provider.exceptions import RegistryError
from mlops_provider.history import read_history, versions_entries
from mlops_provider.mlflow_urls import artifact_url, model_version_url, run_url
from mlops_provider.tracking import (
    TAG_APPROVAL,
    TAG_CHAMPION_AT_DECISION,
    TAG_CRITERIA,
    TAG_DAG_RUN,
    TAG_DATA_SOURCES,
    TAG_DECISION,
    TAG_DEGRADED,
    TAG_DIGEST,
    TAG_GATE,
    TAG_METRIC,
    TAG_MONITOR,
    TAG_REASON,
    TAG_SCORE_CANDIDATE,
    TAG_SCORE_CHAMPION,
    TAG_VALIDATION,
    serving_alias,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_PASSPORT = "mlops.passport"  # version tag: the MLflow UI page of the passport's HTML artifact
PASSPORT_JSON, PASSPORT_HTML = "passport/passport.json", "passport/passport.html"
GATE_TAGS = (TAG_DECISION, TAG_GATE, TAG_METRIC, TAG_SCORE_CANDIDATE, TAG_SCORE_CHAMPION, TAG_CHAMPION_AT_DECISION)
SERVING_PREFIX = serving_alias("")


def build_passport(client: MlflowClient, model: str, version: str, *, mlflow_ui_url: str,
                   airflow_url: str | None = None, dag_id: str | None = None) -> dict[str, Any]:
    """The passport of `model` version `version` as a JSON-able dict, read from the registry and the version's
    training run. `airflow_url` (Airflow's `[api] base_url`) and `dag_id` make the link back to the DAG run."""
    mv = client.get_model_version(model, str(version))
    if not mv.run_id:
        raise RegistryError(f"model '{model}' version {version} has no training run to hold its passport")
    run = client.get_run(mv.run_id)
    tags, run_tags = dict(mv.tags or {}), dict(run.data.tags or {})
    aliases = {alias: str(v) for alias, v in (client.get_registered_model(model).aliases or {}).items()}
    history = versions_entries(read_history(client, model), str(version))
    dag_run = tags.get(TAG_DAG_RUN) or run_tags.get(TAG_DAG_RUN)
    experiment_id = str(run.info.experiment_id)
    return {
        "model": model,
        "version": str(version),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "registered_at": _iso(mv.creation_timestamp),
        "source": mv.source,
        "reason": tags.get(TAG_REASON),
        "aliases": sorted(alias for alias, v in aliases.items() if v == str(version)),
        "links": {"mlflow_version": model_version_url(mlflow_ui_url, model, version),
                  "mlflow_run": run_url(mlflow_ui_url, experiment_id, mv.run_id)},
        "training": {"run_id": mv.run_id, "run_name": run.info.run_name, "started_at": _iso(run.info.start_time),
                     "trainer": run.data.params.get("trainer"), "params": dict(sorted(run.data.params.items())),
                     "metrics": dict(sorted(run.data.metrics.items()))},
        "data": {"digest": tags.get(TAG_DIGEST) or run_tags.get(TAG_DIGEST),
                 "sources": tags.get(TAG_DATA_SOURCES) or run_tags.get(TAG_DATA_SOURCES),
                 "sources_detail": _sources(client, mv.run_id)},
        "validation": tags.get(TAG_VALIDATION) or run_tags.get(TAG_VALIDATION),
        "gate": {**{key.removeprefix("mlops."): tags.get(key) for key in GATE_TAGS if key in tags},
                 "criteria": _json_or_text(tags.get(TAG_CRITERIA))},
        "approval": {key.removeprefix(TAG_APPROVAL).lstrip(".") or "status": _json_or_text(value)
                     for key, value in sorted(tags.items()) if key.startswith(TAG_APPROVAL)} or None,
        "dag_run": {"id": dag_run, "dag_id": dag_id, "url": _dag_run_url(airflow_url, dag_id, dag_run)}
        if dag_run else None,
        "deployments": {"serving": sorted(alias.removeprefix(SERVING_PREFIX) for alias, v in aliases.items()
                                          if alias.startswith(SERVING_PREFIX) and v == str(version)),
                        "failed": {key: value for key, value in sorted(tags.items())
                                   if key.startswith("mlops.deploy.") and key.endswith(".failed")},
                        "history": [entry.to_dict() for entry in history]},
        "production": {"last_check": _json_or_text(tags.get(TAG_MONITOR)),
                       "degraded": _json_or_text(tags.get(TAG_DEGRADED))},
    }


def write_passport(client: MlflowClient, model: str, version: str, *, mlflow_ui_url: str,
                   airflow_url: str | None = None, dag_id: str | None = None) -> str:
    """Build the passport, log its JSON and HTML to the version's training run, tag the version with the URL of
    the HTML page (`mlops.passport`) and return that URL. Writing again replaces both files."""
    passport = build_passport(client, model, version, mlflow_ui_url=mlflow_ui_url, airflow_url=airflow_url,
                              dag_id=dag_id)
    run_id = passport["training"]["run_id"]
    url = artifact_url(passport["links"]["mlflow_run"], PASSPORT_HTML)
    passport["links"]["passport"] = url
    client.log_text(run_id, json.dumps(passport, indent=2, default=str), PASSPORT_JSON)
    client.log_text(run_id, render_html(passport), PASSPORT_HTML)
    client.set_model_version_tag(model, str(version), TAG_PASSPORT, url)
    return url


def _dag_run_url(airflow_url: str | None, dag_id: str | None, dag_run: str) -> str | None:
    if not airflow_url:
        return None
    base = airflow_url.rstrip("/")
    if dag_id:
        return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(dag_run, safe='')}"
    # the run id alone does not say which DAG ran it (training or retraining): the list filtered to it does
    return f"{base}/dag_runs?run_id_pattern={quote(dag_run, safe='')}"


def _sources(client: MlflowClient, run_id: str) -> Any:
    """The training run's `data/sources.json` (None when the run has none: a set of one file)."""
    import tempfile
    from pathlib import Path

    from mlops_provider.training_data import SOURCES_ARTIFACT

    folder, _, _name = SOURCES_ARTIFACT.rpartition("/")
    if not any(item.path == SOURCES_ARTIFACT for item in client.list_artifacts(run_id, folder)):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(client.download_artifacts(run_id, SOURCES_ARTIFACT, tmp)).read_text()
    return _json_or_text(text)


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _iso(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds") if millis else None


# -- the HTML page: one file, inline CSS, every value escaped -----------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;color:#1d2733;
padding:0 1rem}h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;border-bottom:1px solid #d0d7de;
padding-bottom:.2rem;margin-top:1.8rem}table{border-collapse:collapse;margin:.4rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f5f7}
td.k{width:14rem;font-weight:600;background:#fafbfc}code,pre{font:12px ui-monospace,Menlo,monospace}
pre{white-space:pre-wrap;margin:0}.muted{color:#66707a}.promoted{color:#116329;font-weight:600}
.rejected{color:#a40e26;font-weight:600}.tag{display:inline-block;background:#ddf4ff;border-radius:.6rem;
padding:0 .5rem;margin-right:.3rem}
"""


def render_html(passport: dict[str, Any]) -> str:
    """The passport as one self-contained HTML page."""
    p = passport
    title = f"Passport of {p['model']} v{p['version']}"
    aliases = "".join(f'<span class="tag">{_e(a)}</span>' for a in p["aliases"]) or _muted("no alias")
    decision = (p["gate"] or {}).get("decision")
    parts = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{aliases} registered {_e(p['registered_at'])} · reason {_e(p['reason'])} · "
        f"generated {_e(p['generated_at'])}</p>",
        f"<p>{_link(p['links'].get('mlflow_version'), 'MLflow version')} · "
        f"{_link(p['links'].get('mlflow_run'), 'MLflow training run')}"
        + (f" · {_link(p['dag_run']['url'], 'Airflow DAG run')}" if p.get("dag_run") and p["dag_run"]["url"]
           else "") + "</p>",
        "<h2>Training data</h2>",
        _pairs({"digest": p["data"]["digest"], "sources": p["data"]["sources"],
                "validation": p["validation"]}),
        _value(p["data"]["sources_detail"]) if p["data"]["sources_detail"] else "",
        "<h2>Trainer and parameters</h2>",
        _pairs({"trainer": p["training"]["trainer"], "run": p["training"]["run_id"],
                "started": p["training"]["started_at"]}),
        _pairs(p["training"]["params"]),
        "<h3>Metrics</h3>", _pairs(p["training"]["metrics"]),
        "<h2>Gate</h2>",
        f'<p class="{_e(decision or "")}">{_e(decision or "not judged")}</p>',
        _pairs({k: v for k, v in (p["gate"] or {}).items() if k not in ("criteria", "decision")}),
        ("<h3>Criteria</h3>" + _value(p["gate"]["criteria"])) if p["gate"].get("criteria") else "",
        "<h2>Approval</h2>", _pairs(p["approval"]) if p["approval"] else _muted("no approval recorded"),
        "<h2>DAG run</h2>",
        _pairs({"run id": p["dag_run"]["id"], "DAG": p["dag_run"]["dag_id"]}) if p.get("dag_run")
        else _muted("not produced by a DAG run"),
        "<h2>Deployments</h2>",
        _pairs({"serving on": ", ".join(p["deployments"]["serving"]) or None, **p["deployments"]["failed"]}),
        "<h3>Alias history of this version</h3>", _history(p["deployments"]["history"]),
        "<h2>Production</h2>",
        _pairs({"last check": p["production"]["last_check"], "degraded": p["production"]["degraded"]}),
    ]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(part for part in parts if part)
            + "\n</body></html>\n")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _muted(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'


def _link(url: str | None, text: str) -> str:
    if not url or not url.startswith(("http://", "https://", "/")):  # no javascript: or data: URLs
        return _e(text)
    # MLflow shows an HTML artifact in a sandboxed frame: a link opens a new tab rather than navigate the frame
    return f'<a href="{_e(url)}" target="_blank" rel="noopener">{_e(text)}</a>'


def _value(value: Any) -> str:
    """A value as HTML: a list of objects as a table, an object as key/value rows, anything else as text."""
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        keys = list(dict.fromkeys(key for row in value for key in row))
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        rows = "".join("<tr>" + "".join(f"<td>{_cell(row.get(k))}</td>" for k in keys) + "</tr>" for row in value)
        return f"<table><tr>{head}</tr>{rows}</table>"
    if isinstance(value, dict):
        return _pairs(value)
    return f"<p>{_cell(value)}</p>"


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<pre>{_e(json.dumps(value, indent=1, default=str))}</pre>"
    return _e(value) if value is not None else '<span class="muted">-</span>'


def _pairs(values: dict[str, Any]) -> str:
    if not values:
        return _muted("none")
    rows = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_cell(v)}</td></tr>' for k, v in values.items())
    return f"<table>{rows}</table>"


def _history(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return _muted("no alias moves recorded")
    head = "<tr><th>time (UTC)</th><th>alias</th><th>from → to</th><th>who</th><th>why</th><th>undoes</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(e['at'])}</td><td>{_e(e['alias'])}</td><td>{_e(e['from'] or '-')} → {_e(e['to'] or '-')}"
        f"</td><td>{_e(e['actor'])}</td><td>{_e(e['reason'])}</td><td>{_e(e['undoes'] or '')}</td></tr>"
        for e in entries)
    return f"<table>{head}{rows}</table>"
