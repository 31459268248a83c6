// One experiment: its runs (live from the event stream), the seed summary, curves,
// learned parameters per block, the response region, and input-space pictures.
import { api, follow, planeDatasets, vocabulary } from "../api.js";
import { chart, drawBoxes } from "../charts.js";
import { badge, fmt, h, palette, table } from "../dom.js";
import { edgeFunctions } from "./edges.js";
import { inputSpacePanel } from "./input_space.js";

export async function experimentView(ctx, id) {
  const [exp, vocab] = await Promise.all([api(`/api/v1/experiments/${id}`), vocabulary()]);
  const runs = h("div");
  drawRuns(runs, exp);
  const results = h("div", { id: "results" });
  if (!ctx.show(
    h("h1", {}, exp.name, " ", badge(exp.status)),
    h("p", { class: "muted" },
      `${exp.activation} · ${exp.model} · ${exp.dataset} · recipe ${exp.spec_hash.slice(0, 12)}`,
      exp.sweep_id ? h("span", {}, " · ", h("a", { href: `#/sweep/${exp.sweep_id}` }, "its sweep"))
        : ""),
    h("details", {}, h("summary", {}, "spec"), h("pre", {}, JSON.stringify(exp.spec, null, 2))),
    h("h2", {}, "Runs"), runs, results)) return;
  if (!vocab.finished.experiment.includes(exp.status)) followRuns(ctx, exp, runs);
  if (exp.kind === "lr_range") return lrRange(exp, results, vocab);

  const [summary, params, region] = await Promise.all([
    api(`/api/v1/experiments/${id}/summary`),
    api(`/api/v1/experiments/${id}/parameters?per_epoch=false`),
    api(`/api/v1/experiments/${id}/response`)]);
  results.append(h("h2", {}, `Summary over ${summary.seeds_finished} finished seed(s)`),
    table(["metric", "split", "final mean ± std", "best mean ± std", "n"],
      // the metrics this task measures (a regression has no accuracy, a classifier no RMSE)
      Object.entries(summary.metrics).filter(([, s]) => s.final.n > 0).map(([m, s]) => h("tr", {}, h("td", {}, m),
        h("td", {}, s.split),
        h("td", { class: "num" }, `${fmt(s.final.mean)} ± ${fmt(s.final.std)}`),
        h("td", { class: "num" }, s.best ? `${fmt(s.best.mean)} ± ${fmt(s.best.std)}` : "–"),
        h("td", { class: "num" }, s.final.n)))));
  await curves(results, exp, summary, vocab);
  await inputSpace(results, exp, vocab);
  if (params.final.length) {
    const boxes = h("canvas", { id: "boxes", width: 900, height: 60 + 34 * params.final.length });
    results.append(h("h2", {}, "Learned parameters per block (final epoch, over channels and seeds)"),
      h("div", { class: "card" }, boxes));
    drawBoxes(boxes, params.final);
  }
  if (region.layers.length) responseRegion(results, region);
  const finished = exp.runs.find((r) => vocab.with_results.includes(r.status));
  if (finished && (exp.model === "kan" || exp.activation === "bspline")) {
    await edgeFunctions(results, exp, finished);
  }
}

function drawRuns(el, exp) {
  // a regression has RMSE where a classification has accuracy
  const rmse = exp.runs.some((r) => (r.final_metrics || {}).val_rmse !== undefined);
  const [val, test] = rmse ? ["val_rmse", "test_rmse"] : ["val_accuracy", "test_accuracy"];
  el.replaceChildren(table(["seed", "status", "epoch", rmse ? "val rmse" : "val acc",
    rmse ? "test rmse" : "test acc", "error"],
    exp.runs.map((r) => h("tr", { "data-run": r.id }, h("td", {}, r.seed),
      // a queued run no live worker can serve says what it waits for (resources.device)
      h("td", {}, badge(r.status), r.waiting_for
        ? h("span", { class: "muted waiting" }, ` waiting for ${r.waiting_for}`) : ""),
      h("td", { class: "epoch" }, `${r.progress.epoch}/${r.progress.epochs}`),
      h("td", { class: "num" }, fmt((r.final_metrics || {})[val])),
      h("td", { class: "num" }, fmt((r.final_metrics || {})[test])),
      h("td", { class: "error" }, r.error || "")))));
}

// Live progress from the event stream; a change of the experiment's status re-renders.
function followRuns(ctx, exp, el) {
  const live = { ...exp, runs: exp.runs.map((r) => ({ ...r, progress: { ...r.progress } })) };
  ctx.stream((signal) => follow(exp.id, (name, data) => {
    if (name === "run") {
      const r = live.runs.find((x) => x.id === data.id);
      if (r) Object.assign(r, { status: data.status, error: data.error,
        progress: { epoch: data.epoch, epochs: data.epochs } });
      drawRuns(el, live);
    } else if (name === "end" || (name === "experiment" && !data.finished &&
                                  data.status !== exp.status)) {
      ctx.reload();
    }
  }, signal));
}

