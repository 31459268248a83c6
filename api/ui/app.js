// actlab's dashboard: a single page over the JSON API (hash routes), charts by uPlot
// (vendored). `window.actlabCharts` counts the data points each chart drew (the browser
// tests read it).
"use strict";

window.actlabCharts = {};
const view = document.getElementById("view");
let timer = null;

// With ACTLAB_AUTH on, every /api/v1 request carries the key the user typed (kept in this
// browser's localStorage); a 401 shows the key form instead of the page.
const KEY_ITEM = "actlab.apiKey";

async function api(path, options = {}) {
  const key = localStorage.getItem(KEY_ITEM);
  const headers = { ...(options.headers || {}) };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw { status: response.status, body };
  return body;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return el;
}

const fmt = (v, d = 4) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const badge = (s) => h("span", { class: `badge ${s}` }, s);
const table = (head, rows) => h("table", {}, h("tr", {}, head.map((c) => h("th", {}, c))), rows);
const palette = ["#2f6fde", "#e4572e", "#29a36a", "#9b59b6", "#f2a900", "#17becf", "#8c564b"];

function chart(name, el, opts, data) {
  window.actlabCharts[name] = data.slice(1).reduce(
    (n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
  return new uPlot({ width: Math.min(el.clientWidth || 560, 560), height: 260, ...opts }, data, el);
}

// Datasets whose runs have input-space pictures: 2-D inputs, one label per example.
let planeSets = null;
async function planeDatasets() {
  if (!planeSets) planeSets = api("/api/v1/catalog/datasets").then((all) => new Set(all
    .filter((d) => d.input_shape.length === 1 && d.input_shape[0] === 2 && (d.task || "classification") === "classification")
    .map((d) => d.name)));
  return planeSets;
}

// ---- experiments list: filters, pagination, live status ------------------------------
async function listView(query) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const params = new URLSearchParams(query);
  const limit = 20, offset = Number(params.get("offset") || 0);
  const filters = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of e.target.elements) if (el.name && el.value) q.set(el.name, el.value);
    location.hash = `#/?${q}`;
  } },
    ["activation", "model", "dataset", "tag"].map((f) =>
      h("input", { name: f, placeholder: f, value: params.get(f) || "" })),
    h("select", { name: "status" }, ["", "queued", "running", "succeeded", "partial", "failed",
      "cancelled"].map((s) => h("option", { value: s, selected: s === params.get("status") },
      s || "any status"))),
    h("button", { type: "submit" }, "Filter"));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(h("h1", {}, "Experiments"), filters, body);

  async function refresh() {
    const q = new URLSearchParams({ limit, offset });
    for (const f of ["activation", "model", "dataset", "tag", "status"])
      if (params.get(f)) q.set(f, params.get(f));
    const page = await api(`/api/v1/experiments?${q}`);
    const rows = page.items.map((e) => {
      const n = Object.values(e.counts).reduce((a, b) => a + b, 0);
      const done = n - e.counts.queued - e.counts.running;
      return h("tr", { "data-id": e.id },
        h("td", {}, h("a", { href: `#/experiment/${e.id}` }, e.name)), h("td", {}, badge(e.status)),
        h("td", {}, h("span", { class: "bar" }, h("span", { style: `width:${n ? 100 * done / n : 0}%` })),
          ` ${done}/${n}`),
        h("td", {}, e.activation), h("td", {}, e.model), h("td", {}, e.dataset),
        h("td", {}, (e.tags || []).join(", ")), h("td", { class: "muted" }, e.created_at.slice(0, 19)));
    });
    const go = (o) => { params.set("offset", o); location.hash = `#/?${params}`; };
    body.replaceChildren(
      table(["name", "status", "runs finished", "activation", "model", "dataset", "tags", "created"], rows),
      h("div", { class: "pager" },
        h("button", { disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ newer"),
        h("span", { class: "muted" }, `${offset + 1}–${offset + page.items.length} of ${page.total}`),
        h("button", { disabled: offset + limit >= page.total, onclick: () => go(offset + limit) }, "older ›")));
  }
  await refresh();
  if (mine !== routeGeneration) return;
  timer = setInterval(() => refresh().catch(() => {}), 2000);
}

// ---- one sweep: overall progress and its experiments, live --------------------------
async function sweepView(id) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Sweep"), body);
  async function refresh() {
    const s = await api(`/api/v1/sweeps/${id}`), p = s.progress;
    const planes = await planeDatasets();
    const pictured = s.experiments.filter((e) => planes.has(e.dataset));
    body.replaceChildren(
      h("p", {}, h("strong", {}, s.name), h("span", { class: "muted" }, ` · ${s.experiments.length} experiments`),
        pictured.length ? h("span", {}, " · ", h("a", { id: "input-space-link",
          href: `#/input-space?experiments=${pictured.map((e) => e.id).join(",")}` }, "input spaces side by side")) : ""),
      h("p", { id: "sweep-progress" }, h("span", { class: "bar" }, h("span", { style: `width:${100 * p.fraction}%` })),
        ` ${p.finished}/${p.runs} runs finished, ${p.epochs_done}/${p.epochs_total} epochs`),
      table(["experiment", "status", "runs", "activation", "model", "dataset"], s.experiments.map((e) =>
        h("tr", { "data-id": e.id }, h("td", {}, h("a", { href: `#/experiment/${e.id}` }, e.name)), h("td", {}, badge(e.status)),
          h("td", { class: "num" }, Object.values(e.counts).reduce((a, b) => a + b, 0)),
          h("td", {}, e.activation), h("td", {}, e.model), h("td", {}, e.dataset)))));
    return p.finished === p.runs;
  }
  if (!(await refresh()) && mine === routeGeneration) timer = setInterval(() => refresh().then((done) => done && clearInterval(timer)), 2000);
}

