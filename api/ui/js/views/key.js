// The API key form (auth on): asked for when a request answers 401.
import { rememberKey } from "../api.js";
import { h } from "../dom.js";

export function keyView(ctx, rejected) {
  const input = h("input", { name: "key", type: "password", autocomplete: "off", size: 60,
    placeholder: "actlab_…" });
  ctx.show(h("h1", {}, "API key"),
    h("p", {}, rejected ? "This key was refused (unknown, malformed or revoked)."
      : "This service asks for an API key (an administrator creates one with `actlab keys create`)."),
    h("form", { id: "key-form", onsubmit: (e) => {
      e.preventDefault();
      rememberKey(input.value.trim());
      ctx.reload();
    } }, input, " ", h("button", { type: "submit" }, "Use this key")));
}
