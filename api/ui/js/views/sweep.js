// One sweep: overall progress and its experiments, live until every run has finished.
import { api, planeDatasets } from "../api.js";
import { badge, h, progress, runCount, table } from "../dom.js";

export async function sweepView(ctx, id) {
  const body = h("div");
  if (!ctx.show(h("h1", {}, "Sweep"), body)) return;

  async function refresh() {
    const [s, planes] = await Promise.all([api(`/api/v1/sweeps/${id}`), planeDatasets()]);
    const p = s.progress;
    const pictured = s.experiments.filter((e) => planes.has(e.dataset));
    body.replaceChildren(
      h("p", {}, h("strong", {}, s.name),
        h("span", { class: "muted" }, ` · ${s.experiments.length} experiments`),
        pictured.length ? h("span", {}, " · ", h("a", { id: "input-space-link",
          href: `#/input-space?experiments=${pictured.map((e) => e.id).join(",")}` },
        "input spaces side by side")) : ""),
      progress(p.fraction, `${p.finished}/${p.runs} runs finished, ` +
        `${p.epochs_done}/${p.epochs_total} epochs`, { id: "sweep-progress" }),
      table(["experiment", "status", "runs", "activation", "model", "dataset"],
        s.experiments.map((e) => h("tr", { "data-id": e.id },
          h("td", {}, h("a", { href: `#/experiment/${e.id}` }, e.name)),
          h("td", {}, badge(e.status)), h("td", { class: "num" }, runCount(e.counts)),
          h("td", {}, e.activation), h("td", {}, e.model), h("td", {}, e.dataset)))));
    return p.finished === p.runs;
  }
  if (!(await refresh())) ctx.poll(refresh);
}
