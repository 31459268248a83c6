// Activation searches: the list, and one search (best so far, the best candidates' curves,
// the ranked table, the confirmation, what was filtered), live until it ends.
import { api, vocabulary } from "../api.js";
import { chart } from "../charts.js";
import { badge, fmt, h, palette, progress, table } from "../dom.js";

export async function searchesView(ctx) {
  const page = await api("/api/v1/searches?limit=100");
  ctx.show(h("h1", {}, "Searches"),
    page.items.length ? table(["search", "status", "phase", "created"], page.items.map((s) =>
      h("tr", { "data-id": s.id }, h("td", {}, h("a", { href: `#/search/${s.id}` }, s.name)),
        h("td", {}, badge(s.status)), h("td", {}, s.phase),
        h("td", { class: "muted" }, s.created_at.replace("T", " ").slice(0, 19)))))
      : h("p", { class: "muted" },
        "No searches yet: POST one to /api/v1/searches, or run `actlab search SPEC`."));
}

export async function searchView(ctx, id) {
  const vocab = await vocabulary();
  const body = h("div");
  if (!ctx.show(h("h1", {}, "Search"), body)) return;

  async function refresh() {
    const s = await api(`/api/v1/searches/${id}`), p = s.progress;
    const ranked = s.candidates.filter((c) => c.rank !== null);
    const best = h("div", { class: "card", id: "best-so-far" });
    const curves = h("div", { class: "card", id: "search-curves" });
    body.replaceChildren(
      h("p", {}, h("strong", {}, s.name), " ", badge(s.status),
        h("span", { class: "muted" }, ` · ${s.phase} · ${s.spec.strategy}`)),
      progress(p.fraction, `${p.trainings}/${p.budget} trainings; ${ranked.length} screened, ` +
        `${s.filtered.length} filtered`, { id: "search-progress" }),
      s.error ? h("pre", { class: "error" }, s.error) : "",
      h("div", { class: "grid" }, best, curves),
      h("h2", {}, "Candidates by validation accuracy"), candidates(s),
      h("h2", {}, "Confirmation (fresh seeds, paired by seed, Holm-corrected)"), confirmation(s),
      h("h2", {}, "Filtered before training"),
      table(["candidate", "reason"], s.filtered.map((f) =>
        h("tr", {}, h("td", {}, f.expression), h("td", { class: "muted" }, f.reason)))));
    if (s.best_so_far.length) {
      chart("best", best, { title: "best validation accuracy so far", scales: { x: { time: false } },
        series: [{ label: "trainings" }, { label: "best val", stroke: palette[0], width: 2 }] },
      [s.best_so_far.map((b) => b.trainings), s.best_so_far.map((b) => b.val_mean)]);
    }
    const top = ranked.filter((c) => c.curve).slice(0, 6);
    if (top.length) {
      chart("search-curves", curves, { title: "the best candidates' curves", scales: { x: { time: false } },
        series: [{}, ...top.map((c, i) => ({ label: c.expression, stroke: palette[i % palette.length] }))] },
      [s.curve_xs, ...top.map((c) => c.curve)]);
    }
    return vocab.finished.search.includes(s.status);
  }
  if (!(await refresh())) ctx.poll(refresh);
}

function candidates(s) {
  return table(["rank", "candidate", "val (mean ± std)", "test", "n", "other spellings", "status"],
    s.candidates.slice(0, 50).map((c) => h("tr", { "data-rank": c.rank ?? "" },
      h("td", { class: "num" }, c.rank ?? "–"),
      h("td", {}, c.experiment_id ? h("a", { href: `#/experiment/${c.experiment_id}` }, c.expression)
        : c.expression),
      h("td", { class: "num" }, c.val_mean === null ? "–" : `${fmt(c.val_mean)} ± ${fmt(c.val_std)}`),
      h("td", { class: "num" }, fmt(c.test_mean)), h("td", { class: "num" }, c.n ?? "–"),
      h("td", { class: "muted" }, c.equivalents.join(", ")), h("td", {}, badge(c.status)))));
}

function confirmation(s) {
  return table(["candidate", "against", "test", "n", "p", "p (Holm)", "verdict"],
    s.confirmation.map((r) => h("tr", {}, h("td", {}, r.expression),
      h("td", {}, r.role === "baseline" ? "–" : r.baseline),
      h("td", { class: "num" }, fmt(r.test_mean)), h("td", { class: "num" }, r.n),
      h("td", { class: "num" }, fmt(r.p_value, 4)), h("td", { class: "num" }, fmt(r.p_holm, 4)),
      h("td", {}, r.verdict))));
}