// ---- one experiment: runs, summary, curves, parameter boxes, response region ---------
async function experimentView(id) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const exp = await api(`/api/v1/experiments/${id}`);
  const runs = h("div");
  const drawRuns = (e) => runs.replaceChildren(table(["seed", "status", "epoch", "val acc", "test acc", "error"],
    e.runs.map((r) => h("tr", {}, h("td", {}, r.seed), h("td", {}, badge(r.status)),
      h("td", {}, `${r.progress.epoch}/${r.progress.epochs}`),
      h("td", { class: "num" }, fmt((r.final_metrics || {}).val_accuracy)),
      h("td", { class: "num" }, fmt((r.final_metrics || {}).test_accuracy)),
      h("td", { class: "error" }, r.error || "")))));
  drawRuns(exp);
  if (mine !== routeGeneration) return;
  view.replaceChildren(
    h("h1", {}, exp.name, " ", badge(exp.status)),
    h("p", { class: "muted" }, `${exp.activation} · ${exp.model} · ${exp.dataset} · recipe ${exp.spec_hash.slice(0, 12)}`,
      exp.sweep_id ? h("span", {}, " · ", h("a", { href: `#/sweep/${exp.sweep_id}` }, "its sweep")) : ""),
    h("details", {}, h("summary", {}, "spec"), h("pre", {}, JSON.stringify(exp.spec, null, 2))),
    h("h2", {}, "Runs"), runs, h("div", { id: "results" }));
  if (!["succeeded", "partial", "failed", "cancelled"].includes(exp.status)) {
    // Live progress from the event stream; a status change re-renders the page.
    const live = { ...exp, runs: exp.runs.map((r) => ({ ...r, progress: { ...r.progress } })) };
    follow(id, (name, data) => {
      if (name === "run") {
        const r = live.runs.find((x) => x.id === data.id);
        if (r) Object.assign(r, { status: data.status, error: data.error,
          progress: { epoch: data.epoch, epochs: data.epochs } });
        drawRuns(live);
      } else if (name === "end" || (name === "experiment" && !data.finished &&
                                    data.status !== exp.status)) {
        route();
      }
    }).catch(() => {});
  }
  const results = document.getElementById("results");
  if (exp.kind === "lr_range") return lrRange(exp, results);

  const [summary, params, region] = await Promise.all([
    api(`/api/v1/experiments/${id}/summary`), api(`/api/v1/experiments/${id}/parameters?per_epoch=false`),
    api(`/api/v1/experiments/${id}/response`)]);
  results.append(h("h2", {}, `Summary over ${summary.seeds_finished} finished seed(s)`),
    table(["metric", "split", "final mean ± std", "best mean ± std", "n"],
      Object.entries(summary.metrics).map(([m, s]) => h("tr", {}, h("td", {}, m), h("td", {}, s.split),
        h("td", { class: "num" }, `${fmt(s.final.mean)} ± ${fmt(s.final.std)}`),
        h("td", { class: "num" }, s.best ? `${fmt(s.best.mean)} ± ${fmt(s.best.std)}` : "–"),
        h("td", { class: "num" }, s.final.n)))));

  const curveBox = h("div", { class: "card", id: "curves" });
  // Segmentation experiments add their mean IoU curves.
  const segmentation = ["val_miou", "test_miou"].filter((m) => summary.metrics[m] && summary.metrics[m].final.n > 0);
  const metric = h("select", { id: "curve-metric" }, ["val_accuracy", "test_accuracy", "train_loss",
    "val_loss", "train_accuracy", "test_loss", ...segmentation].map((m) => h("option", { value: m }, m)));
  const perSeed = h("input", { type: "checkbox", id: "per-seed" });
  const drawCurves = async () => {
    const m = metric.value, pts = summary.curves;
    const x = pts.map((p) => p.epoch), mean = pts.map((p) => p[m].mean);
    const lo = pts.map((p) => (p[m].std === null ? p[m].mean : p[m].mean - p[m].std));
    const hi = pts.map((p) => (p[m].std === null ? p[m].mean : p[m].mean + p[m].std));
    const series = [{}, { label: `${m} mean`, stroke: palette[0], width: 2 },
      { label: "−std", stroke: "rgba(47,111,222,.3)" }, { label: "+std", stroke: "rgba(47,111,222,.3)" }];
    const data = [x, mean, lo, hi];
    if (perSeed.checked) for (const [i, r] of exp.runs.entries()) {
      const rows = await api(`/api/v1/runs/${r.id}/metrics`);
      const byEpoch = Object.fromEntries(rows.map((row) => [row.epoch, row[m]]));
      series.push({ label: `seed ${r.seed}`, stroke: palette[(i + 1) % palette.length], dash: [4, 3] });
      data.push(x.map((e) => byEpoch[e] ?? null));
    }
    curveBox.replaceChildren();
    chart("curves", curveBox, { title: `${m} per epoch (mean ± std over seeds)`, series,
      bands: [{ series: [3, 2], fill: "rgba(47,111,222,.12)" }], scales: { x: { time: false } } }, data);
  };
  metric.onchange = drawCurves; perSeed.onchange = drawCurves;
  results.append(h("h2", {}, "Curves"), h("p", {}, metric, " ", h("label", {}, perSeed, " per-seed lines")), curveBox);
  await drawCurves();

  if ((await planeDatasets()).has(exp.dataset) && exp.runs.some((r) => r.status === "succeeded")) {
    const el = h("div", { class: "card" });
    results.append(h("h2", {}, "Input space ", h("a", { href: `#/input-space?experiments=${id}`, class: "muted" }, "(all epochs)")), el);
    const run = exp.runs.find((r) => r.status === "succeeded");
    const pic = await api(`/api/v1/runs/${run.id}/input-space`);
    if (pic.epochs.length) el.append(inputSpacePanel("input-space-0", pic, pic.epochs[pic.epochs.length - 1]));
  }
  if (params.final.length) {
    const boxes = h("canvas", { id: "boxes", width: 900, height: 60 + 34 * params.final.length });
    results.append(h("h2", {}, "Learned parameters per block (final epoch, over channels and seeds)"),
      h("div", { class: "card" }, boxes));
    drawBoxes(boxes, params.final);
  }
  if (region.layers.length) {
    const el = h("div", { class: "card", id: "response" });
    results.append(h("h2", {}, "Response region"), el);
    const series = [{}, { label: "envelope min", stroke: "#999" }, { label: "envelope max", stroke: "#999" },
      ...region.layers.map((l, i) => ({ label: `block ${l.block ?? "–"} ${l.layer}`, stroke: palette[i % palette.length] }))];
    chart("response", el, { title: "learned curves (mean per layer) and their min/max envelope", series,
      bands: [{ series: [2, 1], fill: "rgba(120,120,120,.12)" }], scales: { x: { time: false } } },
    [region.xs, region.envelope.min, region.envelope.max, ...region.layers.map((l) => l.mean)]);
  }
}

