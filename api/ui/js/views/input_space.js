// Input space: decision regions and bent grids, several activations side by side, the
// epoch chosen with one slider.
import { api, vocabulary } from "../api.js";
import { h } from "../dom.js";

const CLASS_COLOURS = ["#2f6fde", "#e4572e", "#29a36a", "#9b59b6", "#f2a900", "#17becf", "#8c564b"];

export async function inputSpaceView(ctx, query) {
  const ids = (new URLSearchParams(query).get("experiments") || "").split(",").filter(Boolean);
  const [vocab, ...exps] = await Promise.all([vocabulary(),
    ...ids.map((id) => api(`/api/v1/experiments/${id}`))]);
  // One seed per experiment (the first that succeeded), all its recorded epochs.
  const pics = await Promise.all(exps.map((e) => {
    const run = e.runs.find((r) => vocab.with_results.includes(r.status));
    return run ? api(`/api/v1/runs/${run.id}/input-space`) : null;
  }));
  const epochs = [...new Set(pics.flatMap((p) => (p ? p.recorded : [])))].sort((a, b) => a - b);
  const slider = h("input", { type: "range", id: "input-space-epoch", min: 0,
    max: Math.max(0, epochs.length - 1), value: Math.max(0, epochs.length - 1) });
  const label = h("span"), panels = h("div", { class: "planes" });
  const draw = () => {
    const epoch = epochs[Number(slider.value)];
    label.textContent = ` epoch ${epoch ?? "–"}`;
    window.actlabCharts = {};
    panels.replaceChildren(...pics.map((p, i) => {
      if (!p) {
        return h("div", { class: "card" }, h("strong", {}, exps[i].name),
          h("p", { class: "muted" }, "no finished run yet"));
      }
      // the latest picture at or before the chosen epoch
      const shown = p.epochs.filter((e) => e.epoch <= epoch).pop() || p.epochs[0];
      return h("div", { class: "card" }, h("strong", {}, p.activation),
        h("span", { class: "muted" }, ` · seed ${p.seed}`), inputSpacePanel(`input-space-${i}`, p, shown));
    }));
  };
  slider.oninput = draw;
  if (!ctx.show(h("h1", {}, "Input space"),
    h("p", { class: "muted" }, "Predicted class over the input plane with the training points, " +
      "and how each hidden layer bends a grid of lines drawn on the plane (wider layers " +
      "projected to their two principal components)."),
    h("p", {}, slider, label), panels)) return;
  draw();
}

export function inputSpacePanel(name, pic, shown) {
  const box = h("div", { class: "plane-row" });
  const size = 220, regions = h("canvas", { width: size, height: size, class: "regions" });
  const g = regions.getContext("2d"), n = pic.grid_cells, cell = size / n;
  shown.classes.forEach((row, r) => row.forEach((c, col) => {
    g.fillStyle = CLASS_COLOURS[c % CLASS_COLOURS.length] + "40";
    g.fillRect(col * cell, size - (r + 1) * cell, cell + 0.5, cell + 0.5);
  }));
  const [x0, x1] = pic.bounds.x, [y0, y1] = pic.bounds.y;
  pic.points.x.forEach((x, i) => {
    g.fillStyle = CLASS_COLOURS[pic.points.label[i] % CLASS_COLOURS.length];
    g.beginPath();
    g.arc(((x - x0) / (x1 - x0)) * size, size - ((pic.points.y[i] - y0) / (y1 - y0)) * size,
      1.8, 0, 2 * Math.PI);
    g.fill();
  });
  box.append(h("figure", {}, regions,
    h("figcaption", { class: "muted" }, `epoch ${shown.epoch}: predicted class`)));
  let drawn = n * n + pic.points.x.length;
  for (const layer of shown.layers.slice(1)) {
    const canvas = h("canvas", { width: size, height: size, class: "grid-lines" });
    drawn += drawLines(canvas, layer.lines);
    const how = layer.projection === "pca"
      ? `PCA of ${layer.width}, ${(100 * layer.explained).toFixed(0)} % of variance` : "as is";
    box.append(h("figure", {}, canvas,
      h("figcaption", { class: "muted" }, `${layer.layer} (${layer.activation}): ${how}`)));
  }
  window.actlabCharts[name] = drawn;
  return box;
}

function drawLines(canvas, lines) {
  const g = canvas.getContext("2d"), pts = lines.flat();
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
  const span = Math.max(hi[0] - lo[0], hi[1] - lo[1]) || 1, pad = 8, w = canvas.width - 2 * pad;
  const X = (v) => pad + ((v - lo[0]) / span) * w;
  const Y = (v) => canvas.height - pad - ((v - lo[1]) / span) * w;
  lines.forEach((line, i) => {
    // vertical lines of the input grid first, then horizontal ones
    g.strokeStyle = i < lines.length / 2 ? "rgba(47,111,222,.8)" : "rgba(228,87,46,.8)";
    g.beginPath();
    line.forEach(([x, y], j) => (j ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
  });
  return pts.length;
}
