"""One self-contained HTML file about a run: the viewer's pages with the run's data inlined.

See :mod:`optimizers.view.export`: the overview (curves, steps), every step (decision,
reasoning, prompts and replies, examples, trace graph, diffs) and the lineage, drawn by the
viewer's own scripts from data inside the file. Nothing outside the file is loaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from optimizers.trainer.rundir import RunDir

__all__ = ["render_report", "write_at_end", "write_report"]


def render_report(rundir: RunDir) -> str:
    """The HTML text of the report of the run at ``rundir``."""
    from optimizers.view.export import render_report as render  # the viewer: loaded when used

    rundir.read_run()
    return render(rundir.path)


def write_report(rundir: RunDir, out: Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) and return its path."""
    from optimizers.view.export import write_report as write

    rundir.read_run()
    return write(rundir.path, out)


def write_at_end(rundir: RunDir) -> Path | None:
    """The report written when a run ends; a run without a committed step has none. The report
    is only a view of the run directory, so a failure to write it warns instead of failing."""
    if not (rundir.path / "checkpoint.json").exists():
        return None
    try:
        return write_report(rundir)
    except Exception as exc:
        warnings.warn(f"report.html was not written: {exc}", stacklevel=2)
        return None
