"""The notebook client (clients/python) asks only for what the service's OpenAPI document
offers: every request in its source, method and path, is an operation of `/openapi.json`.
A route renamed on the server, or a client method written against a path that never
existed, fails here rather than in a user's notebook."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fastapi.testclient import TestClient

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python" / "actlab"
# self.get(path) and self.post(path) are GET and POST; self.request(METHOD, path) names it.
SHORTHAND = {"get": "GET", "post": "POST"}


def _template(node: ast.expr) -> str | None:
    """A path as the OpenAPI document writes it: each f-string field becomes {param}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{param}"
                       for v in node.values)
    return None


def client_requests() -> set[tuple[str, str]]:
    found = set()
    for source in CLIENT.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name, args = node.func.attr, node.args
            if name in SHORTHAND and args and (path := _template(args[0])):
                found.add((SHORTHAND[name], path))
            elif name == "request" and len(args) >= 2 and isinstance(args[0], ast.Constant) \
                    and (path := _template(args[1])):
                found.add((str(args[0].value), path))
    return {(m, p) for m, p in found if p.startswith(("/api/", "/health"))}


def test_every_request_of_the_client_is_an_operation_of_the_api(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    offered = {(method.upper(), re.sub(r"\{[^}]+\}", "{param}", path))
               for path, item in document["paths"].items() for method in item}
    asked = client_requests()
    assert len(asked) > 20  # the client is where this test thinks it is

    def served(method: str, path: str) -> bool:
        # a field of the client's path may name a fixed segment (`/catalog/{kind}`)
        pattern = re.compile(re.escape(path).replace(re.escape("{param}"), "[^/]+") + "$")
        return any(m == method and pattern.match(p) for m, p in offered)

    missing = sorted((m, p) for m, p in asked if not served(m, p))
    assert not missing, f"the client asks for what the API does not offer: {missing}"
