"""The one HTML page of the viewer, served live or exported with its data inlined.

The CSS and the scripts of ``static/`` are put inside the page, so the live page and the
exported report are the same file apart from the ``<script id="tg-data">`` block that the
report adds (a map from API path to its JSON), and nothing is fetched from anywhere else.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["SCRIPTS", "STATIC", "page_html"]

STATIC = Path(__file__).parent / "static"
SCRIPTS = ("core.js", "charts.js", "graph.js", "views.js")


def _inline_json(data: Any) -> str:
    # "</" would end the script element early; "<\/" means the same in JSON strings.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def page_html(data: dict[str, Any] | None = None, *, title: str = "tracegraph") -> str:
    """The page; with ``data`` (API path -> JSON) it works offline, from a file."""
    css = (STATIC / "app.css").read_text(encoding="utf-8")
    js = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in SCRIPTS)
    inline = (
        f'<script id="tg-data" type="application/json">{_inline_json(data)}</script>'
        if data is not None
        else ""
    )
    live = "report" if data is not None else "connecting"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
        '<header><a href="#/">tracegraph</a><span class="spacer"></span>'
        f'<span id="live" class="live">{live}</span></header><main id="main"></main>'
        f"{inline}<script>(() => {{\n{js}\n}})();</script></body></html>\n"
    )
