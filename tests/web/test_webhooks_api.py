"""The webhooks API (POST/GET/DELETE /api/webhooks) and the panel page, on both engines: the
secret shown once, who sees what, the SSRF refusal answered as a 400 naming the problem, the
delivery log with each attempt's status code and duration."""

from __future__ import annotations

import re
import time

import pytest

from app.core.events.webhooks import Deliverer
from scheduler.worker import Worker
from tests.conftest import assert_json_error as assert_error
from tests.panel_helpers import login
from tests.support.receiver import start_receiver

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-1"}


@pytest.fixture
def settings(engine, make_settings):  # type: ignore[no-untyped-def]
    return make_settings(engine, WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_BACKOFF_SECONDS="1")


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", PASSWORDS["bob"])


def test_register_list_and_delete(api_client, settings, db, alice, bob, admin, bearer, submit_job):  # type: ignore[no-untyped-def]
    receiver = start_receiver([500, 204])
    answer = api_client.post("/api/webhooks", headers=bearer(alice),
                             json={"url": receiver.url, "events": ["job.succeeded"]})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["secret"].startswith("whsec_") and created["events"] == ["job.succeeded"]
    assert answer.headers["location"] == f"/api/webhooks/{created['id']}" and created["global"] is False

    # A job ends; a worker sends (the first attempt fails, the retry is delivered).
    worker = Worker(settings, db)
    worker.run_claim(worker.claim(submit_job(alice).id))
    deliverer = Deliverer(settings, db, "w")
    for _ in range(60):
        deliverer.run_pass()
        if len(receiver.requests) == 2:
            break
        time.sleep(0.1)
    listed = api_client.get("/api/webhooks", headers=bearer(alice)).json()["webhooks"]
    assert [h["id"] for h in listed] == [created["id"]] and "secret" not in listed[0]
    [delivery] = listed[0]["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 2
    assert [a["status_code"] for a in delivery["log"]] == [500, 204]
    assert all(isinstance(a["duration_ms"], int) for a in delivery["log"])

    # Bob sees none of it and cannot delete it (404, as for no such webhook).
    assert api_client.get("/api/webhooks", headers=bearer(bob)).json() == {"webhooks": []}
    assert_error(api_client.delete(f"/api/webhooks/{created['id']}", headers=bearer(bob)), 404, "no webhook")
    assert api_client.delete(f"/api/webhooks/{created['id']}", headers=bearer(alice)).json() == {
        "id": created["id"], "deleted": True}
    assert api_client.get("/api/webhooks", headers=bearer(alice)).json() == {"webhooks": []}
    assert_error(api_client.delete(f"/api/webhooks/{created['id']}", headers=bearer(alice)), 404)


def test_bad_requests_are_400_naming_the_problem(api_client, alice, admin, bearer, make_settings):  # type: ignore[no-untyped-def]
    headers = bearer(alice)
    cases = [
        ({"events": ["job.succeeded"]}, "url is required"),
        ({"url": "ftp://example.com/", "events": ["job.succeeded"]}, "http://"),
        ({"url": "https://example.com/", "events": []}, "events must be"),
        ({"url": "https://example.com/", "events": ["job.exploded"]}, "job.exploded"),
        ({"url": "https://example.com/", "events": ["job.failed"], "global": "yes"}, "global"),
    ]
    for body, words in cases:
        assert_error(api_client.post("/api/webhooks", headers=headers, json=body), 400, words)
    assert_error(api_client.post("/api/webhooks", headers=headers, content=b"{not json"), 400, "JSON")
    assert_error(api_client.post("/api/webhooks", headers=headers, content=b"x" * 20000), 413)
    assert_error(api_client.post("/api/webhooks", headers=headers,
                                 json={"url": "https://example.com/", "events": ["job.failed"], "global": True}),
                 403, "administrators")
    assert_error(api_client.post("/api/webhooks", json={"url": "https://example.com/", "events": ["job.failed"]}),
                 401)


def test_private_addresses_are_400_unless_allowed(settings, db, alice, bearer):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from app.web import create_app

    strict = settings.replace(webhook_allow_private=False)  # the default
    with TestClient(create_app(strict, db)) as client:
        for url in ("http://127.0.0.1:9/hook", "http://localhost:8000/", "http://169.254.169.254/latest/meta-data"):
            body = assert_error(client.post("/api/webhooks", headers=bearer(alice),
                                            json={"url": url, "events": ["job.failed"]}), 400, "private")
            assert body["parameter"] == "url"


def test_the_panel_page_shows_the_secret_once_and_the_attempts(  # type: ignore[no-untyped-def]
        app, settings, db, alice, admin, submit_job):
    from starlette.testclient import TestClient

    receiver = start_receiver([503, 200])
    with TestClient(app) as client:
        csrf = login(client, "alice", PASSWORDS["alice"])
        page = client.post("/webhooks", data={"csrf_token": csrf, "url": receiver.url,
                                              "events": ["job.succeeded", "job.failed"]})
        assert page.status_code == 201
        secret = re.search(r'value="(whsec_[^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert "shown <strong>only once</strong>" in page.text
        again = client.get("/webhooks")
        assert secret not in again.text and receiver.url.replace("&", "&amp;") in again.text
        assert "Global: every user" not in again.text  # the option is for administrators

        worker = Worker(settings, db)
        worker.run_claim(worker.claim(submit_job(alice).id))
        deliverer = Deliverer(settings, db, "w")
        for _ in range(60):
            deliverer.run_pass()
            if len(receiver.requests) == 2:
                break
            time.sleep(0.1)
        shown = client.get("/webhooks").text
        assert "delivered" in shown and "· 503 ·" in shown and "· 200 ·" in shown and " ms" in shown

        refused = client.post("/webhooks", data={"csrf_token": csrf, "url": "gopher://x", "events": ["job.failed"]})
        assert refused.status_code == 400 and "http:// or https://" in refused.text
        no_csrf = client.post("/webhooks", data={"url": receiver.url, "events": ["job.failed"]})
        assert no_csrf.status_code == 403

        hook_id = int(re.search(r'action="/webhooks/(\d+)/delete"', shown).group(1))  # type: ignore[union-attr]
        gone = client.post(f"/webhooks/{hook_id}/delete", data={"csrf_token": csrf}, follow_redirects=True)
        assert "You have no webhooks yet." in gone.text and "deleted" in gone.text
