"""/docs and /redoc render without internet: every script, style and icon they load is
served by the API itself."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert re.findall(r"https?://", html.text) == []  # no CDN, no web fonts
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 0, asset
    assert "openapi.json" in html.text
