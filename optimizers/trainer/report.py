"""One self-contained HTML file about a run: curves, cost, parameter history, best parameters.

Everything is inline (CSS and the matplotlib figures as SVG markup); no script, no link to
anything outside the file, so it opens offline and can be mailed or attached to a CI run.
"""

from __future__ import annotations

import html
import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optimizers.trainer.rundir import RunDir, StepFiles
from optimizers.trainer.views import StepRow, diff_values, step_row, value_text

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em} td,th{padding:.2em .6em;border:1px solid #ddd}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.accepted td{background:#eefaee} tr.rejected td{background:#fdf0f0}
pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:.85em}
pre.diff .add{color:#075e07;background:#e6ffe6} pre.diff .del{color:#8b0000;background:#ffecec}
pre.diff .hunk{color:#555} .muted{color:#777} figure{margin:1em 0}
"""


def _svg(fig: Any) -> str:
    """A matplotlib figure as inline SVG markup (the XML prolog dropped)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> Any:
    # A bare Figure, not pyplot: no global figure registry, no change to the user's backend.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _curve(rows: Sequence[StepRow]) -> str:
    fig = _figure(8, 3.4)
    ax = fig.subplots()
    best = [float("nan") if r.best_score is None else r.best_score for r in rows]
    ax.step([r.step for r in rows], best, where="post", label="best so far", lw=2)
    for verdict, marker in (("accepted", "o"), ("rejected", "x"), ("baseline", "s")):
        pts = [
            (r.step, r.val_score) for r in rows if r.verdict == verdict and r.val_score is not None
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker, ls="", label=f"validation ({verdict})")
    train = [(r.step, r.train_score) for r in rows if r.train_score is not None]
    if train:
        ax.plot(*zip(*train, strict=True), ls="--", alpha=0.6, label="minibatch (train)")
    ax.set_xlabel("step")
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    return _svg(fig)


def _cost(rows: Sequence[StepRow]) -> str:
    times = list(itertools.accumulate(r.seconds for r in rows))
    calls = list(itertools.accumulate(r.calls for r in rows))
    fig = _figure(8, 3.0)
    ax = fig.subplots()
    ax.plot(times, [r.total_cost for r in rows], marker="o", label="cost ($)")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("cumulative cost ($)")
    twin = ax.twinx()  # calls on their own axis: a local model costs nothing but still calls
    twin.plot(times, calls, color="tab:orange", ls=":", marker=".", label="model calls")
    twin.set_ylabel("cumulative calls")
    fig.legend(fontsize=8, loc="upper left")
    return _svg(fig)


def _figures(rows: Sequence[StepRow]) -> tuple[str, str]:
    """The learning curve and the cost over time, as inline SVG (deterministic ids)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "tracegraph", "svg.fonttype": "none"}):
        return _curve(rows), _cost(rows)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _steps_table(rows: Sequence[StepRow]) -> str:
    head = (
        "<tr><th>step</th><th>epoch</th><th>train</th><th>val</th><th>± se</th><th>best</th>"
        "<th>decision</th><th>applied</th><th>rejected</th><th>calls</th><th>cost $</th>"
        "<th>note</th></tr>"
    )
    body = []
    for r in rows:
        cells = [
            str(r.step), "" if r.epoch is None else str(r.epoch), _fmt(r.train_score),
            _fmt(r.val_score), _fmt(r.val_stderr), _fmt(r.best_score), r.verdict,
            str(r.applied), str(r.rejected), str(r.calls), f"{r.cost:.4f}",
        ]  # fmt: skip
        tds = "".join(f'<td class="num">{html.escape(c)}</td>' for c in cells)
        body.append(f'<tr class="{r.verdict}">{tds}<td>{html.escape(r.note)}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _diff_html(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = ""
        if line.startswith("+") and not line.startswith("+++"):
            cls = "add"
        elif line.startswith("-") and not line.startswith("---"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        text = html.escape(line)
        out.append(f'<span class="{cls}">{text}</span>' if cls else text)
    return '<pre class="diff">' + "\n".join(out) + "</pre>"


def _history(steps: Sequence[StepFiles]) -> str:
    """Per parameter: each step whose candidate differed from the values before it."""
    names = list(steps[0].params) if steps else []
    parts = []
    for name in names:
        items = []
        for before, files in itertools.pairwise(steps):
            cand = _candidate(files)
            old, new = before.params.get(name), cand.get(name, files.params.get(name))
            diff = diff_values(name, old, new, str(before.step), f"{files.step} (candidate)")
            if diff:
                verdict = "accepted" if files.record.get("accepted") else "rejected"
                items.append(f"<h4>step {files.step}: {verdict}</h4>{_diff_html(diff)}")
        body = "".join(items) or '<p class="muted">never changed</p>'
        parts.append(f"<h3>{html.escape(name)}</h3>{body}")
    return "".join(parts)


def _candidate(files: StepFiles) -> dict[str, Any]:
    path = files.path / "candidate.json"
    if not path.exists():
        return files.params
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else files.params


def render_report(rundir: RunDir) -> str:
    """The HTML text of the report of the run at ``rundir``."""
    run = rundir.read_run()
    ckpt = rundir.read_checkpoint() or {}
    steps = list(rundir.iter_steps())
    rows = [step_row(s) for s in steps]
    curve, cost = _figures(rows) if rows else ("<p>no steps yet</p>", "")
    best = ckpt.get("best_params") or {}
    best_html = "".join(
        f"<h3>{html.escape(k)}</h3><pre>{html.escape(value_text(v))}</pre>" for k, v in best.items()
    )
    total = (steps[-1].record.get("total_usage") or {}) if steps else {}
    summary = (
        f"status <b>{html.escape(str(ckpt.get('status', 'not started')))}</b> "
        f"({html.escape(str(ckpt.get('reason', '')))}); {ckpt.get('step', 0)} steps; "
        f"best score <b>{_fmt(ckpt.get('best_score'))}</b> at step {ckpt.get('best_step', '–')}; "
        f"{total.get('calls', 0)} model calls, "
        f"{total.get('input_tokens', 0) + total.get('output_tokens', 0)} tokens, "
        f"${float(total.get('cost', 0.0)):.4f}"
    )
    title = f"tracegraph run {rundir.path.name}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{summary}</p>"
        f'<p class="muted">optimizer {html.escape(str(run.get("optimizer", "?")))}, '
        f"config {html.escape(str(run.get('config', {})))}</p>"
        f"<h2>Learning curve</h2><figure>{curve}</figure>"
        f"<h2>Cost over time</h2><figure>{cost}</figure>"
        f"<h2>Steps</h2>{_steps_table(rows)}"
        f"<h2>Best parameters</h2>{best_html}"
        f"<h2>Parameter history</h2>{_history(steps)}"
        "</body></html>\n"
    )


def write_report(rundir: RunDir, out: Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) and return its path."""
    path = out or rundir.path / "report.html"
    path.write_text(render_report(rundir), encoding="utf-8")
    return path