function drawBoxes(canvas, boxes) {
  const g = canvas.getContext("2d"), left = 230, right = canvas.width - 20;
  const lo = Math.min(...boxes.map((b) => b.min)), hi = Math.max(...boxes.map((b) => b.max));
  const X = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
  g.font = "12px system-ui"; g.fillStyle = "#1d2330";
  boxes.forEach((b, i) => {
    const y = 30 + i * 34;
    g.fillText(`block ${b.block ?? "–"}.${b.position ?? "–"} ${b.name} (n ${b.n})`, 8, y + 4);
    g.strokeStyle = "#667085"; g.beginPath(); g.moveTo(X(b.min), y); g.lineTo(X(b.max), y); g.stroke();
    g.fillStyle = "rgba(47,111,222,.25)"; g.fillRect(X(b.q1), y - 10, Math.max(1, X(b.q3) - X(b.q1)), 20);
    g.strokeStyle = "#2f6fde"; g.strokeRect(X(b.q1), y - 10, Math.max(1, X(b.q3) - X(b.q1)), 20);
    g.beginPath(); g.moveTo(X(b.median), y - 10); g.lineTo(X(b.median), y + 10); g.stroke();
    g.fillStyle = "#1d2330";
  });
  g.fillStyle = "#667085";
  g.fillText(fmt(lo, 3), left, canvas.height - 8); g.fillText(fmt(hi, 3), right - 40, canvas.height - 8);
  window.actlabCharts.boxes = boxes.length;
}

