"""Helpers for the panel tests (tests/web/test_panel_*.py): sign in through the real login form,
read CSRF tokens and problem tables out of pages, bulk-insert jobs."""

from __future__ import annotations

import html
import re
from typing import Any

from starlette.testclient import TestClient

from app.core.db import Database
from app.core.textfold import fold

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "no CSRF token on the page"
    return html.unescape(match.group(1))


def login(client: TestClient, username: str, password: str) -> str:
    """Sign in with the login form; returns the session's CSRF token (read from /jobs)."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/jobs").text)


def problems_of(page: str) -> list[tuple[str, str, str]]:
    """(row, column, message) of the upload problem table, unescaped."""
    table = re.search(r'<table class="problems-table">(.*?)</table>', page, re.S)
    if not table:
        return []
    rows = re.findall(r"<tr><td class=\"num\">(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table.group(1), re.S)
    return [tuple(html.unescape(cell) for cell in row) for row in rows]  # type: ignore[misc]


def flashes_of(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', page, re.S)]


def job_rows(page: str) -> list[int]:
    """Job ids in the order the panel lists them."""
    return [int(m) for m in re.findall(r'<tr id="job-(\d+)"', page)]


def bulk_insert_jobs(db: Database, owner_id: int, count: int, **columns: Any) -> None:
    """``count`` finished-looking jobs in one transaction (fast enough for 10,000 rows), through
    the same named query the application uses."""
    with db.transaction() as tx:
        for i in range(count):
            name = columns.get("file_name", f"bulk-{i:05d}.csv")
            tx.execute("job_insert", {"owner_id": owner_id, "file_name": name, "file_key": fold(name),
                                      "path_up": f"upload-bulk-{i}.csv", "file_size": 100, "rows_total": 10,
                                      "model_name": None, "model_version": None, "model_sha256": None,
                                      "input_sha256": None})
