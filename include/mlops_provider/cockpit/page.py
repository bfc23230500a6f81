"""The Models page and the per-model page as self-contained HTML: inline styles, no external loads, every value
escaped. Plain Python; the FastAPI app (`cockpit.app`) serves what these functions return."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from mlops_provider.cockpit.text import DASH, score_text, when

if TYPE_CHECKING:
    from mlops_provider.cockpit.rows import DriftVerdict, ModelDetail, ModelRow, ProductionCheck, Retraining, VersionRef

STYLE = """
:root { color-scheme: light dark; --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #fff; --head: #f5f7fa;
        --ok: #1b7a3d; --bad: #b42318; --link: #0b62c4; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e7eb; --muted: #9aa5b1; --line: #3e4c59; --bg: #1a1d21; --head: #24292f; --link: #6cb2ff; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 16px 20px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 20px 0 8px; }
p.sub { color: var(--muted); margin: 0 0 14px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid var(--line); }
th { background: var(--head); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td small, .muted { color: var(--muted); }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
.model { font-weight: 600; font-size: 15px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
         border: 1px solid currentColor; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
.error { color: var(--bad); white-space: pre-wrap; }
"""
# The page is shown in Airflow's UI through an iframe sandboxed without `allow-popups` and `allow-top-navigation`,
# so a link in it could open neither a new tab nor the Airflow page it names. The frame is same-origin with the UI
# (`allow-same-origin`), so a click on such a link is replayed on an anchor created in the UI's own document, where
# a new tab and top-level navigation are allowed. Opened on its own, the page's links work as written.
SCRIPT = """
if (window.top !== window) {
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[target]");
    if (!link || event.defaultPrevented) return;
    try {
      var outer = window.top.document.createElement("a");
      outer.href = link.href; outer.target = link.target === "_top" ? "_self" : "_blank"; outer.rel = "noopener";
      outer.style.display = "none"; window.top.document.body.appendChild(outer); outer.click(); outer.remove();
      event.preventDefault();
    } catch (err) { /* not same-origin: leave the click to the browser */ }
  });
}
"""


def models_page(rows: list[ModelRow], *, base: str, error: str | None = None) -> str:
    """The Models page: one row per configured model. `base` is the app's path (links to the model pages)."""
    body = [
        "<h1>Models</h1>",
        '<p class="sub">Champion, challenger, what each deployment target serves, the last drift check, the last '
        "production check and the last retraining of every configured model.</p>",
    ]
    if error:
        body.append(f'<p class="error">{escape(error)}</p>')
    head = ("Model", "Champion", "Challenger", "Serving", "Last drift check", "Production", "Last retraining")
    body.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    for row in rows:
        body.append(_model_row(row, base))
    if not rows:
        body.append(f'<tr><td colspan="{len(head)}" class="muted">No model configs found.</td></tr>')
    body.append("</tbody></table>")
    return _document("Models", body)


def model_page(detail: ModelDetail, *, base: str) -> str:
    """One model: its row, then every version with its aliases and what the gate decided."""
    row = detail.row
    body = [
        f'<p><a href="{_attr(base)}/models">&larr; Models</a></p>',
        f"<h1>{escape(row.model)}</h1>",
        f'<p class="sub">{escape(row.description)}</p>' if row.description else "",
        f"<p>{_lifecycle(row)}</p>" if row.lifecycle else "",
    ]
    if row.error:
        body.append(f'<p class="error">{escape(row.error)}</p>')
    body.append("<table><thead><tr><th>Champion</th><th>Challenger</th><th>Serving</th><th>Last drift check</th>"
                "<th>Production</th><th>Last retraining</th></tr></thead><tbody><tr>"
                f"<td>{_version_cell(row.champion)}</td><td>{_version_cell(row.challenger)}</td>"
                f"<td>{_serving(row)}</td><td>{_drift(row.drift)}</td><td>{_production(row.production)}</td>"
                f"<td>{_retraining(row.retraining)}</td></tr></tbody></table>")
    body.append("<h2>Versions</h2>")
    head = ("Version", "Aliases", "Registered", "Reason", "Gate", "Score", "Validation", "Deploy failures")
    body.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    for v in detail.versions:
        decision = (f'<span class="badge {"ok" if v.decision == "promoted" else "bad"}">{escape(v.decision)}</span>'
                    if v.decision else DASH)
        gate = f"{decision}<br><small>{escape(v.gate)}</small>" if v.gate else decision
        champion = (f"<br><small>champion v{escape(v.champion_at_decision)}: "
                    f"{escape(score_text(v.metric, v.champion_score))}</small>" if v.champion_at_decision else "")
        run = f' <small>{_link(v.airflow_url, "Airflow run", top=True)}</small>' if v.airflow_url else ""
        failures = "<br>".join(f"{escape(t)}: {escape(r)}" for t, r in v.deploy_failures.items()) or DASH
        archived = f'<br><small class="archived">archived {escape(v.archived)}</small>' if v.archived else ""
        body.append(
            f"<tr><td>{_link(v.url, f'v{v.version}')}{archived}</td><td>{escape(', '.join(v.aliases)) or DASH}</td>"
            f"<td>{escape(when(v.created))}</td><td>{escape(v.reason or DASH)}{run}</td><td>{gate}</td>"
            f"<td>{escape(score_text(v.metric, v.score))}{champion}</td><td>{escape(v.validation or DASH)}</td>"
            f"<td><small>{failures}</small></td></tr>")
    if not detail.versions:
        body.append(f'<tr><td colspan="{len(head)}" class="muted">No registered version yet.</td></tr>')
    body.append("</tbody></table>")
    body.extend(_history(detail.history))
    return _document(row.model, body)


def _history(entries: list[dict[str, Any]]) -> list[str]:
    """The alias history: when, which alias, from and to, who, why, what a rollback undoes."""
    out = ["<h2>Alias history</h2>"]
    if not entries:
        return [*out, '<p class="muted">No alias move recorded yet.</p>']
    head = ("When", "Alias", "From", "To", "Who", "Why")
    out.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    for entry in entries:
        if "error" in entry:
            out.append(f'<tr><td colspan="{len(head)}" class="error">{escape(entry["error"])}</td></tr>')
            continue
        undoes = f"<br><small>undoes {escape(entry['undoes'])}</small>" if entry.get("undoes") else ""
        versions = [f"v{escape(str(entry[k]))}" if entry.get(k) else DASH for k in ("from", "to")]
        out.append(f"<tr><td>{escape(when(entry.get('at')))}</td><td>{escape(entry.get('alias', ''))}</td>"
                   f"<td>{versions[0]}</td><td>{versions[1]}</td><td><small>{escape(entry.get('actor', ''))}"
                   f"</small></td><td>{escape(entry.get('reason', ''))}{undoes}</td></tr>")
    out.append("</tbody></table>")
    return out


def _document(title: str, body: list[str]) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)} · MLOps</title><style>{STYLE}</style></head><body>"
            + "\n".join(part for part in body if part) + f"<script>{SCRIPT}</script></body></html>")