function lrRange(exp, results) {
  const el = h("div", { class: "card", id: "lr" });
  results.append(h("h2", {}, "Learning-rate range test"), el);
  const r = exp.runs.find((run) => run.status === "succeeded");
  if (!r) return;
  api(`/api/v1/runs/${r.id}`).then((run) => {
    const res = run.result || {};
    chart("lr", el, { title: `smoothed loss; suggested lr ${fmt(res.suggested_lr, 5)}`,
      series: [{}, { label: "smoothed loss", stroke: palette[0] }],
      scales: { x: { time: false, distr: 3 } } }, [res.lrs || [], res.smoothed || []]);
  });
}

// ---- input space: decision regions and bent grids, several activations side by side ----
async function inputSpaceView(query) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const ids = (new URLSearchParams(query).get("experiments") || "").split(",").filter(Boolean);
  const exps = await Promise.all(ids.map((id) => api(`/api/v1/experiments/${id}`)));
  // One seed per experiment (the first that succeeded), all its recorded epochs.
  const pics = await Promise.all(exps.map((e) => {
    const run = e.runs.find((r) => r.status === "succeeded");
    return run ? api(`/api/v1/runs/${run.id}/input-space`) : null;
  }));
  const epochs = [...new Set(pics.flatMap((p) => (p ? p.recorded : [])))].sort((a, b) => a - b);
  const slider = h("input", { type: "range", id: "input-space-epoch", min: 0, max: Math.max(0, epochs.length - 1),
    value: Math.max(0, epochs.length - 1) });
  const label = h("span"), panels = h("div", { class: "planes" });
  const draw = () => {
    const epoch = epochs[Number(slider.value)];
    label.textContent = ` epoch ${epoch ?? "–"}`;
    window.actlabCharts = {};
    panels.replaceChildren(...pics.map((p, i) => {
      if (!p) return h("div", { class: "card" }, h("strong", {}, exps[i].name), h("p", { class: "muted" }, "no finished run yet"));
      // the latest picture at or before the chosen epoch
      const shown = p.epochs.filter((e) => e.epoch <= epoch).pop() || p.epochs[0];
      return h("div", { class: "card" }, h("strong", {}, p.activation), h("span", { class: "muted" }, ` · seed ${p.seed}`),
        inputSpacePanel(`input-space-${i}`, p, shown));
    }));
  };
  slider.oninput = draw;
  if (mine !== routeGeneration) return;
  view.replaceChildren(h("h1", {}, "Input space"),
    h("p", { class: "muted" }, "Predicted class over the input plane with the training points, and how each hidden layer bends a grid of lines drawn on the plane (wider layers projected to their two principal components)."),
    h("p", {}, slider, label), panels);
  draw();
}

const classColours = ["#2f6fde", "#e4572e", "#29a36a", "#9b59b6", "#f2a900", "#17becf", "#8c564b"];

