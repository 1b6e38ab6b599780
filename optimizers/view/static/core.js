// Core of the viewer: data access (live server or data inlined in report.html), DOM helpers,
// formatting, the router and the live-update stream. Every text is inserted as a text node,
// never as HTML: run files hold model output, which is untrusted.
"use strict";

const DATA = (() => {
  const el = document.getElementById("tg-data");
  return el ? JSON.parse(el.textContent) : null;
})();
const STATIC = DATA !== null;
const SVGNS = "http://www.w3.org/2000/svg";

async function api(path) {
  if (STATIC) return path in DATA ? DATA[path] : null;
  const r = await fetch(path, { cache: "no-store" });
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k === "cls" ? "class" : k, v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}
const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
const s = (tag, attrs, ...kids) => build(document.createElementNS(SVGNS, tag), attrs, kids);
const put = (el, ...kids) => build(el, {}, kids);

function num(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toPrecision(digits).replace(/\.?0+$/, "").replace(/\.?0+e/, "e");
}
function money(v) { return "$" + Number(v || 0).toFixed(4); }
function duration(sec) {
  if (sec === null || sec === undefined) return "–";
  sec = Math.round(sec);
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  return hh ? `${hh}h${String(mm).padStart(2, "0")}m` : mm ? `${mm}m${String(ss).padStart(2, "0")}s` : `${ss}s`;
}
function text(v) { return typeof v === "string" ? v : JSON.stringify(v, null, 2); }

// -- routes: #/ (runs), #/run/ID, #/run/ID/step/N, #/run/ID/lineage, #/compare/ID/N/ID/N ------
const enc = encodeURIComponent;
const link = {
  runs: () => "#/",
  run: (id) => `#/run/${enc(id)}`,
  step: (id, n) => `#/run/${enc(id)}/step/${n}`,
  lineage: (id) => `#/run/${enc(id)}/lineage`,
  compare: (a, na, b, nb) => `#/compare/${enc(a)}/${na}/${enc(b)}/${nb}`,
};

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "run" && parts[1]) {
    if (parts[2] === "step") return { page: "step", run: parts[1], n: Number(parts[3]) };
    if (parts[2] === "lineage") return { page: "lineage", run: parts[1] };
    return { page: "overview", run: parts[1] };
  }
  if (parts[0] === "compare" && parts.length >= 5)
    return { page: "compare", run: parts[1], n: Number(parts[2]), run2: parts[3], n2: Number(parts[4]) };
  return { page: "runs" };
}

const PAGES = {};  // filled by views.js: name -> async (route, main) => void
let renderSeq = 0;

async function render(live = false) {
  const route = parseRoute();
  const seq = ++renderSeq;
  const main = h("main", { id: "main" });
  try {
    await PAGES[route.page](route, main, live);
  } catch (err) {
    put(main, h("p", { cls: "error" }, `could not show this page: ${err.message}`));
  }
  if (seq !== renderSeq) return;  // a newer render started meanwhile
  const y = window.scrollY;
  document.getElementById("main").replaceWith(main);
  if (live) window.scrollTo(0, y);
  document.body.dataset.rendered = String(seq);
  document.body.dataset.page = route.page;
}

function listen() {
  if (STATIC || !window.EventSource) return;
  const badge = document.getElementById("live");
  const events = new EventSource("/api/events");
  let timer = null;
  events.onopen = () => { badge.textContent = "live"; badge.className = "live on"; };
  events.onerror = () => { badge.textContent = "reconnecting"; badge.className = "live"; };
  events.onmessage = (ev) => {
    const changed = JSON.parse(ev.data).run;
    const route = parseRoute();
    const mine = route.page === "runs" || route.run === changed || route.run2 === changed;
    if (!mine || (route.page === "step" && document.querySelector("[data-complete]"))) return;
    clearTimeout(timer);
    timer = setTimeout(() => render(true), 150);
  };
}
