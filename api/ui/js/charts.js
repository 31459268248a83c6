// Charts: uPlot (vendored, loaded before the modules as the global `uPlot`) for curves, and
// small canvases for box plots, intervals and sparklines. `window.actlabCharts` counts the
// data points each chart drew (the browser tests read it); the router resets it per page.
// uPlot and katex are globals (eslint.config.js names them).
import { fmt, h } from "./dom.js";

window.actlabCharts = {};

export function chart(name, el, opts, data) {
  window.actlabCharts[name] = data.slice(1).reduce(
    (n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
  return new uPlot({ width: Math.min(el.clientWidth || 560, 560), height: 260, ...opts },
    data, el);
}

// One row per parameter group: whiskers from min to max, the box from q1 to q3, the median.
export function drawBoxes(canvas, boxes) {
  const g = canvas.getContext("2d"), left = 230, right = canvas.width - 20;
  const lo = Math.min(...boxes.map((b) => b.min)), hi = Math.max(...boxes.map((b) => b.max));
  const X = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
  g.font = "12px system-ui"; g.fillStyle = "#1d2330";
  boxes.forEach((b, i) => {
    const y = 30 + i * 34;
    g.fillText(`block ${b.block ?? "–"}.${b.position ?? "–"} ${b.name} (n ${b.n})`, 8, y + 4);
    g.strokeStyle = "#667085"; g.beginPath(); g.moveTo(X(b.min), y); g.lineTo(X(b.max), y);
    g.stroke();
    g.fillStyle = "rgba(47,111,222,.25)";
    g.fillRect(X(b.q1), y - 10, Math.max(1, X(b.q3) - X(b.q1)), 20);
    g.strokeStyle = "#2f6fde"; g.strokeRect(X(b.q1), y - 10, Math.max(1, X(b.q3) - X(b.q1)), 20);
    g.beginPath(); g.moveTo(X(b.median), y - 10); g.lineTo(X(b.median), y + 10); g.stroke();
    g.fillStyle = "#1d2330";
  });
  g.fillStyle = "#667085";
  g.fillText(fmt(lo, 3), left, canvas.height - 8);
  g.fillText(fmt(hi, 3), right - 40, canvas.height - 8);
  window.actlabCharts.boxes = boxes.length;
}

// Means with their 95 % intervals, one row per leaderboard entry; the baseline in orange.
export function drawIntervals(canvas, entries) {
  const g = canvas.getContext("2d"), left = 300, right = canvas.width - 30;
  const vals = entries.flatMap((e) => [e.ci95_low ?? e.mean, e.ci95_high ?? e.mean])
    .filter((v) => v !== null);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const X = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
  g.font = "12px system-ui";
  entries.forEach((e, i) => {
    const y = 28 + i * 30;
    g.fillStyle = "#1d2330"; g.fillText(e.label.slice(0, 44), 8, y + 4);
    if (e.mean === null) return;
    g.strokeStyle = "#667085"; g.beginPath(); g.moveTo(X(e.ci95_low ?? e.mean), y);
    g.lineTo(X(e.ci95_high ?? e.mean), y); g.stroke();
    g.fillStyle = e.spec_hash === e.baseline_spec_hash ? "#e4572e" : "#2f6fde";
    g.beginPath(); g.arc(X(e.mean), y, 5, 0, 7); g.fill();
  });
  window.actlabCharts.ci = entries.filter((e) => e.mean !== null).length;
}

// A race of seeds: per entry, its mean and 95 % interval after each round it took part in
// (one line per round, downwards), narrowing as seeds are added; coloured by the tone the
// vocabulary gives its decision.
const TONES = { good: "#12b76a", bad: "#e4572e", neutral: "#667085", open: "#2f6fde",
  reference: "#1d2330" };

export function drawRace(canvas, race, decisions) {
  const tone = Object.fromEntries(decisions.map((d) => [d.name, TONES[d.tone]]));
  const g = canvas.getContext("2d"), left = 330, right = canvas.width - 30;
  const rounds = race.entries.flatMap((e) => e.rounds);
  const vals = rounds.flatMap((r) => [r.low ?? r.mean, r.high ?? r.mean])
    .filter((v) => v !== null);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const X = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
  const step = 8 * race.max_rounds + 14;
  g.font = "12px system-ui";
  race.entries.forEach((e, i) => {
    const top = 24 + i * step, colour = tone[e.decision] || TONES.open;
    const when = e.decided_round ? ` (round ${e.decided_round})` : "";
    const lost = e.diverged ? `, ${e.diverged} diverged` : "";
    g.fillStyle = "#1d2330";
    g.fillText(`${e.label.slice(0, 30)}: ${e.decision.replace("_", " ")}${when}${lost}`, 8,
      top + 4);
    e.rounds.forEach((r, k) => {
      const y = top + k * 8;
      g.strokeStyle = colour; g.globalAlpha = 0.35 + 0.65 * ((k + 1) / e.rounds.length);
      g.beginPath(); g.moveTo(X(r.low ?? r.mean), y); g.lineTo(X(r.high ?? r.mean), y);
      g.stroke(); g.fillStyle = colour; g.beginPath(); g.arc(X(r.mean), y, 2.5, 0, 7); g.fill();
    });
    g.globalAlpha = 1;
  });
  g.fillStyle = "#667085";
  if (vals.length) {
    g.fillText(fmt(lo, 3), left, canvas.height - 6);
    g.fillText(fmt(hi, 3), right - 40, canvas.height - 6);
  }
  window.actlabCharts.race = rounds.length;
}

export function sparkline(curve) {
  const c = h("canvas", { width: 120, height: 40 });
  if (!curve) return c;
  const g = c.getContext("2d"), ys = curve.ys, lo = Math.min(...ys), hi = Math.max(...ys);
  const X = (i) => 2 + (i / (ys.length - 1)) * 116;
  const Y = (v) => 38 - ((v - lo) / (hi - lo || 1)) * 36;
  g.strokeStyle = "#e4e7ec"; g.beginPath(); g.moveTo(60, 0); g.lineTo(60, 40); g.stroke();
  g.strokeStyle = "#2f6fde"; g.lineWidth = 1.5; g.beginPath();
  ys.forEach((v, i) => (i ? g.lineTo(X(i), Y(v)) : g.moveTo(X(i), Y(v)))); g.stroke();
  return c;
}

// A formula typeset by KaTeX (vendored), or its TeX source where KaTeX fails.
export function formula(tex) {
  const el = h("span");
  try { katex.render(tex, el, { throwOnError: false }); } catch { el.textContent = tex; }
  return el;
}