function inputSpacePanel(name, pic, shown) {
  const box = h("div", { class: "plane-row" });
  const size = 220, regions = h("canvas", { width: size, height: size, class: "regions" });
  const g = regions.getContext("2d"), n = pic.grid_cells, cell = size / n;
  shown.classes.forEach((row, r) => row.forEach((c, col) => {
    g.fillStyle = classColours[c % classColours.length] + "40";
    g.fillRect(col * cell, size - (r + 1) * cell, cell + 0.5, cell + 0.5);
  }));
  const [x0, x1] = pic.bounds.x, [y0, y1] = pic.bounds.y;
  pic.points.x.forEach((x, i) => {
    g.fillStyle = classColours[pic.points.label[i] % classColours.length];
    g.beginPath();
    g.arc(((x - x0) / (x1 - x0)) * size, size - ((pic.points.y[i] - y0) / (y1 - y0)) * size, 1.8, 0, 2 * Math.PI);
    g.fill();
  });
  box.append(h("figure", {}, regions, h("figcaption", { class: "muted" }, `epoch ${shown.epoch}: predicted class`)));
  let drawn = n * n + pic.points.x.length;
  for (const layer of shown.layers.slice(1)) {
    const canvas = h("canvas", { width: size, height: size, class: "grid-lines" });
    drawn += drawLines(canvas, layer.lines);
    const how = layer.projection === "pca" ? `PCA of ${layer.width}, ${(100 * layer.explained).toFixed(0)} % of variance` : "as is";
    box.append(h("figure", {}, canvas, h("figcaption", { class: "muted" }, `${layer.layer} (${layer.activation}): ${how}`)));
  }
  window.actlabCharts[name] = drawn;
  return box;
}

