"""MkDocs hook: the HTTP API reference page gets every operation of the service's own OpenAPI
document (`api.main:create_app().openapi()`), so the reference cannot fall behind the code."""

from __future__ import annotations

from typing import Any

MARK = "<!-- openapi-operations -->"


def _operations() -> str:
    from api.main import create_app

    document = create_app().openapi()
    rows = ["| method | path | what | answers |", "|---|---|---|---|"]
    for path, item in sorted(document["paths"].items()):
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            summary = (operation.get("summary") or "").replace("|", "\\|")
            codes = ", ".join(sorted(operation["responses"]))
            rows.append(f"| `{method.upper()}` | `{path}` | {summary} | {codes} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARK in markdown:
        return markdown.replace(MARK, _operations())
    return markdown
