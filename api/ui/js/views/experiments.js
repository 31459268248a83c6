// The experiments list: filters, pagination and live status.
import { api, vocabulary } from "../api.js";
import { badge, formQuery, h, runCount, table } from "../dom.js";

const LIMIT = 20;
const FILTERS = ["activation", "model", "dataset", "tag"];

export async function experimentsView(ctx, query) {
  const vocab = await vocabulary();
  const params = new URLSearchParams(query);
  const offset = Number(params.get("offset") || 0);
  const filters = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/?${formQuery(e.target)}`;
  } },
  FILTERS.map((f) => h("input", { name: f, placeholder: f, value: params.get(f) || "" })),
  h("select", { name: "status" }, ["", ...vocab.statuses.experiment].map((s) =>
    h("option", { value: s, selected: s === params.get("status") }, s || "any status"))),
  h("button", { type: "submit" }, "Filter"));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  if (!ctx.show(h("h1", {}, "Experiments"), filters, body)) return;

  async function refresh() {
    const q = new URLSearchParams({ limit: LIMIT, offset });
    for (const f of [...FILTERS, "status"]) if (params.get(f)) q.set(f, params.get(f));
    const page = await api(`/api/v1/experiments?${q}`);
    const go = (o) => { params.set("offset", o); location.hash = `#/?${params}`; };
    body.replaceChildren(
      table(["name", "status", "runs finished", "activation", "model", "dataset", "tags",
        "created"], page.items.map(row)),
      h("div", { class: "pager" },
        h("button", { disabled: offset === 0, onclick: () => go(Math.max(0, offset - LIMIT)) },
          "‹ newer"),
        h("span", { class: "muted" },
          `${offset + 1}–${offset + page.items.length} of ${page.total}`),
        h("button", { disabled: offset + LIMIT >= page.total, onclick: () => go(offset + LIMIT) },
          "older ›")));
    return false; // the list keeps updating
  }
  await refresh();
  ctx.poll(refresh);
}

function row(e) {
  const n = runCount(e.counts);
  const done = n - e.counts.queued - e.counts.running;
  return h("tr", { "data-id": e.id },
    h("td", {}, h("a", { href: `#/experiment/${e.id}` }, e.name)), h("td", {}, badge(e.status)),
    h("td", {}, h("span", { class: "bar" }, h("span", { style: `width:${n ? 100 * done / n : 0}%` })),
      ` ${done}/${n}`),
    h("td", {}, e.activation), h("td", {}, e.model), h("td", {}, e.dataset),
    h("td", {}, (e.tags || []).join(", ")), h("td", { class: "muted" }, e.created_at.slice(0, 19)));
}
