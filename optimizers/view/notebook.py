"""A run in a notebook: ``FitResult`` shows its outcome and the learning curve as inline SVG.

The curve is drawn here in Python (a notebook output cannot count on running the viewer's
scripts): validation score per step, accepted points green, rejected red, the best score so
far as a step line; and how to open the full viewer.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from optimizers.view.data import RunReader

__all__ = ["curve_svg", "fit_html"]

COLORS = {"accepted": "#1a7f37", "rejected": "#cf222e", "baseline": "#6f42c1"}


def curve_svg(rows: list[dict[str, Any]], width: int = 560, height: int = 200) -> str:
    """The learning curve of an overview's rows as one ``<svg>`` element.

    >>> svg = curve_svg([{"step": 0, "val": 0.2, "best": 0.2, "verdict": "baseline"},
    ...                  {"step": 1, "val": 0.5, "best": 0.5, "verdict": "accepted"}])
    >>> svg.startswith("<svg") and svg.count("<circle") == 2
    True
    """
    pts = [r for r in rows if r.get("val") is not None]
    if not pts:
        return ""
    xs = [r["step"] for r in rows]
    ys = [r["val"] for r in pts] + [r["best"] for r in rows if r.get("best") is not None]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = 30

    def X(v: float) -> float:
        return round(pad + (v - x0) / (x1 - x0) * (width - 2 * pad), 1)

    def Y(v: float) -> float:
        return round(height - pad - (v - y0) / (y1 - y0) * (height - 2 * pad), 1)

    best = [r for r in rows if r.get("best") is not None]
    path = ""
    for r in best:  # a step line: across to the next step, then up or down to its best
        x, y = X(r["step"]), Y(r["best"])
        path += f"H{x}V{y}" if path else f"M{x},{y}"
    dots = "".join(
        f'<circle cx="{X(r["step"])}" cy="{Y(r["val"])}" r="3.5" '
        f'fill="{COLORS.get(r.get("verdict", ""), "#9aa5b1")}"><title>step {r["step"]}: '
        f"{html.escape(str(r.get('why', r['val'])))}</title></circle>"
        for r in pts
    )
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#888"/><text x="{pad}" y="{height - 8}" font-size="11">step {x0}</text>'
        f'<text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">'
        f'step {x1}</text><text x="2" y="{pad}" font-size="11">{y1:.3g}</text>'
        f'<text x="2" y="{height - pad}" font-size="11">{y0:.3g}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{axes}'
        f'<path d="{path}" fill="none" stroke="#0b5cad" stroke-width="2"/>{dots}</svg>'
    )


def fit_html(result: Any) -> str:
    """A FitResult as HTML: status, best score, usage, the curve, how to open the viewer."""
    best = "–" if result.best_score is None else f"{result.best_score:.4g}"
    usage = result.usage
    head = (
        f"<p><b>{html.escape(result.status)}</b>: {html.escape(result.reason)}. "
        f"{result.steps} steps, best score <b>{best}</b> at step {result.best_step}; "
        f"{usage.calls} model calls, {usage.input_tokens + usage.output_tokens} tokens, "
        f"${usage.cost:.4f}</p>"
    )
    params = "".join(
        f"<tr><th>{html.escape(k)}</th><td><pre>{html.escape(str(v))}</pre></td></tr>"
        for k, v in result.best_params.items()
    )
    body = f"{head}<table>{params}</table>"
    if result.run_dir is not None and Path(result.run_dir).exists():
        body += curve_svg(RunReader(Path(result.run_dir)).rows())
        shown = html.escape(str(result.run_dir))
        body += (
            f"<p>Look into every step: <code>tracegraph view {shown}</code> "
            f"or open <code>{shown}/report.html</code></p>"
        )
    return f"<div>{body}</div>"
