// What each edge learned: a KAN drawn as its layers of small curves (pykan's picture, without
// its nodes), each curve an edge's function (or a bspline channel's), with an epoch slider.
import { api } from "../api.js";
import { h } from "../dom.js";

// Edges drawn per layer (the first ones, in channel order): a picture, not a table.
const PER_LAYER = 48;
const SIDE = { width: 56, height: 40 };

export async function edgeFunctions(results, exp, run) {
  const epochs = run.progress.epoch;
  const slider = h("input", { type: "range", id: "edges-epoch", min: 1, max: epochs, value: epochs });
  const label = h("span"), layers = h("div", { class: "card", id: "edges" });
  results.append(h("h2", {}, "Learned functions per layer"),
    h("p", { class: "muted" }, `seed ${run.seed}: each small curve is one edge's function on ` +
      "[-5, 5], the first " + PER_LAYER + " of each layer"), h("p", {}, slider, label), layers);
  const draw = async () => {
    const epoch = Number(slider.value);
    label.textContent = ` epoch ${epoch}`;
    const query = epoch === epochs ? "" : `&epoch=${epoch}`;
    const functions = await api(`/api/v1/runs/${run.id}/functions?limit=4096${query}`);
    const byLayer = new Map();
    for (const f of functions) {
      const shown = byLayer.get(f.layer) || [];
      if (shown.length < PER_LAYER) shown.push(f);
      byLayer.set(f.layer, shown);
    }
    layers.replaceChildren(...[...byLayer].map(([layer, shown]) => h("div", { class: "edge-row" },
      h("div", { class: "muted" }, layer), ...shown.map(curve))));
    window.actlabCharts = { ...window.actlabCharts, edges: functions.length, edgesEpoch: epoch };
  };
  slider.onchange = draw;
  await draw();
}

function curve(f) {
  const c = h("canvas", { width: SIDE.width, height: SIDE.height, title: `edge ${f.index}` });
  const g = c.getContext("2d");
  const lo = Math.min(...f.y), hi = Math.max(...f.y), span = hi - lo || 1;
  const x0 = f.x[0], x1 = f.x[f.x.length - 1];
  g.strokeStyle = "#2f6fde";
  g.beginPath();
  f.x.forEach((x, i) => {
    const px = ((x - x0) / (x1 - x0)) * (SIDE.width - 2) + 1;
    const py = SIDE.height - 1 - ((f.y[i] - lo) / span) * (SIDE.height - 2);
    if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
  });
  g.stroke();
  return c;
}