def _model_row(row: ModelRow, base: str) -> str:
    name = f'<a class="model" href="{_attr(base)}/models/{_attr(row.model)}">{escape(row.model)}</a>'
    if row.error:
        return (f'<tr data-model="{_attr(row.model)}"><td>{name}</td>'
                f'<td colspan="6" class="error">{escape(row.error)}</td></tr>')
    lifecycle = f"<br>{_lifecycle(row)}" if row.lifecycle else ""
    return (f'<tr data-model="{_attr(row.model)}"><td>{name}{lifecycle}<br><small>{escape(row.description)}</small>'
            f'</td><td class="champion">{_version_cell(row.champion)}</td><td>{_version_cell(row.challenger)}'
            f"{_pending(row)}</td>"
            f"<td>{_serving(row)}</td><td>{_drift(row.drift)}</td><td>{_production(row.production)}</td>"
            f"<td>{_retraining(row.retraining)}</td></tr>")


def _lifecycle(row: ModelRow) -> str:
    """Retired or deprecated (`mlops_lifecycle`): a badge, the details beside it."""
    detail = f" <small>{escape(row.lifecycle_detail)}</small>" if row.lifecycle_detail else ""
    return f'<span class="badge lifecycle bad">{escape(row.lifecycle or "")}</span>{detail}'


