// The leaderboard of one task: the table, and the means with their confidence intervals.
import { api, vocabulary } from "../api.js";
import { drawIntervals } from "../charts.js";
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
    h("td", { class: "num" }, `${fmt(e.mean)} ± ${fmt(e.std)}`), h("td", { class: "num" }, e.n),
    h("td", { class: "num" }, e.p_holm === null ? "" : Number(e.p_holm).toPrecision(3)),
    h("td", {}, e.verdict), h("td", { class: "muted" }, e.recipe),
    // the loss and the sparsity beside the ranked metric (ReLU against ReLU² and SwiGLU)
    h("td", { class: "num" }, e.val_loss === null ? "" : fmt(e.val_loss)),
    h("td", { class: "num" }, e.val_sparsity === null ? "" : fmt(e.val_sparsity)),
    h("td", { class: "num" }, e.macs ?? "")));
  out.append(h("p", { class: "muted" }, `${board.metric} (${board.stat}); ${board.test} test ` +
    `against ${board.baseline} with the same recipe, Holm-corrected, alpha ${board.alpha}`),
  table(["rank", "activation", `${board.metric} mean ± std`, "n", "p (Holm)", "verdict",
    "recipe differs", "val loss", "val sparsity", "MACs"], rows));
  if (board.entries.length) {
    const canvas = h("canvas", { id: "ci", width: 900, height: 50 + 30 * board.entries.length });
    out.append(h("h2", {}, "Means with 95% confidence intervals"), h("div", { class: "card" }, canvas));
    drawIntervals(canvas, board.entries);
  }
}