function drawLines(canvas, lines) {
  const g = canvas.getContext("2d"), pts = lines.flat();
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
  const span = Math.max(hi[0] - lo[0], hi[1] - lo[1]) || 1, pad = 8, w = canvas.width - 2 * pad;
  const X = (v) => pad + ((v - lo[0]) / span) * w, Y = (v) => canvas.height - pad - ((v - lo[1]) / span) * w;
  lines.forEach((line, i) => {
    // vertical lines of the input grid first, then horizontal ones
    g.strokeStyle = i < lines.length / 2 ? "rgba(47,111,222,.8)" : "rgba(228,87,46,.8)";
    g.beginPath();
    line.forEach(([x, y], j) => (j ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
  });
  return pts.length;
}

async function searchesView() {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const page = await api("/api/v1/searches?limit=100");
  if (mine !== routeGeneration) return;
  view.replaceChildren(h("h1", {}, "Searches"),
    page.items.length ? table(["search", "status", "phase", "created"], page.items.map((s) =>
      h("tr", { "data-id": s.id }, h("td", {}, h("a", { href: `#/search/${s.id}` }, s.name)), h("td", {}, badge(s.status)),
        h("td", {}, s.phase), h("td", { class: "muted" }, s.created_at.replace("T", " ").slice(0, 19)))))
      : h("p", { class: "muted" }, "No searches yet: POST one to /api/v1/searches, or run `actlab search SPEC`."));
}

// ---- an activation search: best so far, candidate curves, ranked table, confirmation --
async function searchView(id) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Search"), body);
  async function refresh() {
    const s = await api(`/api/v1/searches/${id}`), p = s.progress;
    const ranked = s.candidates.filter((c) => c.rank !== null);
    const best = h("div", { class: "card", id: "best-so-far" }), curves = h("div", { class: "card", id: "search-curves" });
    body.replaceChildren(
      h("p", {}, h("strong", {}, s.name), " ", badge(s.status), h("span", { class: "muted" }, ` · ${s.phase} · ${s.spec.strategy}`)),
      h("p", { id: "search-progress" }, h("span", { class: "bar" }, h("span", { style: `width:${100 * p.fraction}%` })),
        ` ${p.trainings}/${p.budget} trainings; ${ranked.length} screened, ${s.filtered.length} filtered`),
      s.error ? h("pre", { class: "error" }, s.error) : "",
      h("div", { class: "grid" }, best, curves),
      h("h2", {}, "Candidates by validation accuracy"),
      table(["rank", "candidate", "val (mean ± std)", "test", "n", "other spellings", "status"], s.candidates.slice(0, 50).map((c) =>
        h("tr", { "data-rank": c.rank ?? "" }, h("td", { class: "num" }, c.rank ?? "–"),
          h("td", {}, c.experiment_id ? h("a", { href: `#/experiment/${c.experiment_id}` }, c.expression) : c.expression),
          h("td", { class: "num" }, c.val_mean === null ? "–" : `${fmt(c.val_mean)} ± ${fmt(c.val_std)}`),
          h("td", { class: "num" }, fmt(c.test_mean)), h("td", { class: "num" }, c.n ?? "–"),
          h("td", { class: "muted" }, c.equivalents.join(", ")), h("td", {}, badge(c.status))))),
      h("h2", {}, "Confirmation (fresh seeds, paired by seed, Holm-corrected)"),
      table(["candidate", "against", "test", "n", "p", "p (Holm)", "verdict"], s.confirmation.map((r) =>
        h("tr", {}, h("td", {}, r.expression), h("td", {}, r.role === "baseline" ? "–" : r.baseline),
          h("td", { class: "num" }, fmt(r.test_mean)), h("td", { class: "num" }, r.n),
          h("td", { class: "num" }, fmt(r.p_value, 4)), h("td", { class: "num" }, fmt(r.p_holm, 4)), h("td", {}, r.verdict)))),
      h("h2", {}, "Filtered before training"),
      table(["candidate", "reason"], s.filtered.map((f) => h("tr", {}, h("td", {}, f.expression), h("td", { class: "muted" }, f.reason)))));
    if (s.best_so_far.length) chart("best", best, { title: "best validation accuracy so far", scales: { x: { time: false } },
      series: [{ label: "trainings" }, { label: "best val", stroke: palette[0], width: 2 }] },
    [s.best_so_far.map((b) => b.trainings), s.best_so_far.map((b) => b.val_mean)]);
    const top = ranked.filter((c) => c.curve).slice(0, 6);
    if (top.length) chart("search-curves", curves, { title: "the best candidates' curves", scales: { x: { time: false } },
      series: [{}, ...top.map((c, i) => ({ label: c.expression, stroke: palette[i % palette.length] }))] },
    [s.curve_xs, ...top.map((c) => c.curve)]);
    return !["queued", "running"].includes(s.status);
  }
  if (!(await refresh()) && mine === routeGeneration) timer = setInterval(() => refresh().then((done) => done && clearInterval(timer)), 2000);
}

// ---- leaderboard: table and means with confidence intervals ---------------------------
async function leaderboardView(query) {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const params = new URLSearchParams(query);
  const [models, datasets] = await Promise.all([api("/api/v1/catalog/models"), api("/api/v1/catalog/datasets")]);
  const pick = (name, items, fallback) => h("select", { name }, items.map((i) =>
    h("option", { value: i.name, selected: i.name === (params.get(name) || fallback) }, i.name)));
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of e.target.elements) if (el.name && el.value) q.set(el.name, el.value);
    location.hash = `#/leaderboard?${q}`;
  } }, pick("model", models, "mlp"), pick("dataset", datasets, "digits"),
  h("input", { name: "baseline", placeholder: "baseline (relu)", value: params.get("baseline") || "" }),
  h("input", { name: "tag", placeholder: "tag", value: params.get("tag") || "" }),
  h("button", { type: "submit" }, "Show"));
  const out = h("div");
  if (mine !== routeGeneration) return;
  view.replaceChildren(h("h1", {}, "Leaderboard"), form, out);
  const q = new URLSearchParams({ model: params.get("model") || "mlp", dataset: params.get("dataset") || "digits" });
  for (const f of ["baseline", "tag"]) if (params.get(f)) q.set(f, params.get(f));
  const board = await api(`/api/v1/leaderboard?${q}`);
  const rows = board.entries.map((e) => h("tr", {}, h("td", { class: "num" }, e.rank), h("td", {}, e.label),
    h("td", { class: "num" }, `${fmt(e.mean)} ± ${fmt(e.std)}`), h("td", { class: "num" }, e.n),
    h("td", { class: "num" }, e.p_holm === null ? "" : Number(e.p_holm).toPrecision(3)),
    h("td", {}, e.verdict), h("td", { class: "muted" }, e.recipe), h("td", { class: "num" }, e.macs ?? "")));
  out.append(h("p", { class: "muted" }, `${board.metric} (${board.stat}); ${board.test} test against ${board.baseline} with the same recipe, Holm-corrected, alpha ${board.alpha}`),
    table(["rank", "activation", `${board.metric} mean ± std`, "n", "p (Holm)", "verdict", "recipe differs", "MACs"], rows));
  if (board.entries.length) {
    const canvas = h("canvas", { id: "ci", width: 900, height: 50 + 30 * board.entries.length });
    out.append(h("h2", {}, "Means with 95% confidence intervals"), h("div", { class: "card" }, canvas));
    const g = canvas.getContext("2d"), left = 300, right = canvas.width - 30;
    const vals = board.entries.flatMap((e) => [e.ci95_low ?? e.mean, e.ci95_high ?? e.mean]).filter((v) => v !== null);
    const lo = Math.min(...vals), hi = Math.max(...vals), X = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
    g.font = "12px system-ui";
    board.entries.forEach((e, i) => {
      const y = 28 + i * 30;
      g.fillStyle = "#1d2330"; g.fillText(e.label.slice(0, 44), 8, y + 4);
      if (e.mean === null) return;
      g.strokeStyle = "#667085"; g.beginPath(); g.moveTo(X(e.ci95_low ?? e.mean), y); g.lineTo(X(e.ci95_high ?? e.mean), y); g.stroke();
      g.fillStyle = e.verdict === "baseline" ? "#e4572e" : "#2f6fde"; g.beginPath(); g.arc(X(e.mean), y, 5, 0, 7); g.fill();
    });
    window.actlabCharts.ci = board.entries.filter((e) => e.mean !== null).length;
  }
}

