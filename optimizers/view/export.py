"""``report.html``: the viewer's pages as one self-contained file.

The page is the live viewer's page with every API answer it needs inlined: the run list,
the overview, every committed step and the lineage. No script or style is fetched from
anywhere, so it opens offline and can be mailed or attached to a CI run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from optimizers.view.data import RunReader
from optimizers.view.lineage import lineage
from optimizers.view.page import page_html

__all__ = ["export_data", "render_report", "write_report"]


def export_data(reader: RunReader) -> dict[str, Any]:
    """Every API answer the pages of one run ask for, by path."""
    q = quote(reader.id, safe="!*'()")  # as JS encodeURIComponent
    overview = reader.overview()
    listing = {k: v for k, v in overview.items() if k != "rows"}
    data: dict[str, Any] = {
        "/api/runs": [{**listing, "steps": len(overview["rows"])}],
        f"/api/overview?run={q}": overview,
        f"/api/lineage?run={q}": lineage(reader),
    }
    for step in reader.committed():
        found = reader.step(step)
        if found is not None:
            data[f"/api/step?run={q}&n={step}"] = found
    return data


def render_report(path: Path) -> str:
    """The report of the run at ``path`` as HTML text."""
    reader = RunReader(Path(path))
    return page_html(export_data(reader), title=f"tracegraph run {reader.path.name}")


def write_report(path: Path, out: Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) and return its path."""
    target = out or Path(path) / "report.html"
    target.write_text(render_report(Path(path)), encoding="utf-8")
    return target
