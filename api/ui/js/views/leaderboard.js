// The leaderboard of one task: the table, and the means with their confidence intervals;
// then the same filters across tasks: the record and the performance profiles.
import { api, vocabulary } from "../api.js";
import { chart, drawIntervals } from "../charts.js";
import { fmt, formQuery, h, table } from "../dom.js";

export async function leaderboardView(ctx, query) {
  const params = new URLSearchParams(query);
  const [models, datasets, vocab] = await Promise.all([
    api("/api/v1/catalog/models"), api("/api/v1/catalog/datasets"), vocabulary()]);
  const defaults = vocab.defaults;
  const pick = (name, items, fallback) => h("select", { name }, items.map((i) =>
    h("option", { value: i.name, selected: i.name === (params.get(name) || fallback) }, i.name)));
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/leaderboard?${formQuery(e.target)}`;
  } }, pick("model", models, defaults.model), pick("dataset", datasets, defaults.dataset),
  pick("metric", vocab.metrics, defaults.metric),
  h("input", { name: "baseline", placeholder: `baseline (${defaults.baseline})`,
    value: params.get("baseline") || "" }),
  h("input", { name: "tag", placeholder: "tag", value: params.get("tag") || "" }),
  h("button", { type: "submit" }, "Show"));
  const out = h("div");
  if (!ctx.show(h("h1", {}, "Leaderboard"), form, out)) return;
  const q = new URLSearchParams({ model: params.get("model") || defaults.model,
    dataset: params.get("dataset") || defaults.dataset,
    metric: params.get("metric") || defaults.metric });
  for (const f of ["baseline", "tag"]) if (params.get(f)) q.set(f, params.get(f));
  const board = await api(`/api/v1/leaderboard?${q}`);
  const rows = board.entries.map((e) => h("tr", {}, h("td", { class: "num" }, e.rank),
    h("td", {}, e.label),
    h("td", { class: "num" }, `${fmt(e.mean)} ± ${fmt(e.std)}`),
    // seeds that diverged or failed beside the ones in the statistics: nothing dropped
    h("td", { class: "num" }, `${e.n}${e.diverged ? ` +${e.diverged} diverged` : ""}` +
      `${e.failed ? ` +${e.failed} failed` : ""}`),
    h("td", { class: "num" }, e.p_holm === null ? "" : Number(e.p_holm).toPrecision(3)),
    h("td", {}, e.verdict), h("td", { class: "muted" }, e.recipe),
    // the loss and the sparsity beside the ranked metric (ReLU against ReLU² and SwiGLU):
    // exact zeros (empty for an activation that never outputs one) and CETT (FFN slots)
    h("td", { class: "num" }, e.val_loss === null ? "" : fmt(e.val_loss)),
    h("td", { class: "num" }, e.val_sparsity === null ? "" : fmt(e.val_sparsity)),
    h("td", { class: "num" }, (e.val_sparsity_cett ?? null) === null ? "" : fmt(e.val_sparsity_cett)),
    h("td", { class: "num" }, e.macs ?? "")));
  out.append(h("p", { class: "muted" }, `${board.metric} (${board.stat}); ${board.test} test ` +
    `against ${board.baseline} with the same recipe, Holm-corrected, alpha ${board.alpha}`),
  table(["rank", "activation", `${board.metric} mean ± std`, "n", "p (Holm)", "verdict",
    "recipe differs", "val loss", "val sparsity", "CETT sparsity", "MACs"], rows));
  if (board.entries.length) {
    const canvas = h("canvas", { id: "ci", width: 900, height: 50 + 30 * board.entries.length });
    out.append(h("h2", {}, "Means with 95% confidence intervals"), h("div", { class: "card" }, canvas));
    drawIntervals(canvas, board.entries);
  }
  q.delete("model"); q.delete("dataset");
  acrossTasks(out, await api(`/api/v1/leaderboard?${q}`));
}

// Across tasks: the record against the baseline and the performance profiles (Dolan & Moré):
// the fraction of comparison groups where each activation is within tau of the best.
function acrossTasks(out, board) {
  const profiles = board.profiles;
  if (!profiles || !profiles.entries.length || !profiles.problems) return;
  const rows = board.entries.map((e) => h("tr", {}, h("td", {}, e.label),
    h("td", { class: "num" }, e.tasks), h("td", { class: "num" }, e.groups),
    h("td", { class: "num" }, `${e.win} / ${e.not_significant} / ${e.loss}`),
    h("td", { class: "num" }, e.profile_score === null ? "" : fmt(e.profile_score))));
  const el = h("div", { class: "card", id: "profiles" });
  out.append(h("h2", {}, "Across tasks"), h("p", { class: "muted" },
    `${profiles.problems} comparison groups; cost: ${profiles.cost}; score: the profile's ` +
    `area over [1, ${profiles.tau_max}], normalised (1: best everywhere)`),
  table(["activation", "tasks", "groups", "better / not significant / worse", "profile score"],
    rows), el);
  // one x axis for every step function: the union of their breakpoints
  const xs = [...new Set(profiles.entries.flatMap((p) => p.tau))].sort((a, b) => a - b);
  const at = (p, x) => p.rho[p.tau.filter((t) => t <= x).length - 1] ?? 0;
  const steps = uPlot.paths.stepped({ align: 1 });
  chart("profiles", el, {
    title: "performance profiles", scales: { x: { time: false }, y: { range: [0, 1.02] } },
    axes: [{ label: "tau" }, { label: "fraction of groups" }],
    series: [{}, ...profiles.entries.map((p, i) => ({ label: `${p.label} (${fmt(p.score)})`,
      stroke: `hsl(${(i * 67) % 360} 65% 45%)`, paths: steps }))],
  }, [xs, ...profiles.entries.map((p) => xs.map((x) => at(p, x)))]);
}
