// The pages: runs, overview, step, lineage, compare. Each fills `main` from the API.
"use strict";

function go(hash) { location.hash = hash; }
function badge(verdict) { return h("span", { cls: `badge ${verdict.replace(" ", "-")}` }, verdict); }
function card(label, value, id) { return h("div", { cls: "card", id }, h("div", { cls: "label" }, label), h("div", { cls: "value" }, value)); }
function table(head, rows, attrs) { return h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))), h("tbody", {}, rows)); }
function pre(t, cls) { return h("pre", { cls }, text(t)); }
function diffPre(diff) {
  return h("pre", { cls: "diff" }, diff.split("\n").map((line) => {
    const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : null;
    return [h("span", { cls }, line), "\n"];
  }));
}
function nav(items) { return h("nav", { cls: "crumbs" }, items.map((it, i) => [i ? " › " : "", it[1] ? h("a", { href: it[1] }, it[0]) : it[0]])); }

PAGES.runs = async (route, main) => {
  const runs = await api("/api/runs");
  if (runs && runs.length === 1) { location.replace(link.run(runs[0].run.id)); return; }
  put(main, h("h1", {}, "Runs"), table(["run", "status", "steps", "best", "calls", "cost", "elapsed"],
    (runs || []).map((r) => h("tr", {}, h("td", {}, h("a", { href: link.run(r.run.id) }, r.run.id)), h("td", {}, r.status),
      h("td", { cls: "num" }, `${r.step}/${r.total_steps}`), h("td", { cls: "num" }, num(r.best_score)),
      h("td", { cls: "num" }, r.calls), h("td", { cls: "num" }, money(r.cost)), h("td", { cls: "num" }, duration(r.elapsed))))),
  runs && runs.length ? null : h("p", { cls: "muted" }, "No run here yet: this page updates when one starts."),
  runs && runs.length > 1 ? h("p", {}, h("a", { href: link.compare(runs[0].run.id, runs[0].best_step ?? 0, runs[1].run.id, runs[1].best_step ?? 0) },
    `Compare the best steps of ${runs[0].run.id} and ${runs[1].run.id}`)) : null);
};

PAGES.overview = async (route, main) => {
  const view = await api(`/api/overview?run=${enc(route.run)}`);
  if (!view) { put(main, h("p", { cls: "error" }, `no run ${route.run}`)); return; }
  const open = (n) => go(link.step(route.run, n));
  const inStep = view.in_step ? `step ${view.in_step.step} running: ${view.in_step.calls} calls, ${duration(view.in_step.seconds)}` : "";
  put(main, 
    nav([["runs", link.runs()], [view.run.id]]),
    h("h1", {}, view.run.name, " ", h("span", { cls: `status ${view.status}`, id: "status" }, view.status)),
    h("p", { cls: "muted", id: "about" }, [view.reason, view.status === "running" && view.idle !== null ? `last change ${duration(view.idle)} ago` : "",
      view.run.optimizer && `optimizer ${view.run.optimizer}`, view.run.workflow && `workflow ${view.run.workflow}`].filter(Boolean).join(" · ")),
    h("div", { cls: "cards" },
      card("steps", `${view.step}/${view.total_steps}`, "steps-done"),
      card("best score", view.best_score === null || view.best_score === undefined ? "–" : `${num(view.best_score)} @ ${view.best_step}`, "best"),
      card("model calls", view.calls, "calls"), card("tokens", view.tokens), card("cost", money(view.cost)),
      card("elapsed", duration(view.elapsed)), card("ETA", view.eta === null ? "–" : duration(view.eta))),
    inStep ? h("p", { cls: "in-step", id: "in-step" }, inStep) : null,
    h("p", {}, h("a", { href: link.lineage(route.run), id: "lineage-link" }, "Lineage of the best parameters"), " · ",
      h("a", { href: link.compare(route.run, 0, route.run, view.best_step ?? 0) }, "Compare baseline and best")),
    h("h2", {}, "Learning curve"), learningCurve(view, open),
    h("h2", {}, view.rows.some((r) => r.total_cost > 0) ? "Cost" : "Model calls"), costCurve(view, open),
    h("h2", {}, "Steps"),
    table(["step", "epoch", "train", "validation", "best", "decision", "why", "calls", "cost", "time"],
      view.rows.map((r) => h("tr", { cls: r.verdict.replace(" ", "-"), "data-step": r.step },
        h("td", { cls: "num" }, h("a", { href: link.step(route.run, r.step) }, r.step)), h("td", { cls: "num" }, r.epoch ?? ""),
        h("td", { cls: "num" }, num(r.train)), h("td", { cls: "num" }, r.val === null ? "–" : `${num(r.val)} ± ${num(r.stderr, 2)}`),
        h("td", { cls: "num" }, num(r.best)), h("td", {}, badge(r.verdict)), h("td", { cls: "why" }, r.why),
        h("td", { cls: "num" }, r.calls), h("td", { cls: "num" }, money(r.cost)), h("td", { cls: "num" }, duration(r.seconds)))),
      { id: "steps" }));
};

