"""Webhooks (issue 14, item 1): the outbox written with the job's final state, signed Standard
Webhooks deliveries sent by the workers to a real HTTP server on 127.0.0.1 (a thread of the
test) that fails the first attempts, retries with backoff, the attempt log, leases, the
server-side request forgery checks (at registration and at delivery), redirects, timeouts.
Every test that touches the database runs on SQLite and on MariaDB."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.errors import InvalidRequest, PermissionDenied
from app.core.events import webhooks
from app.core.events.webhooks import Deliverer, UrlRefused, Webhooks
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from scheduler.worker import Worker
from tests.conftest import ROOT, breast_cancer_frame
from tests.support.receiver import start_receiver, start_stalling_receiver
from tests.support.sql import raw


@pytest.fixture
def settings(engine, make_settings):  # type: ignore[no-untyped-def]
    # The receiver is on 127.0.0.1, so private addresses are allowed here; the SSRF tests
    # below switch it off. Short backoff and timeout keep the retries within seconds.
    return make_settings(engine, WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_BACKOFF_SECONDS="1",
                         WEBHOOK_TIMEOUT_SECONDS="2", PUBLIC_URL="https://beyond.example.com")


@pytest.fixture
def hooks(db, settings):  # type: ignore[no-untyped-def]
    return Webhooks(db, settings)


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", "bob-password-1")


def run_job(settings, db, job, fail: bool = False):  # type: ignore[no-untyped-def]
    worker = Worker(settings, db)
    claim = worker.claim(job.id)
    if fail:
        assert worker.jobs.fail(claim, "The file does not fit the model: row 3, column age: not a number")
        return worker.jobs.get(job.id)
    return worker.run_claim(claim)


def deliveries(db):  # type: ignore[no-untyped-def]
    return raw(db, "SELECT * FROM webhook_deliveries ORDER BY id")


def deliver_until(deliverer, db, done, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        deliverer.run_pass()
        time.sleep(0.1)
    assert done(), deliveries(db)


def verified(secret: str, request) -> dict:  # type: ignore[no-untyped-def]
    """What the standardwebhooks package's own verifier makes of a received request."""
    return Verifier(secret).verify(request.body, request.headers)


# -- the whole path: outbox -> worker -> receiver that fails first ---------------------------------------
def test_a_succeeded_job_is_delivered_signed_after_two_failures(  # type: ignore[no-untyped-def]
        settings, db, hooks, alice, submit_job):
    receiver = start_receiver([500, 503, 200])
    hook, secret = hooks.create(alice, receiver.url, ["job.succeeded", "job.failed"])
    assert secret.startswith("whsec_") and len(secret) > 40
    job = run_job(settings, db, submit_job(alice, rows=25))
    assert job.status is Status.PROCESS_OK
    # Written with the final state, nothing sent yet: only a worker's pass sends.
    [row] = deliveries(db)
    assert row["state"] == "pending" and row["event"] == "job.succeeded" and row["job_id"] == job.id
    assert receiver.requests == []

    deliverer = Deliverer(settings, db, "test-worker")
    deliver_until(deliverer, db, lambda: deliveries(db)[0]["state"] == "delivered")
    got = receiver.wait_for(3)
    assert len(got) == 3
    # The same webhook-id on every retry; each attempt signed anew and verifiable.
    assert len({r.headers["webhook-id"] for r in got}) == 1 and got[0].headers["webhook-id"].startswith("msg_")
    for request in got:
        body = verified(secret, request)
        assert request.path == "/hooks/beyond?source=test"
    assert body["type"] == "job.succeeded"
    assert body["data"]["job"]["id"] == job.id and body["data"]["job"]["status"] == "PROCESS OK"
    assert body["data"]["job"]["model"] == settings.default_model and body["data"]["job"]["rows_total"] == 25
    assert body["data"]["links"]["self"] == f"https://beyond.example.com/api/jobs/{job.id}"
    assert body["data"]["links"]["result"] == f"https://beyond.example.com/api/jobs/{job.id}/result"
    # Exponential backoff: 1 s, then 2 s (WEBHOOK_BACKOFF_SECONDS=1).
    assert got[1].at - got[0].at >= 0.9 and got[2].at - got[1].at >= 1.9

    [shown] = hooks.deliveries(hook.id)
    assert shown.state == "delivered" and shown.attempts == 3
    assert [a.status_code for a in shown.log] == [500, 503, 200]
    assert all(a.duration_ms >= 0 and a.worker == "test-worker" for a in shown.log)
    assert shown.log[0].error == "HTTP 500 Internal Server Error" and shown.log[2].error is None
    counters = {r["labels"]: r["value"] for r in raw(db, "SELECT * FROM metric_counters WHERE name = ?",
                                                     ("webhook_deliveries",))}
    assert counters == {"outcome=failed": 2, "outcome=delivered": 1, "outcome=gave_up": 0}


