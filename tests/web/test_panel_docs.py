"""The API docs page (issue 13, item 7) over HTTP on both engines: /docs loads Swagger UI from
our own static files only, under a CSP that keeps scripts to 'self'; the tokens page links to
it and shows a ready curl line with the address the user reached us at."""

from __future__ import annotations

import html
import re

from app.web.security import CONTENT_SECURITY_POLICY
from tests.panel_helpers import csrf_of, login


def test_docs_page_uses_only_local_files(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/docs")  # public, like /openapi.json
    assert page.status_code == 200 and 'data-spec-url="/openapi.json"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self' 'unsafe-inline'" in policy
    assert "connect-src 'self'" in policy
    # No other page loosens its policy.
    assert client.get("/login").headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # Nothing from another host (url_for makes this server's own absolute URLs).
    assert not re.search(r'(src|href)="(https?:)?//(?!testserver/)', page.text)
    assets = re.findall(r'(?:src|href)="(?:http://testserver)?(/static/[^"]+)"', page.text)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"app.css", "app.js", "swagger-ui.css", "docs.css",
                                                      "swagger-ui-bundle.js", "docs.js"}
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 1_000_000
    assert "Apache License" in client.get("/static/vendor/swagger-ui/LICENSE").text
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")


def test_tokens_page_links_the_docs_and_shows_a_curl_line(client, alice) -> None:  # type: ignore[no-untyped-def]
    login(client, "alice", "alice-password-1")
    page = client.get("/tokens").text
    assert 'href="/docs"' in page
    line = html.unescape(re.search(r'id="curl-line" class="token-value" readonly value="([^"]+)"', page).group(1))
    assert line == 'curl -H "Authorization: Bearer $TOKEN" -F file=@patients.csv http://testserver/api/jobs'
    created = client.post("/tokens", data={"csrf_token": csrf_of(page), "name": "nightly"})
    token = html.unescape(re.search(r'id="new-token-value" class="token-value" value="([^"]+)"', created.text).group(1))
    line = html.unescape(re.search(r'id="curl-line" class="token-value" readonly value="([^"]+)"', created.text).group(1))
    assert line == f'curl -H "Authorization: Bearer {token}" -F file=@patients.csv http://testserver/api/jobs'
    # A different address (a proxy's Host) is what the line shows.
    other = client.get("/tokens", headers={"host": "beyond.example.org:8443"}).text
    assert "http://beyond.example.org:8443/api/jobs" in html.unescape(other)
