// actlab's dashboard: a single page over the JSON API (hash routes), native ES modules, no
// build step. Each route renders a view with a context of its own (view.js): the view's
// timers and streams end when the user navigates away.
import { apiKey, forgetKey } from "./api.js";
import { h } from "./dom.js";
import { ViewContext } from "./view.js";
import { catalogView } from "./views/catalog.js";
import { experimentView } from "./views/experiment.js";
import { experimentsView } from "./views/experiments.js";
import { inputSpaceView } from "./views/input_space.js";
import { keyView } from "./views/key.js";
import { leaderboardView } from "./views/leaderboard.js";
import { searchesView, searchView } from "./views/searches.js";
import { sweepView } from "./views/sweep.js";

// path pattern -> view(ctx, argument); the first match wins, the experiments list last.
const ROUTES = [
  [/^\/experiment\/([^/]+)$/, experimentView],
  [/^\/sweep\/([^/]+)$/, sweepView],
  [/^\/search\/([^/]+)$/, searchView],
  [/^\/searches$/, searchesView],
  [/^\/leaderboard$/, leaderboardView, "query"],
  [/^\/input-space$/, inputSpaceView, "query"],
  [/^\/catalog$/, catalogView],
  [/.*/, experimentsView, "query"],
];

let current = null;

async function route() {
  if (current) current.dispose();
  const ctx = current = new ViewContext(route);
  window.actlabCharts = {};
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const [pattern, view, takes] = ROUTES.find(([p]) => p.test(path));
  try {
    await view(ctx, takes === "query" ? query || "" : path.match(pattern)[1]);
  } catch (err) {
    if (!ctx.alive) return;
    if (err.status === 401) {
      ctx.dispose();
      const form = new ViewContext(route);
      current = form;
      keyView(form, Boolean(apiKey()));
      document.body.dataset.ready = "key";
      return;
    }
    ctx.show(h("h1", {}, "Error"), h("pre", {}, JSON.stringify(err.body || String(err), null, 2)));
  }
  if (!ctx.alive) return;
  document.getElementById("forget-key").hidden = !apiKey();
  document.body.dataset.ready = path;
}

window.addEventListener("hashchange", route);
document.getElementById("forget-key").addEventListener("click", () => {
  forgetKey();
  route();
});
route();