function examples(rows, id) {
  if (!rows || !rows.length) return h("p", { cls: "muted" }, "none");
  return table(["#", "input", "target", "output", "score", "feedback"], rows.map((r) => h("tr", { cls: r.error ? "rejected" : "" },
    h("td", { cls: "num" }, r.example), h("td", {}, pre(r.input)), h("td", {}, pre(r.target)), h("td", {}, pre(r.output)),
    h("td", { cls: "num" }, num(r.score)),
    h("td", {}, r.text || "", (r.reasons || []).length ? h("ul", {}, r.reasons.map((x) => h("li", {}, x))) : null,
      (r.extra || []).map((x) => h("div", { cls: "muted" }, `to ${x.node}: ${x.feedback}`)), r.error ? pre(r.error, "error") : null))),
  { id, cls: "examples" });
}

function callBox(c, open) {
  return h("details", { cls: "call", open: open ? "" : null },
    h("summary", {}, `#${c.seq} ${c.label || "call"} → ${c.client}`, c.remote ? " (remote)" : "",
      ` · ${c.usage.input_tokens ?? 0}+${c.usage.output_tokens ?? 0} tokens`),
    c.messages.map((m) => h("div", { cls: "msg" }, h("div", { cls: "role" }, m.role), pre(m.content))),
    h("div", { cls: "msg reply" }, h("div", { cls: "role" }, "reply"), pre(c.reply)));
}

// The optimizer's calls first (the first one open), then the workflow's and the judge's.
function calls(list) {
  if (!list.length) return h("p", { cls: "muted" }, "no model call was journaled in this step");
  const mine = list.filter((c) => String(c.label || "").startsWith("optimizer"));
  const rest = list.filter((c) => !mine.includes(c));
  return [h("div", { id: "optimizer-calls" }, mine.map((c, i) => callBox(c, i === 0))),
    rest.length ? h("details", {}, h("summary", {}, `Workflow and judge calls (${rest.length})`), rest.map((c) => callBox(c, false))) : null];
}

PAGES.step = async (route, main) => {
  const d = await api(`/api/step?run=${enc(route.run)}&n=${route.n}`);
  const crumbs = nav([["runs", link.runs()], [route.run, link.run(route.run)], [`step ${route.n}`]]);
  if (!d) { put(main, crumbs, h("p", { cls: "muted", id: "pending" }, `step ${route.n} is not committed yet: this page updates when it is.`)); return; }
  const r = d.row, rec = d.record;
  put(main, crumbs, h("div", { "data-complete": "" }),
    h("p", { cls: "pager" }, d.step > 0 ? h("a", { href: link.step(route.run, d.step - 1), id: "prev" }, "← previous") : null, " ",
      d.step < d.last ? h("a", { href: link.step(route.run, d.step + 1), id: "next" }, "next →") : null, " · ",
      h("a", { href: link.compare(route.run, Math.max(0, d.step - 1), route.run, d.step) }, "compare with the step before")),
    h("h1", { id: "step-title" }, `Step ${d.step} `, badge(r.verdict)),
    h("p", { cls: "why big", id: "why" }, r.why || "–"),
    h("div", { cls: "cards" }, card("train (minibatch)", num(r.train)), card("validation", r.val === null ? "–" : `${num(r.val)} ± ${num(r.stderr, 2)}`),
      card("best so far", num(r.best)), card("epoch", r.epoch ?? "–"), card("calls", r.calls), card("cost", money(r.cost)), card("time", duration(r.seconds))),
    h("h2", {}, "Optimizer reasoning"), d.reasoning ? pre(d.reasoning, "reasoning") : h("p", { cls: "muted" }, rec.baseline ? "the baseline has no optimizer step" : "none given"),
    d.notes.length ? h("ul", { cls: "notes" }, d.notes.map((n) => h("li", {}, n))) : null,
    h("h2", {}, "Parameter changes"), d.diffs.length ? d.diffs.map((x) => h("div", {}, h("h3", {}, x.name), diffPre(x.diff))) : h("p", { cls: "muted" }, "no parameter changed"),
    h("h2", {}, "Rejections"), d.rejections.length ? table(["by", "parameter", "reasons"], d.rejections.map((x) => h("tr", {},
      h("td", {}, x.by), h("td", {}, x.param), h("td", {}, h("ul", {}, (x.reasons || []).map((y) => h("li", {}, y))))))) : h("p", { cls: "muted" }, "none"),
    h("h2", {}, "Trace graph"), traceGraph(d.trace),
    h("h2", {}, rec.baseline ? "Validation examples" : "Minibatch: inputs, outputs, feedback"), examples(d.feedback, "train-examples"),
    !rec.baseline && d.val.length ? h("details", {}, h("summary", {}, `Validation examples (${d.val.length})`), examples(d.val, "val-examples")) : null,
    h("h2", {}, "Model calls (from the call journal)"), calls(d.calls),
    h("details", {}, h("summary", {}, "Parameter values after this step"), Object.entries(d.params).map(([k, v]) => h("div", {}, h("h3", {}, k), pre(v)))));
};

