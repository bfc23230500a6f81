"""Great Expectations' Data Docs page made self-contained, so it renders where it is opened (MLflow's artifact
view, a download, a machine without internet access).

GX's page loads Bootstrap, jQuery, bootstrap-table, Vega and Font Awesome from public CDNs and its logo from S3;
none of them ships in an installed package. They are removed, and a small stylesheet for the classes the page uses
(layout, tables, cards, badges, the pass/fail icons) keeps it readable. Links in the text stay as they are.
"""

from __future__ import annotations

import re

_EXTERNAL = r"""(?:https?:)?//"""
_LINK_TAG = re.compile(r"<link\b[^>]*>\s*", re.IGNORECASE)  # stylesheets and icons, none of which resolves
_SCRIPT_WITH_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>\s*", re.IGNORECASE)
_EXTERNAL_IMG = re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']?{_EXTERNAL}[^>]*>""", re.IGNORECASE)
_CSS_IMPORT = re.compile(rf"""@import\s+(?:url\()?\s*["']?{_EXTERNAL}[^;]*;""", re.IGNORECASE)
_CSS_URL = re.compile(rf"""url\(\s*["']?{_EXTERNAL}[^)]*\)""", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)

# Bootstrap 4 and Font Awesome, as far as the validation page uses them.
FALLBACK_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#212529;
  line-height:1.45;font-size:15px}
a{color:#0b5cad;text-decoration:none} a:hover{text-decoration:underline}
.navbar,footer{display:none}
.container-fluid{padding:1rem 2rem} .container{padding-top:1rem}
.row{display:flex;flex-wrap:wrap;margin:0}
.col-12,.col-sm-12,.col-xs-12{flex:0 0 100%;max-width:100%}
.col-md-2,.col-lg-2{flex:0 0 15rem;max-width:15rem;padding-right:1.5rem}
.col-md-10,.col-lg-10{flex:1 1 0;min-width:0}
.d-none,.collapse:not(.show){display:none}
.d-flex{display:flex}
.nav{list-style:none;padding:0;margin:0;display:flex;flex-direction:column}
.nav-link{display:block;padding:.2rem .4rem}
.card{border:1px solid #dee2e6;border-radius:.3rem;margin-bottom:1rem;background:#fff}
.card-header{background:#f6f8fa;padding:.4rem .75rem;border-bottom:1px solid #dee2e6}
.card-body{padding:.75rem}
.btn{display:inline-block;border:1px solid #0b5cad;border-radius:.25rem;padding:.2rem .6rem;margin:.1rem;
  background:#fff;color:#0b5cad;cursor:pointer}
.table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
.table th,.table td{border:1px solid #dee2e6;padding:.3rem .5rem;text-align:left;vertical-align:top}
.table thead th{background:#f1f3f5}
.table-responsive{overflow-x:auto}
.badge{display:inline-block;padding:.1rem .4rem;border-radius:.25rem;font-size:85%;font-family:ui-monospace,monospace}
.badge-secondary{background:#e9ecef;color:#343a40}
.alert{padding:.5rem .75rem;border-radius:.3rem;margin:.5rem 0}
.alert-secondary{background:#f1f3f5}
.text-success{color:#2b8a3e} .text-danger{color:#c92a2a} .text-warning{color:#b35c00}
.fas{font-style:normal}
.fa-check-circle::before,.fa-check::before{content:"\\2714"}
.fa-times::before,.fa-times-circle::before{content:"\\2718"}
.fa-exclamation-triangle::before{content:"\\26A0"}
.fa-question-circle::before{content:"?"}
""".strip()


def self_contained(html: str) -> str:
    """`html` without stylesheets, scripts, images or CSS that load from elsewhere, with `FALLBACK_CSS` first in
    `<head>` (the page's own inline styles still win)."""
    html = _LINK_TAG.sub("", html)
    html = _SCRIPT_WITH_SRC.sub("", html)
    html = _EXTERNAL_IMG.sub("", html)
    html = _CSS_IMPORT.sub("", html)
    html = _CSS_URL.sub("none", html)
    return _HEAD.sub(lambda head: f"{head.group(0)}\n<style>{FALLBACK_CSS}</style>", html, count=1)
