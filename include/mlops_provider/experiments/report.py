"""The readable report of an A/B experiment: Markdown for the log and MLflow, the same as a small HTML page."""

from __future__ import annotations

import html
from typing import Any


def _number(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def markdown_report(result: dict[str, Any]) -> str:
    """The verdict, the plan, the arms (sizes and metric) and the comparison, as Markdown."""
    plan, arms, comparison = result["plan"], result["arms"], result.get("comparison")
    metric = plan["metric"]
    lines = [
        f"# A/B experiment: {plan['model']} v{plan['challenger']} (challenger) vs v{plan['champion']} (champion)",
        "",
        f"**Decision: {result['decision']}** ({result['horizon']}): {result['reason']}",
        "",
        "## Plan (stated before the data)",
        "",
        f"- metric: {metric} ({'higher' if plan['higher_is_better'] else 'lower'} is better); champion's holdout "
        f"value {_number(plan['baseline'])}",
        f"- minimum detectable effect {plan['minimum_detectable_effect']:g}, alpha {plan['alpha']:g} (two-sided), "
        f"power {plan['power']:g}; fixed horizon: one look at the planned size or the deadline",
        f"- variance: {plan['variance_source']}",
        f"- split: champion {plan['split']['champion']}%, challenger {plan['split']['challenger']}%, sticky per "
        f"{plan['routing_key']}",
        f"- planned labelled rows: champion {plan['rows']['champion']}, challenger {plan['rows']['challenger']}",
        f"- started {plan['started']}, deadline {plan['deadline']}",
        *[f"- note: {note}" for note in plan.get("notes") or []],
        "",
        "## Arms",
        "",
        f"| arm | version | planned share | requests | predictions | labelled (planned) | {metric} |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, arm in arms.items():
        lines.append(f"| {name} | v{arm['version']} | {arm['share']}% | {arm.get('requests', '-')} | "
                     f"{arm['predictions']} | {arm['labelled']} "
                     f"({arm['planned']}) | {_number(arm['value'])} |")
    lines.append("")
    if result.get("srm_p_value") is not None:
        lines.append(f"Sample-ratio check (chi-square of the requests against the planned split): p = "
                     f"{result['srm_p_value']:.3g} (invalid below 0.001)")
        lines.append("")
    if comparison:
        lines += [
            "## Comparison",
            "",
            f"- test: {comparison['test']}",
            f"- effect (challenger - champion, {result['unit']}): {comparison['effect']:+.4g}",
            f"- {comparison['confidence']:.0%} interval: [{comparison['ci_low']:+.4g}, {comparison['ci_high']:+.4g}]",
            f"- p-value: {comparison['p_value']:.4g}",
            "",
        ]
    return "\n".join(lines)


def html_report(result: dict[str, Any]) -> str:
    """The Markdown report as a standalone HTML page (headings, lists and the arms table)."""
    body: list[str] = []
    in_list = False
    for line in markdown_report(result).splitlines():
        if line.startswith("- ") and not in_list:
            body.append("<ul>")
            in_list = True
        elif not line.startswith("- ") and in_list:
            body.append("</ul>")
            in_list = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            tag = "th" if cells[0] == "arm" else "td"
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
        elif line:
            body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    text = "\n".join(body).replace("<tr><th>", "<table><tr><th>", 1)
    if "<table>" in text:
        last = text.rfind("</tr>") + len("</tr>")
        text = text[:last] + "</table>" + text[last:]
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border:1px solid #ccc;padding:4px 8px}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>A/B experiment</title><style>{style}</style>"
            f"</head><body>\n{text}\n</body></html>\n")