PAGES.lineage = async (route, main) => {
  const d = await api(`/api/lineage?run=${enc(route.run)}`);
  put(main, nav([["runs", link.runs()], [route.run, link.run(route.run)], ["lineage"]]));
  if (!d) { put(main, h("p", { cls: "muted" }, "no lineage yet")); return; }
  put(main, h("h1", {}, `Lineage of the best parameters (step ${d.best_step})`),
    h("p", { cls: "muted" }, "Each line of the best value, with the step that wrote it; click a step to open it."));
  for (const p of d.params) {
    put(main, h("h2", {}, p.name), h("table", { cls: "blame", "data-param": p.name }, h("tbody", {}, p.lines.map((ln) => {
      const why = d.steps[String(ln.step)] || {};
      return h("tr", { "data-step": ln.step },
        h("td", { cls: "owner" }, h("a", { href: link.step(route.run, ln.step), title: why.decision || "" }, `step ${ln.step}`)),
        h("td", { cls: "line" }, h("code", {}, ln.text)));
    }))));
  }
  put(main, h("h2", {}, "Why these steps"), Object.values(d.steps).map((w) => h("div", { cls: "because", "data-step": w.step },
    h("h3", {}, h("a", { href: link.step(route.run, w.step) }, `step ${w.step}`), w.val !== null && w.val !== undefined ? ` · validation ${num(w.val)}` : ""),
    h("p", {}, w.decision), w.feedback.length ? h("p", {}, "feedback that led to it: ", h("ul", {}, w.feedback.map((f) => h("li", {}, f)))) : null,
    w.reasoning ? h("details", {}, h("summary", {}, "optimizer reasoning"), pre(w.reasoning)) : null)));
};

// A line diff (longest common subsequence) for two texts: [["=", line] | ["-", line] | ["+", line]].
function lineDiff(a, b) {
  const x = a.split("\n"), y = b.split("\n"), n = x.length, m = y.length;
  if (n * m > 4e6) return [...x.map((l) => ["-", l]), ...y.map((l) => ["+", l])];
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push(["=", x[i]]); i++; j++; }
    else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) out.push(["+", y[j++]]);
    else out.push(["-", x[i++]]);
  }
  return out;
}

// Two "run, step" choosers; "compare" opens the pair (steps of one run, or of two runs).
async function picker(route) {
  const runs = (await api("/api/runs")) || [];
  const side = (run, n, id) => {
    const select = h("select", { id: `${id}-run` }, runs.map((r) => h("option", { value: r.run.id, selected: r.run.id === run ? "" : null }, r.run.id)));
    const step = h("input", { id: `${id}-step`, type: "number", min: 0, value: n, style: "width:5em" });
    return [select, " step ", step];
  };
  const a = side(route.run, route.n, "pick-a"), b = side(route.run2, route.n2, "pick-b");
  return h("p", { cls: "picker" }, a, " with ", b, " ",
    h("button", { id: "pick-go", onclick: () => go(link.compare(a[0].value, Number(a[2].value), b[0].value, Number(b[2].value))) }, "compare"));
}

PAGES.compare = async (route, main) => {
  const [a, b] = await Promise.all([api(`/api/step?run=${enc(route.run)}&n=${route.n}`), api(`/api/step?run=${enc(route.run2)}&n=${route.n2}`)]);
  put(main, nav([["runs", link.runs()], [route.run, link.run(route.run)], ["compare"]]),
    h("h1", {}, `Compare ${route.run}:${route.n} with ${route.run2}:${route.n2}`), await picker(route));
  if (!a || !b) { put(main, h("p", { cls: "muted" }, "one of the two steps is not committed (or not in this report)")); return; }
  const side = (d, id) => h("div", { cls: "side", id },
    h("h2", {}, h("a", { href: link.step(d.run, d.step) }, `${d.run} step ${d.step}`), " ", badge(d.row.verdict)),
    h("p", { cls: "why" }, d.row.why), h("p", {}, `validation ${num(d.row.val)} · best ${num(d.row.best)} · train ${num(d.row.train)}`));
  put(main, h("div", { cls: "two" }, side(a, "side-a"), side(b, "side-b")));
  for (const name of [...new Set([...Object.keys(a.params), ...Object.keys(b.params)])].sort()) {
    const d = lineDiff(text(a.params[name] ?? ""), text(b.params[name] ?? ""));
    put(main, h("h3", {}, name), h("div", { cls: "two" },
      h("pre", { cls: "diff" }, d.filter((r) => r[0] !== "+").map((r) => [h("span", { cls: r[0] === "-" ? "del" : null }, r[1]), "\n"])),
      h("pre", { cls: "diff" }, d.filter((r) => r[0] !== "-").map((r) => [h("span", { cls: r[0] === "+" ? "add" : null }, r[1]), "\n"]))));
  }
};

window.addEventListener("hashchange", () => render(false));
render(false);
listen();
