// The trace graph of a step as SVG: nodes in layers (longest path from the inputs), edges as
// curves; the nodes and edges the feedback went along are highlighted.
"use strict";

function cutText(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + "…" : t; }

function traceGraph(trace) {
  if (!trace || !trace.nodes || !trace.nodes.length) return h("p", { cls: "muted" }, "no trace graph for this step");
  const W = 176, H = 46, GX = 22, GY = 46;
  const rank = new Map();
  const parents = new Map();
  for (const [a, b] of trace.edges) { if (!parents.has(b)) parents.set(b, []); parents.get(b).push(a); }
  for (const n of trace.nodes)  // nodes come in topological order
    rank.set(n.id, Math.max(0, ...(parents.get(n.id) || []).map((p) => (rank.get(p) ?? -1) + 1)));
  const layers = [];
  for (const n of trace.nodes) (layers[rank.get(n.id)] ||= []).push(n);
  const pos = new Map();
  layers.forEach((layer, r) => {
    // order a layer by the mean position of its parents: fewer crossings
    layer.sort((a, b) => mean(a) - mean(b));
    layer.forEach((n, i) => pos.set(n.id, { x: GX + i * (W + GX), y: GY / 2 + r * (H + GY) }));
  });
  function mean(n) {
    const ps = (parents.get(n.id) || []).map((p) => pos.get(p)?.x ?? 0);
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : n.id * 0.001;
  }
  const width = GX + Math.max(...layers.map((l) => l.length)) * (W + GX);
  const height = layers.length * (H + GY);
  const byId = new Map(trace.nodes.map((n) => [n.id, n]));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, cls: "trace", id: "trace-graph" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
    s("path", { d: "M0,0L10,5L0,10z" }))));
  for (const [a, b, arg] of trace.edges) {
    const p = pos.get(a), q = pos.get(b);
    const on = byId.get(a).path && byId.get(b).path;
    const x1 = p.x + W / 2, y1 = p.y + H, x2 = q.x + W / 2, y2 = q.y;
    svg.append(s("path", { d: `M${x1},${y1}C${x1},${y1 + GY / 2} ${x2},${y2 - GY / 2} ${x2},${y2}`,
      cls: on ? "edge path" : "edge", "marker-end": "url(#arrow)" }, s("title", {}, arg)));
  }
  for (const n of trace.nodes) {
    const p = pos.get(n.id);
    const cls = ["node", n.kind, n.path ? "path" : "", n.feedback.length ? "given" : "", n.received ? "received" : ""].join(" ");
    const tip = [`${n.name}: ${n.head}`, `value: ${n.value}`, n.where && `at ${n.where}`,
      ...n.feedback.map((f) => `feedback: ${f}`), n.received && "feedback reached this parameter"].filter(Boolean).join("\n");
    svg.append(s("g", { cls, "data-name": n.name, transform: `translate(${p.x},${p.y})` },
      s("title", {}, tip),
      s("rect", { width: W, height: H, rx: n.kind === "param" ? 2 : 12 }),
      s("text", { x: W / 2, y: 18, "text-anchor": "middle", cls: "name" }, cutText(n.kind === "call" || n.kind === "error" ? `${n.name} = ${n.head.split("(")[0]}(…)` : `${n.name} (${n.kind})`, 30)),
      s("text", { x: W / 2, y: 35, "text-anchor": "middle", cls: "value" }, cutText(n.value, 30))));
  }
  const given = trace.nodes.filter((n) => n.feedback.length);
  return h("div", { cls: "trace-box" },
    h("div", { cls: "scroll" }, svg),
    h("p", { cls: "muted" }, "Highlighted: the path the feedback took, from the parameters it reached to the nodes it was given to. Hover a node for its value and source line.",
      trace.cut ? ` The first ${trace.cut} nodes are not shown.` : ""),
    given.length ? h("ul", { cls: "given-list" }, given.map((n) => h("li", {}, h("b", {}, n.name), ": ", n.feedback.join(" | ")))) : null);
}
