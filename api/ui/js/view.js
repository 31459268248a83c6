// What a view owns while it is on screen: its timers and its event stream. The router makes
// one context per navigation and disposes of it on the next, so a refresh that resolves
// after the user moved on touches nothing of the new page, and a view's polling is its own.

const main = document.getElementById("view");

// Live intervals and streams of all contexts (the browser tests read it: one view's).
window.actlabLive = 0;

export class ViewContext {
  constructor(reload) {
    this.reload = reload; // render the current route again
    this.alive = true;
    this.timers = new Set();
    this.streams = new Set();
  }

  // Replace the page, unless a newer route has started.
  show(...nodes) {
    if (this.alive) main.replaceChildren(...nodes);
    return this.alive;
  }

  // Run `refresh` every `ms` while this view is shown, until it resolves to true (the work
  // it shows has finished). A failed refresh is tried again on the next tick.
  poll(refresh, ms = 2000) {
    if (!this.alive) return;
    const id = setInterval(async () => {
      const done = await refresh().catch(() => false);
      if (done) this.stop(id);
    }, ms);
    this.timers.add(id);
    window.actlabLive += 1;
  }

  stop(id) {
    if (this.timers.delete(id)) {
      clearInterval(id);
      window.actlabLive -= 1;
    }
  }

  // Start `start(signal)` (an event stream) for as long as this view is shown.
  stream(start) {
    if (!this.alive) return;
    const controller = new AbortController();
    this.streams.add(controller);
    window.actlabLive += 1;
    start(controller.signal).catch(() => {}).finally(() => {
      if (this.streams.delete(controller)) window.actlabLive -= 1;
    });
  }

  dispose() {
    this.alive = false;
    for (const id of [...this.timers]) this.stop(id);
    for (const controller of this.streams) controller.abort();
  }
}