function formula(tex) {
  const el = h("span");
  try { katex.render(tex, el, { throwOnError: false }); } catch (_) { el.textContent = tex; }
  return el;
}

function sparkline(curve) {
  const c = h("canvas", { width: 120, height: 40 });
  if (!curve) return c;
  const g = c.getContext("2d"), ys = curve.ys, lo = Math.min(...ys), hi = Math.max(...ys);
  const X = (i) => 2 + (i / (ys.length - 1)) * 116, Y = (v) => 38 - ((v - lo) / (hi - lo || 1)) * 36;
  g.strokeStyle = "#e4e7ec"; g.beginPath(); g.moveTo(60, 0); g.lineTo(60, 40); g.stroke();
  g.strokeStyle = "#2f6fde"; g.lineWidth = 1.5; g.beginPath();
  ys.forEach((v, i) => (i ? g.lineTo(X(i), Y(v)) : g.moveTo(X(i), Y(v)))); g.stroke();
  return c;
}

// ---- catalog and the submit form ---------------------------------------------------
async function catalogView() {
  const mine = routeGeneration; // a newer route started: draw nothing, start nothing
  const [acts, models, datasets] = await Promise.all(["activations", "models", "datasets"].map((k) => api(`/api/v1/catalog/${k}`)));
  const select = (name, items, value) => h("select", { name, id: `f-${name}` }, items.map((i) =>
    h("option", { value: i.name, selected: i.name === value }, i.name)));
  const field = (label, input, name) => h("div", { class: "field" }, h("label", {}, label), input,
    h("div", { class: "error", "data-field": name }));
  const form = h("form", { id: "submit-form", onsubmit: submit },
    field("activation", select("activation", acts, "dual_line"), "activation"),
    field("activation params (JSON)", h("textarea", { name: "params", id: "f-params", rows: 2, cols: 60 }, "{}"), "activation.params"),
    field("model", select("model", models, "mlp"), "model"),
    field("dataset", select("dataset", datasets, "digits"), "dataset"),
    field("seeds (comma separated)", h("input", { name: "seeds", id: "f-seeds", value: "0, 1, 2" }), "seeds"),
    field("epochs", h("input", { name: "epochs", id: "f-epochs", value: "5" }), "training"),
    h("button", { type: "submit", id: "f-submit" }, "Submit experiment"),
    h("div", { class: "error", "data-field": "body" }));
  if (mine !== routeGeneration) return;
  view.replaceChildren(h("h1", {}, "Submit an experiment"), form, h("h2", {}, `Activations (${acts.length})`),
    table(["name", "family", "formula", "curve at the defaults", "learnable", "ops/element"],
      acts.map((a) => h("tr", {},
        h("td", {}, a.name), h("td", {}, a.family + (a.plugin ? ` (${a.plugin})` : "")),
        h("td", { class: "formula" }, formula(a.formula)), h("td", {}, sparkline(a.curve)),
        h("td", {}, a.learnable_params.join(", ")), h("td", { class: "num" }, a.ops_per_element)))));
  window.actlabCharts.catalog = acts.filter((a) => a.curve).length;
  window.actlabCharts.formulas = document.querySelectorAll("td.formula .katex").length;

  async function submit(e) {
    e.preventDefault();
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    const f = form.elements;
    let params;
    try { params = JSON.parse(f.params.value || "{}"); } catch (err) {
      form.querySelector('[data-field="activation.params"]').textContent = `not JSON: ${err.message}`;
      return;
    }
    const body = { activation: { name: f.activation.value, params }, model: { name: f.model.value },
      dataset: { name: f.dataset.value }, seeds: f.seeds.value.split(",").map((s) => Number(s.trim())),
      training: { epochs: Number(f.epochs.value) } };
    try {
      const created = await api("/api/v1/experiments", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      location.hash = `#/experiment/${created.id}`;
    } catch (err) {
      const detail = (err.body && err.body.detail) || "request failed";
      for (const d of Array.isArray(detail) ? detail : [{ field: "body", msg: detail }]) {
        const key = ["activation.params", "activation", "model", "dataset", "seeds", "training"]
          .find((k) => d.field === k || d.field.startsWith(`${k}.`)) || "body";
        form.querySelector(`[data-field="${key}"]`).append(h("div", {}, `${d.field}: ${d.msg}`));
      }
    }
  }
}

// ---- server-sent events, read with fetch so the API key goes along ------------------------
// `window.actlabEvents` counts the events received by name (the browser tests read it).
let stream = null;
window.actlabEvents = {};

async function follow(experimentId, onEvent) {
  stream = new AbortController();
  const key = localStorage.getItem(KEY_ITEM);
  const response = await fetch(`/api/v1/experiments/${experimentId}/events`, {
    headers: key ? { Authorization: `Bearer ${key}` } : {}, signal: stream.signal });
  if (!response.ok) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "", data = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
        }
        if (!name) continue;  // a keep-alive comment
        window.actlabEvents[name] = (window.actlabEvents[name] || 0) + 1;
        onEvent(name, data);
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") throw err;
  }
}

