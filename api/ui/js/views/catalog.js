// The catalog (every activation with its formula and curve) and the submit form, which shows
// the API's 422 messages next to their fields.
import { api, vocabulary } from "../api.js";
import { formula, sparkline } from "../charts.js";
import { h, table } from "../dom.js";

// The form's fields, in the order a refusal's location is matched against them.
const FIELDS = ["activation.params", "activation", "model", "dataset", "seeds", "training"];

export async function catalogView(ctx) {
  const [acts, models, datasets, vocab] = await Promise.all([
    ...["activations", "models", "datasets"].map((k) => api(`/api/v1/catalog/${k}`)), vocabulary()]);
  const defaults = vocab.defaults;
  const select = (name, items, value) => h("select", { name, id: `f-${name}` }, items.map((i) =>
    h("option", { value: i.name, selected: i.name === value }, i.name)));
  const field = (label, input, name) => h("div", { class: "field" }, h("label", {}, label), input,
    h("div", { class: "error", "data-field": name }));
  const form = h("form", { id: "submit-form", onsubmit: (e) => submit(e, form) },
    field("activation", select("activation", acts, defaults.baseline), "activation"),
    field("activation params (JSON)",
      h("textarea", { name: "params", id: "f-params", rows: 2, cols: 60 }, "{}"), "activation.params"),
    field("model", select("model", models, defaults.model), "model"),
    field("dataset", select("dataset", datasets, defaults.dataset), "dataset"),
    field("seeds (comma separated)",
      h("input", { name: "seeds", id: "f-seeds", value: defaults.seeds.join(", ") }), "seeds"),
    field("epochs", h("input", { name: "epochs", id: "f-epochs", value: defaults.epochs }), "training"),
    h("button", { type: "submit", id: "f-submit" }, "Submit experiment"),
    h("div", { class: "error", "data-field": "body" }));
  if (!ctx.show(h("h1", {}, "Submit an experiment"), form, h("h2", {}, `Activations (${acts.length})`),
    table(["name", "family", "formula", "curve at the defaults", "learnable", "ops/element"],
      acts.map((a) => h("tr", {},
        h("td", {}, a.name), h("td", {}, a.family + (a.plugin ? ` (${a.plugin})` : "")),
        h("td", { class: "formula" }, formula(a.formula)), h("td", {}, sparkline(a.curve)),
        h("td", {}, a.learnable_params.join(", ")), h("td", { class: "num" }, a.ops_per_element)))))) return;
  window.actlabCharts.catalog = acts.filter((a) => a.curve).length;
  window.actlabCharts.formulas = document.querySelectorAll("td.formula .katex").length;
}

async function submit(e, form) {
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
    const created = await api("/api/v1/experiments", { method: "POST",
      headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    location.hash = `#/experiment/${created.id}`;
  } catch (err) {
    const detail = (err.body && err.body.detail) || "request failed";
    for (const d of Array.isArray(detail) ? detail : [{ field: "body", msg: detail }]) {
      const key = FIELDS.find((k) => d.field === k || d.field.startsWith(`${k}.`)) || "body";
      form.querySelector(`[data-field="${key}"]`).append(h("div", {}, `${d.field}: ${d.msg}`));
    }
  }
}
