// Building the page: elements, numbers, status badges, tables and progress bars.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    el.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  }
  return el;
}

export const fmt = (v, d = 4) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
export const badge = (status) => h("span", { class: `badge ${status}` }, status);
export const table = (head, rows) =>
  h("table", {}, h("tr", {}, head.map((c) => h("th", {}, c))), rows);
export const palette = ["#2f6fde", "#e4572e", "#29a36a", "#9b59b6", "#f2a900", "#17becf",
  "#8c564b"];

// A bar filled to `fraction` (0..1), then `text`.
export const progress = (fraction, text, attrs = {}) => h("p", attrs,
  h("span", { class: "bar" }, h("span", { style: `width:${100 * fraction}%` })), ` ${text}`);

// The runs of an experiment, counted over its statuses.
export const runCount = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

// A form's named, non-empty fields as a query string.
export function formQuery(form) {
  const q = new URLSearchParams();
  for (const el of form.elements) if (el.name && el.value) q.set(el.name, el.value);
  return q;
}
