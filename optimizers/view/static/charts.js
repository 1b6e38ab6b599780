// Hand-drawn SVG charts: a line/point chart with clickable points, axes, ticks and a legend.
"use strict";

function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function marker(kind, x, y, cls) {
  if (kind === "cross")
    return s("path", { d: `M${x - 4},${y - 4}L${x + 4},${y + 4}M${x - 4},${y + 4}L${x + 4},${y - 4}`, cls });
  if (kind === "square") return s("rect", { x: x - 4, y: y - 4, width: 8, height: 8, cls });
  return s("circle", { cx: x, cy: y, r: 4, cls });
}

// series: [{name, cls, points: [{x, y, step, title}], line: "solid"|"dash"|"step"|null, marker}]
// onPoint(step) is called when a point is clicked.
function chart({ series, xLabel, yLabel, onPoint, width = 860, height = 300, id }) {
  const pad = { l: 56, r: 16, t: 14, b: 40 };
  const all = series.flatMap((se) => se.points).filter((p) => p.y !== null && p.y !== undefined);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, cls: "chart", id, role: "img" });
  if (!all.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
    return svg;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  let [y0, y1] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const ym = (y1 - y0) * 0.06; y0 -= ym; y1 += ym;
  const X = (v) => pad.l + ((v - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (v) => height - pad.b - ((v - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const axes = s("g", { cls: "axes" });
  for (const t of ticks(y0, y1)) {
    axes.append(s("line", { x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t), cls: "grid" }),
      s("text", { x: pad.l - 6, y: Y(t) + 4, "text-anchor": "end" }, num(t, 3)));
  }
  for (const t of ticks(x0, x1, 8)) {
    if (t !== Math.round(t)) continue;  // the x axis counts steps
    axes.append(s("text", { x: X(t), y: height - pad.b + 16, "text-anchor": "middle" }, num(t, 4)));
  }
  axes.append(
    s("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, cls: "axis" }),
    s("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, cls: "axis" }),
    s("text", { x: (width + pad.l) / 2, y: height - 6, "text-anchor": "middle" }, xLabel),
    s("text", { x: 14, y: (height - pad.b) / 2, transform: `rotate(-90 14 ${(height - pad.b) / 2})`,
      "text-anchor": "middle" }, yLabel));
  svg.append(axes);
  const legend = s("g", { cls: "legend" });
  let lx = pad.l + 8;
  for (const se of series) {
    const pts = se.points.filter((p) => p.y !== null && p.y !== undefined);
    const g = s("g", { cls: `series ${se.cls}` });
    if (se.line && pts.length > 1) {
      let d = `M${X(pts[0].x)},${Y(pts[0].y)}`;
      for (let i = 1; i < pts.length; i++)
        d += se.line === "step" ? `H${X(pts[i].x)}V${Y(pts[i].y)}` : `L${X(pts[i].x)},${Y(pts[i].y)}`;
      g.append(s("path", { d, cls: `line ${se.line}` }));
    }
    if (se.marker) {
      for (const p of pts) {
        const m = marker(se.marker, X(p.x), Y(p.y), "pt");
        m.dataset.step = p.step;
        m.append(s("title", {}, p.title || `step ${p.step}: ${num(p.y)}`));
        if (onPoint) m.addEventListener("click", () => onPoint(p.step));
        g.append(m);
      }
    }
    svg.append(g);
    legend.append(s("g", { cls: `series ${se.cls}` },
      se.marker ? marker(se.marker, lx, pad.t + 4, "key") : s("line", { x1: lx - 8, x2: lx + 8, y1: pad.t + 4, y2: pad.t + 4, cls: `line ${se.line}` }),
      s("text", { x: lx + 10, y: pad.t + 8 }, se.name)));
    lx += 24 + se.name.length * 6.4;
  }
  svg.append(legend);
  return svg;
}

// The learning curve of an overview: train, validation by verdict, best so far.
function learningCurve(view, onPoint) {
  const rows = view.rows;
  const val = (verdict) => rows.filter((r) => r.verdict === verdict && r.val !== null)
    .map((r) => ({ x: r.step, y: r.val, step: r.step, title: `step ${r.step} (${r.verdict}): validation ${num(r.val)}. ${r.why}` }));
  return chart({
    id: "learning-curve", xLabel: "step", yLabel: "score", onPoint,
    series: [
      { name: "best so far", cls: "best", line: "step", points: rows.filter((r) => r.best !== null).map((r) => ({ x: r.step, y: r.best, step: r.step })) },
      { name: "train (minibatch)", cls: "train", line: "dash", marker: "circle", points: rows.filter((r) => r.train !== null).map((r) => ({ x: r.step, y: r.train, step: r.step, title: `step ${r.step}: minibatch ${num(r.train)}` })) },
      { name: "baseline", cls: "baseline", marker: "square", points: val("baseline") },
      { name: "accepted", cls: "accepted", marker: "circle", points: val("accepted") },
      { name: "rejected", cls: "rejected", marker: "cross", points: val("rejected") },
    ],
  });
}

function costCurve(view, onPoint) {
  let calls = 0;
  const rows = view.rows.map((r) => ({ ...r, cumCalls: (calls += r.calls) }));
  const paid = rows.some((r) => r.total_cost > 0);
  return chart({
    id: "cost-curve", xLabel: "step", yLabel: paid ? "cumulative cost ($)" : "cumulative model calls", onPoint, height: 220,
    series: [paid
      ? { name: "cost ($)", cls: "cost", line: "solid", marker: "circle", points: rows.map((r) => ({ x: r.step, y: r.total_cost, step: r.step, title: `step ${r.step}: ${money(r.total_cost)} so far` })) }
      : { name: "model calls", cls: "cost", line: "solid", marker: "circle", points: rows.map((r) => ({ x: r.step, y: r.cumCalls, step: r.step, title: `step ${r.step}: ${r.cumCalls} calls so far` })) }],
  });
}