// ---- the API key (auth on) ----------------------------------------------------------
function keyView(rejected) {
  const input = h("input", { name: "key", type: "password", autocomplete: "off", size: 60,
    placeholder: "actlab_…" });
  view.replaceChildren(h("h1", {}, "API key"),
    h("p", {}, rejected ? "This key was refused (unknown, malformed or revoked)."
      : "This service asks for an API key (an administrator creates one with `actlab keys create`)."),
    h("form", { id: "key-form", onsubmit: (e) => {
      e.preventDefault();
      localStorage.setItem(KEY_ITEM, input.value.trim());
      route();
    } }, input, " ", h("button", { type: "submit" }, "Use this key")));
}

function forgetKey() {
  localStorage.removeItem(KEY_ITEM);
  route();
}

// ---- routing ------------------------------------------------------------------------
// A route still loading when a newer one starts (a stream's end re-renders the page while
// the user clicks on) must not mark the page ready for its own path afterwards.
let routeGeneration = 0;

async function route() {
  const generation = ++routeGeneration;
  clearInterval(timer);
  if (stream) stream.abort();
  window.actlabCharts = {};
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  try {
    if (path.startsWith("/experiment/")) await experimentView(path.split("/")[2]);
    else if (path.startsWith("/sweep/")) await sweepView(path.split("/")[2]);
    else if (path === "/leaderboard") await leaderboardView(query || "");
    else if (path === "/input-space") await inputSpaceView(query || "");
    else if (path.startsWith("/search/")) await searchView(path.split("/")[2]);
    else if (path === "/searches") await searchesView();
    else if (path === "/catalog") await catalogView();
    else await listView(query || "");
  } catch (err) {
    if (generation !== routeGeneration) return;
    if (err.status === 401) {
      clearInterval(timer);
      keyView(Boolean(localStorage.getItem(KEY_ITEM)));
      document.body.dataset.ready = "key";
      return;
    }
    view.replaceChildren(h("h1", {}, "Error"), h("pre", {}, JSON.stringify(err.body || String(err), null, 2)));
  }
  if (generation !== routeGeneration) return;
  document.getElementById("forget-key").hidden = !localStorage.getItem(KEY_ITEM);
  document.body.dataset.ready = path;
}
window.addEventListener("hashchange", route);
document.getElementById("forget-key").addEventListener("click", forgetKey);
route();
