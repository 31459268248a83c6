// The JSON API, as the dashboard calls it: requests with the user's key, the experiment
// event stream, and the service's vocabularies (statuses, metrics, defaults), fetched once.

// With ACTLAB_AUTH on, every /api/v1 request carries the key the user typed (kept in this
// browser's localStorage); a 401 shows the key form instead of the page.
const KEY_ITEM = "actlab.apiKey";

export const apiKey = () => localStorage.getItem(KEY_ITEM);
export const rememberKey = (key) => localStorage.setItem(KEY_ITEM, key);
export const forgetKey = () => localStorage.removeItem(KEY_ITEM);

function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

// A failed request throws { status, body } (the API's JSON error, or null).
export async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: withKey(options.headers) });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw { status: response.status, body };
  return body;
}

// A request made once per page load and kept; a failure (a 401 before the key is typed) is
// not kept, so the next call asks again.
function once(load) {
  let kept = null;
  return () => {
    kept ??= load().catch((err) => { kept = null; throw err; });
    return kept;
  };
}

// Statuses (and which of them end the work), metrics, selection metrics and defaults.
export const vocabulary = once(() => api("/api/v1/catalog/vocabulary"));

// Datasets whose runs have input-space pictures: 2-D inputs, one label per example.
export const planeDatasets = once(() => api("/api/v1/catalog/datasets").then((all) => new Set(all
  .filter((d) => d.input_shape.length === 1 && d.input_shape[0] === 2 &&
                 (d.task || "classification") === "classification")
  .map((d) => d.name))));

// `window.actlabEvents` counts the events received by name (the browser tests read it).
window.actlabEvents = {};

// Server-sent events of one experiment, read with fetch so the API key goes along; ends
// when `signal` aborts or the stream closes.
export async function follow(experimentId, onEvent, signal) {
  const response = await fetch(`/api/v1/experiments/${experimentId}/events`,
    { headers: withKey(), signal });
  if (!response.ok) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (!event) continue; // a keep-alive comment
        window.actlabEvents[event.name] = (window.actlabEvents[event.name] || 0) + 1;
        onEvent(event.name, event.data);
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") throw err;
  }
}

function parseEvent(block) {
  let name = "", data = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
  }
  return name ? { name, data } : null;
}