def test_the_worker_loop_sends_deliveries(engine, make_config, tmp_path):  # type: ignore[no-untyped-def]
    """The real `process_pending.py --loop` (what the embedded workers run) runs the job and
    sends its delivery, with a retry; the web server sends nothing."""
    receiver = start_receiver([502, 200])
    config, loop_settings = make_config(engine, WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_BACKOFF_SECONDS="1",
                                        SCHEDULER_INTERVAL="1")
    loop_db = open_database(loop_settings)
    loop_db.init_schema()
    owner = Users(loop_db).create("carol", "carol-password-1")
    _, secret = Webhooks(loop_db, loop_settings).create(owner, receiver.url, ["job.succeeded"])
    path = tmp_path / "loop.csv"
    breast_cancer_frame(30).to_csv(path, index=False)
    job = submit_path(loop_settings, Jobs(loop_db), owner.id, path)
    env = {"APP_CONFIG": str(config), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "scheduler/process_pending.py", "--loop", "--interval", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        got = receiver.wait_for(2, timeout=40)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert len(got) == 2, err
    assert verified(secret, got[1])["data"]["job"]["id"] == job.id
    [row] = raw(loop_db, "SELECT * FROM webhook_deliveries")
    assert row["state"] == "delivered" and row["attempts"] == 2
    attempts = raw(loop_db, "SELECT status_code, duration_ms, worker FROM webhook_attempts ORDER BY id")
    assert [a["status_code"] for a in attempts] == [502, 200]
    assert "webhook.delivered" in err and "webhook.failed" in err
    loop_db.close()


# -- what is written to the outbox, and for whom ---------------------------------------------------------
def test_events_go_to_the_owner_and_global_webhooks_that_want_them(  # type: ignore[no-untyped-def]
        settings, db, hooks, alice, bob, admin, submit_job):
    receiver = start_receiver([200])
    on_success, _ = hooks.create(alice, receiver.url, ["job.succeeded"])
    on_failure, _ = hooks.create(alice, receiver.url, "job.failed")
    bobs, _ = hooks.create(bob, receiver.url, ["job.succeeded", "job.failed"])
    everyone, _ = hooks.create(admin, receiver.url, ["job.failed"], is_global=True)
    with pytest.raises(PermissionDenied):
        hooks.create(alice, receiver.url, ["job.failed"], is_global=True)

    failed = run_job(settings, db, submit_job(alice), fail=True)
    assert failed.status is Status.ERROR
    rows = deliveries(db)
    assert sorted((r["webhook_id"], r["event"]) for r in rows) == sorted(
        [(on_failure.id, "job.failed"), (everyone.id, "job.failed")])
    payload = json.loads(rows[0]["payload"])
    assert payload["data"]["job"]["error"].startswith("The file does not fit the model")
    assert payload["data"]["links"]["result"] is None
    # Only the admin sees the global one in their list; alice sees her two.
    assert {h.id for h in hooks.list_for(alice)} == {on_success.id, on_failure.id}
    assert {h.id for h in hooks.list_for(admin)} == {everyone.id}
    assert bobs.id not in {h.id for h in hooks.list_for(alice)}


def test_a_job_taken_over_and_failed_by_the_reaper_is_a_failed_event(  # type: ignore[no-untyped-def]
        settings, db, jobs, hooks, alice, submit_job):
    receiver = start_receiver([200])
    hooks.create(alice, receiver.url, ["job.failed"])
    job = submit_job(alice)
    for attempt in range(settings.max_attempts):
        assert jobs.claim(job.id, f"lost-worker-{attempt}") is not None
        raw(db, "UPDATE wp_records SET heartbeat_at = ? WHERE id = ?", ("2000-01-01 00:00:00.000", job.id))
        jobs.reap_lost(settings.lease_seconds, settings.max_attempts)
    assert jobs.get(job.id).status is Status.ERROR
    [row] = deliveries(db)
    assert row["event"] == "job.failed"
    taken = {r["labels"]: r["value"] for r in raw(db, "SELECT * FROM metric_counters WHERE name = ?",
                                                  ("lease_takeovers",))}
    assert taken == {"outcome=requeued": settings.max_attempts - 1, "outcome=failed": 1}


def test_cancel_and_quality_alert_enqueue_functions(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    receiver = start_receiver([200])
    hook, secret = hooks.create(alice, receiver.url, ["job.cancelled", "job.quality_alert"])
    job = submit_job(alice)
    with db.transaction() as tx:
        assert webhooks.enqueue_job_event(tx, job.id, webhooks.JOB_CANCELLED) == 1
        assert webhooks.enqueue_quality_alert(tx, job.id, {"metric": "missing_share", "value": 0.4,
                                                           "threshold": 0.1}) == 1
    with pytest.raises(ValueError):
        with db.transaction() as tx:
            webhooks.enqueue_job_event(tx, job.id, "job.exploded")
    deliver_until(Deliverer(settings, db, "w"), db,
                  lambda: all(r["state"] == "delivered" for r in deliveries(db)))
    bodies = sorted((verified(secret, r) for r in receiver.wait_for(2)), key=lambda b: b["type"])
    assert [b["type"] for b in bodies] == ["job.cancelled", "job.quality_alert"]
    assert bodies[1]["data"]["alert"]["metric"] == "missing_share"


# -- leases, give-up, timeouts, redirects -------------------------------------------------------------------
def test_one_worker_leases_each_delivery(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    receiver = start_receiver([200])
    hooks.create(alice, receiver.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    first, second = Deliverer(settings, db, "host-a"), Deliverer(settings, db, "host-b")
    leased = first.lease_due()
    assert len(leased) == 1 and second.lease_due() == []
    # A lease older than its time is presumed lost with its worker and taken over.
    raw(db, "UPDATE webhook_deliveries SET leased_at = ?", ("2000-01-01 00:00:00.000",))
    [(delivery_id, token)] = second.lease_due()
    assert first.attempt(*leased[0]) is None  # fenced out: its token is no longer the row's
    assert second.attempt(delivery_id, token).ok
    assert len(receiver.wait_for(1)) == 1 and deliveries(db)[0]["state"] == "delivered"


def test_retries_end_after_the_retry_window(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    receiver = start_receiver([500])
    hook, _ = hooks.create(alice, receiver.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    deliverer = Deliverer(settings, db, "w")
    assert deliverer.run_pass() == 1
    row = deliveries(db)[0]
    assert row["state"] == "pending" and row["attempts"] == 1
    # An event a day and an hour old (WEBHOOK_RETRY_HOURS=24): the next failure gives up.
    aged = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%d %H:%M:%S.000")
    raw(db, "UPDATE webhook_deliveries SET created_at = ?, next_attempt_at = ?", (aged, aged))
    assert deliverer.run_pass() == 1
    row = deliveries(db)[0]
    assert row["state"] == "failed" and row["attempts"] == 2 and row["last_status"] == 500
    assert deliverer.run_pass() == 0  # nothing left to send
    assert [d.state for d in hooks.deliveries(hook.id)] == ["failed"]


def test_the_retry_schedule_spans_at_least_a_day(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings("sqlite")  # the defaults: 5 s doubling, at most 2 h, for 24 h
    delays = [webhooks.backoff_seconds(settings, n) for n in range(1, 40)]
    assert delays[:4] == [5, 10, 20, 40] and max(delays) == webhooks.BACKOFF_CAP_SECONDS
    assert settings.webhook_retry_hours >= 24


@pytest.mark.timing
def test_a_slow_receiver_times_out_and_a_redirect_is_not_followed(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    elsewhere = start_receiver([200])
    redirecting = start_receiver([307], headers={"Location": elsewhere.url})
    slow = start_receiver([200], delay=4)
    hooks.create(alice, redirecting.url, ["job.succeeded"])
    hooks.create(alice, slow.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    started = time.monotonic()
    # (The fast redirect's retry may fall due within the pass, 1 s later, and be made too.)
    assert Deliverer(settings, db, "w").run_pass() >= 2
    assert time.monotonic() - started < 3.9  # WEBHOOK_TIMEOUT_SECONDS=2, not the receiver's 4 s
    by_url = {r["webhook_id"]: r for r in deliveries(db)}
    redirected, timed_out = by_url[min(by_url)], by_url[max(by_url)]
    assert redirected["last_status"] == 307 and "not followed" in redirected["last_error"]
    assert timed_out["last_status"] is None and "timed out" in timed_out["last_error"].lower()
    assert redirected["state"] == timed_out["state"] == "pending"
    assert elsewhere.requests == []


# -- server-side request forgery --------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/latest",
    "http://10.1.2.3/", "http://192.168.0.10/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
])
def test_private_addresses_are_refused_at_registration(make_settings, url) -> None:  # type: ignore[no-untyped-def]
    target = webhooks.parse_url(url)
    with pytest.raises(UrlRefused, match="loopback, private or link-local"):
        webhooks.resolve(target, allow_private=False)


@pytest.mark.parametrize("url, words", [
    ("ftp://example.com/x", "http:// or https://"), ("https://user:pw@example.com/", "user name or password"),
    ("http://exa mple.com/", "spaces"), ("https://example.com:99999/", "port"), ("http:///nohost", "no host"),
    ("", "at most"), ("http://nonexistent.invalid/", "does not resolve"),
])
def test_malformed_urls_are_refused_with_the_reason(url, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UrlRefused, match=words):
        webhooks.resolve(webhooks.parse_url(url), allow_private=False)


def test_the_address_is_checked_again_at_delivery(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    """Registered while allowed (or while the name resolved to a public address): a delivery
    to an address that is now private is refused, and nothing reaches it."""
    receiver = start_receiver([200])
    hooks.create(alice, receiver.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    strict = settings.replace(webhook_allow_private=False)
    with pytest.raises(UrlRefused):
        Webhooks(db, strict).create(alice, receiver.url, ["job.succeeded"])
    assert Deliverer(strict, db, "w").run_pass() == 1
    row = deliveries(db)[0]
    assert row["state"] == "pending" and row["last_status"] is None
    assert row["last_error"].startswith("refused:") and "127.0.0.1" in row["last_error"]
    assert receiver.requests == []


def test_a_slow_receiver_never_holds_up_the_jobs(settings, db, alice, submit_job):  # type: ignore[no-untyped-def]
    """A worker loop whose delivery thread is stuck on a receiver that takes 8 s still runs
    the next job at once."""
    import threading

    slow = start_receiver([200], delay=8)
    settings = settings.replace(webhook_timeout_seconds=10)
    Webhooks(db, settings).create(alice, slow.url, ["job.succeeded"])
    first = submit_job(alice)
    worker = Worker(settings, db)
    loop = threading.Thread(target=worker.loop, args=(0.2,), daemon=True)
    loop.start()
    try:
        [request] = slow.wait_for(1, timeout=30)  # the first job's delivery, now being answered slowly
        second = submit_job(alice)
        jobs = Jobs(db)
        while jobs.get(second.id).status is not Status.PROCESS_OK and time.monotonic() - request.at < 30:
            time.sleep(0.05)
        assert jobs.get(second.id).status is Status.PROCESS_OK
        assert time.monotonic() - request.at < 8  # done while the receiver was still answering
        assert jobs.get(first.id).status is Status.PROCESS_OK
    finally:
        worker.stop()
        loop.join(30)


# -- issue 22: a whole-attempt deadline, counted attempts, no receiver holding up another -----------------
def run_pass_in_thread(deliverer):  # type: ignore[no-untyped-def]
    """The pass in a thread, so a test of a pass that never ends fails instead of hanging."""
    import threading

    made: list[int] = []
    thread = threading.Thread(target=lambda: made.append(deliverer.run_pass()), daemon=True)
    thread.start()
    return thread, made


@pytest.mark.timing
def test_a_trickling_receiver_is_cut_at_the_deadline_and_counted_once(  # type: ignore[no-untyped-def]
        settings, db, hooks, alice, submit_job):
    """A byte every half second keeps each read under WEBHOOK_TIMEOUT_SECONDS=2; the attempt as
    a whole is still cut at 2 s, counted once, well inside its lease, and not sent again before
    the retry schedule says so."""
    slow = start_stalling_receiver(trickle=0.5, stall_seconds=30)
    hook, _ = hooks.create(alice, slow.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    deliverer = Deliverer(settings, db, "w")
    started = time.monotonic()
    thread, made = run_pass_in_thread(deliverer)
    thread.join(10)
    took = time.monotonic() - started
    assert not thread.is_alive(), "the attempt was not cut at its deadline"
    assert made == [1] and 1.9 <= took < 3.5
    [row] = deliveries(db)
    assert row["state"] == "pending" and row["attempts"] == 1 and row["leased_at"] is None
    assert row["last_status"] is None and "within 2 s" in row["last_error"]
    [shown] = hooks.deliveries(hook.id)
    assert len(shown.log) == 1 and 1900 <= shown.log[0].duration_ms < deliverer.lease_seconds * 1000
    assert settings.webhook_timeout_seconds < deliverer.lease_seconds
    # Nothing is due until the backoff has passed: an immediate pass sends nothing.
    assert deliverer.run_pass() == 0 and len(slow.connections) == 1


@pytest.mark.timing
def test_a_fast_delivery_is_not_held_behind_a_slow_one(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    settings = settings.replace(webhook_timeout_seconds=6)
    slow = start_stalling_receiver(trickle=None, stall_seconds=30)  # reads the request, never answers
    fast = start_receiver([200])
    hooks.create(alice, slow.url, ["job.succeeded"])  # the older delivery: first in the queue
    Webhooks(db, settings).create(alice, fast.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    started = time.monotonic()
    thread, made = run_pass_in_thread(Deliverer(settings, db, "w"))
    [request] = fast.wait_for(1, timeout=12)
    assert request.at - started < 2.0  # not after the slow receiver's 6 s
    assert len(slow.connections) == 1 and slow.closed == []  # while the slow one was still waited for
    thread.join(12)
    assert made == [2]
    states = {r["webhook_id"]: (r["state"], r["attempts"]) for r in deliveries(db)}
    assert sorted(states.values()) == [("delivered", 1), ("pending", 1)]


@pytest.mark.timing
def test_the_delivery_thread_sends_new_deliveries_while_one_receiver_stalls(  # type: ignore[no-untyped-def]
        settings, db, hooks, alice, submit_job):
    """The workers' delivery thread (poll every 1 s here): a delivery written while another
    sender waits on a silent receiver goes out at the next poll, not after that attempt."""
    from scheduler.deliveries import DeliveryThread

    settings = settings.replace(webhook_timeout_seconds=8)
    slow = start_stalling_receiver(trickle=None, stall_seconds=30)
    fast = start_receiver([200])
    hooks.create(alice, slow.url, ["job.succeeded"])
    Webhooks(db, settings).create(alice, fast.url, ["job.cancelled"])
    job = run_job(settings, db, submit_job(alice))
    thread = DeliveryThread(settings, open_database(settings), "loop").start()
    try:
        slow.wait_for(1, timeout=10)
        assert len(slow.connections) == 1
        with db.transaction() as tx:
            webhooks.enqueue_job_event(tx, job.id, webhooks.JOB_CANCELLED)
        written = time.monotonic()
        [request] = fast.wait_for(1, timeout=15)
        assert request.at - written < 2.5 and slow.closed == []
    finally:
        thread.stop(0.5)


@pytest.mark.procs
def test_an_attempt_cut_short_by_a_killed_worker_is_counted(engine, make_config, tmp_path):  # type: ignore[no-untyped-def]
    """SIGKILL to a `process_pending.py --loop` while its delivery thread waits on a receiver:
    the attempt stays counted; once the lease runs out another worker sends it (attempt 2)."""
    slow = start_stalling_receiver(trickle=None, stall_first=1, stall_seconds=60)
    config, loop_settings = make_config(engine, WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_BACKOFF_SECONDS="1",
                                        WEBHOOK_TIMEOUT_SECONDS="30", SCHEDULER_INTERVAL="1")
    loop_db = open_database(loop_settings)
    loop_db.init_schema()
    owner = Users(loop_db).create("carol", "carol-password-1")
    Webhooks(loop_db, loop_settings).create(owner, slow.url, ["job.cancelled"])
    path = tmp_path / "loop.csv"
    breast_cancer_frame(10).to_csv(path, index=False)
    job = submit_path(loop_settings, Jobs(loop_db), owner.id, path)
    with loop_db.transaction() as tx:
        webhooks.enqueue_job_event(tx, job.id, webhooks.JOB_CANCELLED)
    env = {"APP_CONFIG": str(config), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "scheduler/process_pending.py", "--loop", "--interval", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert len(slow.wait_for(1, timeout=40)) == 1
    finally:
        proc.kill()
        proc.wait(30)
    [row] = raw(loop_db, "SELECT * FROM webhook_deliveries")
    assert row["state"] == "pending" and row["attempts"] == 1 and row["leased_by"] is not None
    raw(loop_db, "UPDATE webhook_deliveries SET leased_at = ?", ("2000-01-01 00:00:00.000",))
    assert Deliverer(loop_settings, loop_db, "survivor").run_pass() == 1
    [row] = raw(loop_db, "SELECT * FROM webhook_deliveries")
    assert row["state"] == "delivered" and row["attempts"] == 2 and len(slow.connections) == 2
    loop_db.close()


def test_attempts_stop_at_the_maximum(settings, db, hooks, alice, submit_job):  # type: ignore[no-untyped-def]
    """At MAX_ATTEMPTS the delivery is failed: after a failed last attempt, and also when the
    last attempt was lost with its worker (not sent once more)."""
    receiver = start_receiver([500])
    hooks.create(alice, receiver.url, ["job.succeeded"])
    run_job(settings, db, submit_job(alice))
    raw(db, "UPDATE webhook_deliveries SET attempts = ?", (webhooks.MAX_ATTEMPTS - 1,))
    assert Deliverer(settings, db, "w").run_pass() == 1
    [row] = deliveries(db)
    assert row["state"] == "failed" and row["attempts"] == webhooks.MAX_ATTEMPTS and row["last_status"] == 500

    raw(db, "UPDATE webhook_deliveries SET state = 'pending', leased_by = 'dead', leased_at = ?, "
            "lease_token = 'lost'", ("2000-01-01 00:00:00.000",))
    assert Deliverer(settings, db, "w").run_pass() == 0
    [row] = deliveries(db)
    assert row["state"] == "failed" and row["attempts"] == webhooks.MAX_ATTEMPTS
    assert "never reported back" in row["last_error"] and row["leased_at"] is None
    assert len(receiver.requests) == 1


def test_the_webhook_cap_holds_against_parallel_creates(db, hooks, alice):  # type: ignore[no-untyped-def]
    import threading

    receiver = start_receiver([200])
    start = threading.Barrier(40)
    made: list[int] = []
    refused: list[str] = []

    def create() -> None:
        try:
            start.wait()
            made.append(hooks.create(alice, receiver.url, ["job.succeeded"])[0].id)
        except InvalidRequest as exc:
            refused.append(exc.message)
        finally:
            db.close()  # this thread's connection

    threads = [threading.Thread(target=create) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(made) == webhooks.MAX_WEBHOOKS_PER_USER and len(refused) == 40 - webhooks.MAX_WEBHOOKS_PER_USER
    assert all("the most one user may have" in message for message in refused)
    assert len(raw(db, "SELECT id FROM webhooks WHERE owner_id = ?", (alice.id,))) == webhooks.MAX_WEBHOOKS_PER_USER


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::a00:1",  # NAT64 of 127.0.0.1, 10.0.0.1
    "2002:7f00:1::1", "2002:c0a8:101::1",  # 6to4 of 127.0.0.1, 192.168.1.1
    "::127.0.0.1", "::a9fe:a9fe",  # IPv4-compatible 127.0.0.1, 169.254.169.254
    "::ffff:0:127.0.0.1", "::ffff:0:c0a8:101",  # IPv4-translated 127.0.0.1, 192.168.1.1
    "fec0::1", "64:ff9b:1::a00:1",  # site-local; local-use NAT64
])
def test_ipv6_forms_of_private_addresses_are_refused(address) -> None:  # type: ignore[no-untyped-def]
    assert not webhooks.is_public(address)
    with pytest.raises(UrlRefused, match="loopback, private or link-local"):
        webhooks.resolve(webhooks.parse_url(f"http://[{address}]/hook"), allow_private=False)
    # The setting that allows private targets allows these too.
    assert len(webhooks.resolve(webhooks.parse_url(f"http://[{address}]/hook"), allow_private=True)) == 1


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"])
def test_ipv6_forms_of_public_addresses_are_allowed(address) -> None:  # type: ignore[no-untyped-def]
    assert webhooks.is_public(address)
