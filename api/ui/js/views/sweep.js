// One sweep: overall progress and its experiments, its tuning and its race, live until every
// run has finished.
import { api, planeDatasets, vocabulary } from "../api.js";
import { drawRace } from "../charts.js";
import { badge, h, progress, runCount, table } from "../dom.js";

// An adaptive sweep's race: what is decided, when, at what cost, and the intervals narrowing.
function raceSection(race, decisions) {
  const canvas = h("canvas", { id: "race", width: 900,
    height: 40 + race.entries.length * (8 * race.max_rounds + 14) });
  const rows = race.entries.map((e) => h("tr", {}, h("td", {}, e.label),
    h("td", {}, e.decision.replace("_", " ")), h("td", { class: "num" }, e.decided_round ?? ""),
    h("td", { class: "num" }, e.seeds), h("td", { class: "num" }, e.diverged || ""),
    h("td", { class: "num" }, e.fixed_design_seeds ?? "")));
  const section = h("div", { id: "race-section" },
    h("h2", {}, `Race against ${race.baseline}`),
    h("p", { class: "muted" }, `${race.metric} (${race.stat}), alpha ${race.alpha}; round ` +
      `${race.round} of at most ${race.max_rounds}` + (race.finished ? ", finished" : "") +
      `; ${race.seeds_spent} of at most ${race.seeds_max} seeds`),
    race.note ? h("p", { class: "error" }, race.note) : "",
    table(["activation", "decision", "decided in round", "seeds", "diverged",
      "fixed design seeds"], rows),
    h("div", { class: "card" }, canvas));
  drawRace(canvas, race, decisions);
  return section;
}

// A tuning budget: each entry's trials (the same points for all), its choice, and a warning
// where the choice lies at the edge of the space.
function tuningSection(tuning) {
  const show = (params) => Object.entries(params || {})
    .map(([k, v]) => `${k} ${Number(v).toPrecision(3)}`).join(", ");
  const rows = tuning.entries.map((e) => h("tr", {}, h("td", {}, e.label),
    h("td", {}, e.chosen ? show(e.chosen) : "—"),
    h("td", { class: e.on_edge.length ? "error" : "muted" },
      e.on_edge.length ? `at the edge: ${e.on_edge.join(", ")}` : ""),
    h("td", { class: "muted" }, e.trials.map((t) =>
      `${show(t.params)}: ${t.value === null ? (t.status || "queued") : t.value.toFixed(4)}`)
      .join(" · "))));
  return h("div", { id: "tuning-section" },
    h("h2", {}, "Tuning"),
    h("p", { class: "muted" }, `${tuning.trials} trials per entry, the same points for every ` +
      `entry, chosen by ${tuning.select}` + (tuning.finished ? "; evaluated at the choices"
      : "; the evaluation starts when every trial has ended")),
    tuning.note ? h("p", { class: "error" }, tuning.note) : "",
    table(["activation", "chosen", "", `trials (${tuning.select})`], rows));
}

export async function sweepView(ctx, id) {
  const body = h("div");
  if (!ctx.show(h("h1", {}, "Sweep"), body)) return;

  async function refresh() {
    const [s, planes, vocab] = await Promise.all([api(`/api/v1/sweeps/${id}`), planeDatasets(),
      vocabulary()]);
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
          h("td", {}, e.activation), h("td", {}, e.model), h("td", {}, e.dataset)))),
      s.tuning ? tuningSection(s.tuning) : "",
      s.race ? raceSection(s.race, vocab.decisions) : "");
    return p.finished === p.runs && (!s.race || s.race.finished) &&
      (!s.tuning || s.tuning.finished);
  }
  if (!(await refresh())) ctx.poll(refresh);
}