def _pending(row: ModelRow) -> str:
    if not row.pending_approvals:
        return ""
    versions = ", ".join(f"v{escape(v)}" for v in row.pending_approvals)
    return f'<br><small class="pending">awaiting approval: {versions} (Required Actions)</small>'


def _version_cell(ref: VersionRef | None) -> str:
    if ref is None:
        return DASH
    return (f"{_link(ref.url, f'v{ref.version}')}<br><small>{escape(score_text(ref.metric, ref.score))}"
            f"<br>registered {escape(when(ref.created))}</small>")


def _serving(row: ModelRow) -> str:
    if not row.serving:
        return f"{DASH} <small>({escape(row.target)})</small>" if row.target else DASH
    return "<br>".join(f"{escape(target)}: v{escape(version)}" for target, version in row.serving.items())


def _drift(drift: DriftVerdict | None) -> str:
    if drift is None:
        return DASH
    if drift.drifted is None:
        verdict = '<span class="badge">unknown</span>'
    else:
        verdict = (f'<span class="badge {"bad" if drift.drifted else "ok"}">'
                   f'{"drift" if drift.drifted else "no drift"}</span>')
    share = f" {drift.drift_share:.0%} of columns" if drift.drift_share is not None else ""
    served = f" on v{escape(drift.version)}" if drift.version else ""
    run = f" · {_link(drift.airflow_url, 'Airflow run', top=True)}" if drift.airflow_url else ""
    return (f"{verdict}<small>{escape(share)}{served}<br>{escape(when(drift.at))}<br>"
            f"{_link(drift.report_url, 'report')}{run}</small>")


def _production(check: ProductionCheck | None) -> str:
    if check is None:
        return DASH
    parts = []
    if check.realized is not None:
        parts.append(f"realized {score_text(check.metric, check.realized)}")
    if check.estimated is not None:
        parts.append(f"estimated {score_text(check.metric, check.estimated)}")
    if check.n_labels is not None:
        parts.append(f"{check.n_labels} labels")
    verdict = f'<span class="badge">{escape(check.verdict)}</span> ' if check.verdict else ""
    return (f"{verdict}<small>{escape(', '.join(parts) or DASH)} on v{escape(check.version)}"
            f"<br>{escape(when(check.at))}</small>")


def _retraining(run: Retraining | None) -> str:
    if run is None:
        return DASH
    version = f" → v{escape(run.version)}" if run.version else ""
    decision = f" ({escape(run.decision)})" if run.decision else ""
    airflow = f" · {_link(run.airflow_url, 'Airflow run', top=True)}" if run.airflow_url else ""
    return (f"{escape(run.reason or 'unknown reason')}{version}{decision}<br><small>{escape(run.status.lower())}, "
            f"{escape(when(run.at))}<br>{_link(run.run_url, 'MLflow run')}{airflow}</small>")


def _link(url: str | None, text: str, *, top: bool = False) -> str:
    """An outward link: MLflow in a new tab, an Airflow page in the whole window (`top`)."""
    if not url:
        return escape(text)
    target = "_top" if top else "_blank"
    return f'<a href="{_attr(url)}" target="{target}" rel="noopener">{escape(text)}</a>'


def _attr(value: str) -> str:
    return escape(value, quote=True)