// Per-epoch curves of any recorded metric (mean ± std over seeds), optionally per seed.
async function curves(results, exp, summary, vocab) {
  const box = h("div", { class: "card", id: "curves" });
  // The metrics this experiment recorded in any epoch so far (mean IoU: segmentation only).
  const seen = (name) => summary.curves.some((p) => p[name] && p[name].mean !== null);
  const recorded = vocab.metrics.filter((m) => m.split !== "none" && seen(m.name))
    .map((m) => m.name);
  if (!recorded.length) recorded.push(vocab.defaults.select_by); // no epoch yet: an empty chart
  const metric = h("select", { id: "curve-metric" }, recorded.map((m) =>
    h("option", { value: m, selected: m === vocab.defaults.select_by }, m)));
  const perSeed = h("input", { type: "checkbox", id: "per-seed" });
  const draw = async () => {
    const m = metric.value, pts = summary.curves;
    const x = pts.map((p) => p.epoch), mean = pts.map((p) => p[m].mean);
    const lo = pts.map((p) => (p[m].std === null ? p[m].mean : p[m].mean - p[m].std));
    const hi = pts.map((p) => (p[m].std === null ? p[m].mean : p[m].mean + p[m].std));
    const series = [{}, { label: `${m} mean`, stroke: palette[0], width: 2 },
      { label: "−std", stroke: "rgba(47,111,222,.3)" }, { label: "+std", stroke: "rgba(47,111,222,.3)" }];
    const data = [x, mean, lo, hi];
    if (perSeed.checked) {
      for (const [i, r] of exp.runs.entries()) {
        const rows = await api(`/api/v1/runs/${r.id}/metrics`);
        const byEpoch = Object.fromEntries(rows.map((row) => [row.epoch, row[m]]));
        series.push({ label: `seed ${r.seed}`, stroke: palette[(i + 1) % palette.length], dash: [4, 3] });
        data.push(x.map((e) => byEpoch[e] ?? null));
      }
    }
    box.replaceChildren();
    chart("curves", box, { title: `${m} per epoch (mean ± std over seeds)`, series,
      bands: [{ series: [3, 2], fill: "rgba(47,111,222,.12)" }], scales: { x: { time: false } } }, data);
  };
  metric.onchange = draw;
  perSeed.onchange = draw;
  results.append(h("h2", {}, "Curves"),
    h("p", {}, metric, " ", h("label", {}, perSeed, " per-seed lines")), box);
  await draw();
}

async function inputSpace(results, exp, vocab) {
  const run = exp.runs.find((r) => vocab.with_results.includes(r.status));
  if (!run || !(await planeDatasets()).has(exp.dataset)) return;
  const el = h("div", { class: "card" });
  results.append(h("h2", {}, "Input space ",
    h("a", { href: `#/input-space?experiments=${exp.id}`, class: "muted" }, "(all epochs)")), el);
  const pic = await api(`/api/v1/runs/${run.id}/input-space`);
  if (pic.epochs.length) el.append(inputSpacePanel("input-space-0", pic, pic.epochs[pic.epochs.length - 1]));
}

function responseRegion(results, region) {
  const el = h("div", { class: "card", id: "response" });
  results.append(h("h2", {}, "Response region"), el);
  const series = [{}, { label: "envelope min", stroke: "#999" }, { label: "envelope max", stroke: "#999" },
    ...region.layers.map((l, i) => ({ label: `block ${l.block ?? "–"} ${l.layer}`, stroke: palette[i % palette.length] }))];
  chart("response", el, { title: "learned curves (mean per layer) and their min/max envelope", series,
    bands: [{ series: [2, 1], fill: "rgba(120,120,120,.12)" }], scales: { x: { time: false } } },
  [region.xs, region.envelope.min, region.envelope.max, ...region.layers.map((l) => l.mean)]);
}

function lrRange(exp, results, vocab) {
  const el = h("div", { class: "card", id: "lr" });
  results.append(h("h2", {}, "Learning-rate range test"), el);
  const r = exp.runs.find((run) => vocab.with_results.includes(run.status));
  if (!r) return;
  return api(`/api/v1/runs/${r.id}`).then((run) => {
    const res = run.result || {};
    chart("lr", el, { title: `smoothed loss; suggested lr ${fmt(res.suggested_lr, 5)}`,
      series: [{}, { label: "smoothed loss", stroke: palette[0] }],
      scales: { x: { time: false, distr: 3 } } }, [res.lrs || [], res.smoothed || []]);
  });
}
