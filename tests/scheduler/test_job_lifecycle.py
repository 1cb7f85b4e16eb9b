"""A job's history (job_events), cancel and the CANCELLED status, in the core and the API, on
SQLite and MariaDB (the `engine` fixture). The real-worker-process cases are in
tests/scheduler/test_job_cancel_workers.py."""

from __future__ import annotations

import hashlib

import pytest

from app.core.errors import Conflict, NotFound
from app.core.events.audit import Actor
from app.core.jobs.records import Status
from scheduler.worker import Worker, step_rows
from tests.conftest import assert_json_error


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", "bob-password-1")


def kinds(jobs, job_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(e.event, e.status) for e in jobs.events(job_id)]


def test_each_transition_writes_one_event_with_worker_and_attempt(settings, db, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=30)
    worker = Worker(settings, db, worker_id="host-a:123:abcd")
    done = worker.run_claim(worker.claim(job.id))
    assert done.status is Status.PROCESS_OK
    events = jobs.events(job.id)
    assert [(e.event, e.status, e.attempt) for e in events] == [
        ("queued", "PENDING", 0), ("claimed", "IN PROCESS", 1), ("finished_ok", "PROCESS OK", 1)]
    assert events[1].worker == "host-a:123:abcd" and events[2].worker == "host-a:123:abcd"
    assert events[0].detail == f"uploaded: 30 rows, {job.file_size:,} bytes"
    assert events[2].detail == "30 rows written"
    assert all(e.at is not None for e in events)
    assert events[0].at <= events[1].at <= events[2].at  # type: ignore[operator]

    # The input's hash is stored at upload.
    stored = settings.input_dir / done.path_up
    assert done.input_sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()


def test_fail_retry_release_and_reap_are_recorded(settings, db, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=5)
    claim = jobs.claim(job.id, "w1")
    assert jobs.fail(claim, "Processing failed: boom")
    assert jobs.retry(job.id, Actor("alice"))
    claim = jobs.claim(job.id, "w2")
    assert jobs.release(claim)
    claim = jobs.claim_next("w3")
    assert claim is not None and claim.job.id == job.id
    # The lease of w3 expires: the reaper takes the job back, then (attempts exhausted) fails it.
    from tests.support.sql import raw

    raw(db, "UPDATE wp_records SET heartbeat_at = '2000-01-01 00:00:00' WHERE id = ?", (job.id,))
    assert jobs.reap(lease_seconds=5, max_attempts=3) == ([job.id], [])
    claim = jobs.claim_next("w4")
    assert claim is not None
    raw(db, "UPDATE wp_records SET heartbeat_at = '2000-01-01 00:00:00', attempts = 3 WHERE id = ?", (job.id,))
    assert jobs.reap(lease_seconds=5, max_attempts=3) == ([], [job.id])
    events = jobs.events(job.id)
    assert [(e.event, e.status, e.worker) for e in events] == [
        ("queued", "PENDING", "web"), ("claimed", "IN PROCESS", "w1"), ("finished_error", "ERROR", "w1"),
        ("retried", "PENDING", "alice"), ("claimed", "IN PROCESS", "w2"), ("released", "PENDING", "w2"),
        ("claimed", "IN PROCESS", "w3"), ("reaped", "PENDING", "reaper"), ("claimed", "IN PROCESS", "w4"),
        ("reaped", "ERROR", "reaper")]
    assert events[2].detail == "Processing failed: boom"
    assert "heartbeat lost: no heartbeat from w3" in (events[7].detail or "")
    assert (events[7].detail or "").endswith("back in the queue")
    assert (events[9].detail or "").endswith("attempts exhausted")


def test_events_go_with_a_deleted_job(jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=5)
    other = submit_job(alice, rows=5)
    assert jobs.delete(job.id)
    assert jobs.events(job.id) == []
    assert kinds(jobs, other.id) == [("queued", "PENDING")]


def test_cancel_a_pending_job_then_retry_it(jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=5)
    cancelled = jobs.cancel(job.id, Actor("alice"))
    assert cancelled.status is Status.CANCELLED and cancelled.finished
    assert cancelled.error_message == "Cancelled by alice." and cancelled.date_result is not None
    assert jobs.claim_next("w1") is None  # not in the queue any more
    with pytest.raises(Conflict) as refused:
        jobs.cancel(job.id, Actor("alice"))
    assert refused.value.extra["job_status"] == "CANCELLED" and "already ended" in refused.value.message
    assert jobs.retry(job.id, Actor("alice"))
    again = jobs.get(job.id)
    assert again is not None and again.status is Status.PENDING and again.error_message is None
    assert kinds(jobs, job.id) == [("queued", "PENDING"), ("cancelled", "CANCELLED"), ("retried", "PENDING")]
    with pytest.raises(NotFound):
        jobs.cancel(job.id + 1000, Actor("alice"))


def test_cancel_a_running_job_fences_out_its_worker(jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=5)
    claim = jobs.claim_next("w1")
    assert claim is not None
    assert jobs.heartbeat(claim, 2)
    assert jobs.cancel(job.id, Actor("admin")).status is Status.CANCELLED
    # Every fenced write of the old claim now matches nothing: the worker discards its output.
    assert not jobs.claim_alive(claim)
    assert not jobs.heartbeat(claim, 3)
    assert not jobs.complete(claim, "x.xlsx", "x.csv", 5, "1")
    assert not jobs.fail(claim, "late")
    final = jobs.get(job.id)
    assert final is not None and final.status is Status.CANCELLED and final.path_result is None
    events = jobs.events(job.id)
    assert [e.event for e in events] == ["queued", "claimed", "cancelled"]
    assert events[-1].detail == "cancelled by admin while w1 was running it (2 rows done)"


def test_a_finished_job_cannot_be_cancelled(settings, db, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=5)
    worker = Worker(settings, db)
    assert worker.run_claim(worker.claim(job.id)).status is Status.PROCESS_OK
    with pytest.raises(Conflict) as refused:
        jobs.cancel(job.id, Actor("alice"))
    assert refused.value.extra == {"id": job.id, "job_status": "PROCESS OK"}


def test_queue_position_rows_per_second_and_time_left(jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    first, second, third = (submit_job(alice, rows=100) for _ in range(3))
    assert [j.queue_position for j in jobs.with_positions([third, second, first])] == [3, 2, 1]
    claim = jobs.claim_next("w1")
    assert claim is not None and claim.job.id == first.id
    assert jobs.heartbeat(claim, 40)
    running, waiting, last = jobs.with_positions([jobs.get(first.id), jobs.get(second.id), jobs.get(third.id)])
    assert running.queue_position is None and (waiting.queue_position, last.queue_position) == (1, 2)
    assert running.date_init and running.heartbeat_at
    seconds = (running.heartbeat_at - running.date_init).total_seconds()
    if seconds > 0:  # the two writes may share a millisecond
        assert running.rows_per_second == pytest.approx(40 / seconds)
        assert running.seconds_left == pytest.approx(60 / (40 / seconds))
    body = running.as_dict()
    assert set(body) >= {"rows_per_second", "seconds_left", "queue_position", "input_sha256"}


def test_step_rows_keep_steps_short_whatever_the_row_width() -> None:
    assert step_rows(50_000, 20_000_000, 100_000) == 10_000  # 200 bytes a row: the cap
    assert step_rows(50_000, 400_000_000, 100_000) == 500  # 4 KB a row: about 2 MB a step
    assert step_rows(50_000, 50_000_000, 100_000) == 4_000
    assert step_rows(100, 20_000_000, 100_000) == 100  # a smaller CHUNK_ROWS wins
    assert step_rows(50_000, 0, None) == 10_000


# -- the API ---------------------------------------------------------------------------------------
def test_api_cancel_owner_admin_others_and_finished(api_client, jobs, alice, bob, admin, bearer, submit_job) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = submit_job(alice, rows=5), submit_job(alice, rows=5)
    response = api_client.post(f"/api/jobs/{mine.id}/cancel", headers=bearer(alice))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "CANCELLED" and body["error"] == "Cancelled by alice." and body["links"]["result"] is None
    assert_json_error(api_client.post(f"/api/jobs/{theirs.id}/cancel", headers=bearer(bob)), 404, str(theirs.id))
    assert jobs.get(theirs.id).status is Status.PENDING  # type: ignore[union-attr]
    assert api_client.post(f"/api/jobs/{theirs.id}/cancel", headers=bearer(admin)).json()["error"] == \
        "Cancelled by admin."
    again = assert_json_error(api_client.post(f"/api/jobs/{mine.id}/cancel", headers=bearer(alice)), 409,
                              "already ended")
    assert again["job_status"] == "CANCELLED"
    assert_json_error(api_client.get(f"/api/jobs/{mine.id}/result", headers=bearer(alice)), 409, "cancelled")
    assert_json_error(api_client.post(f"/api/jobs/{mine.id}/cancel"), 401)
    retried = api_client.post(f"/api/jobs/{mine.id}/retry", headers=bearer(alice))
    assert retried.status_code == 200 and retried.json()["status"] == "PENDING"
    listed = api_client.get("/api/jobs?status=CANCELLED", headers=bearer(admin)).json()
    assert [j["id"] for j in listed["jobs"]] == [theirs.id]


def test_api_events_and_queue_position(api_client, alice, bob, bearer, submit_job) -> None:  # type: ignore[no-untyped-def]
    first, second = submit_job(alice, rows=5), submit_job(alice, rows=5)
    assert api_client.get(f"/api/jobs/{second.id}", headers=bearer(alice)).json()["queue_position"] == 2
    api_client.post(f"/api/jobs/{first.id}/cancel", headers=bearer(alice))
    assert api_client.get(f"/api/jobs/{second.id}", headers=bearer(alice)).json()["queue_position"] == 1
    listed = api_client.get("/api/jobs", headers=bearer(alice)).json()["jobs"]
    assert [(j["id"], j["queue_position"]) for j in listed] == [(second.id, 1), (first.id, None)]
    response = api_client.get(f"/api/jobs/{first.id}/events", headers=bearer(alice))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first.id
    assert [(e["event"], e["status"], e["worker"]) for e in body["events"]] == [
        ("queued", "PENDING", "web"), ("cancelled", "CANCELLED", "alice")]
    assert body["events"][1]["detail"] == "cancelled by alice while waiting in the queue"
    assert_json_error(api_client.get(f"/api/jobs/{first.id}/events", headers=bearer(bob)), 404)


def test_panel_cancel_button_and_badge(client, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    from tests.panel_helpers import csrf_of, login

    job = submit_job(alice, rows=5)
    login(client, "alice", "alice-password-1")
    page = client.get("/jobs")
    assert f'action="/jobs/{job.id}/cancel"' in page.text
    response = client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": csrf_of(page.text), "next": "/jobs"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "was cancelled; Retry puts it back in the queue" in response.text
    assert 'class="badge badge-cancelled"' in response.text
    assert f'action="/jobs/{job.id}/cancel"' not in response.text
    assert f'action="/jobs/{job.id}/retry"' in response.text
    assert jobs.get(job.id).status is Status.CANCELLED  # type: ignore[union-attr]
    again = client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": csrf_of(response.text), "next": "/jobs"},
                        follow_redirects=True)
    assert "has already ended (CANCELLED)" in again.text


# -- the job's page ----------------------------------------------------------------------------------
def test_job_page_shows_file_model_history_and_first_rows(client, settings, db, jobs, alice, bob, admin,  # type: ignore[no-untyped-def]
                                                           submit_job) -> None:
    import html
    import re

    from tests.panel_helpers import login

    job = submit_job(alice, rows=30)
    worker = Worker(settings, db, worker_id="host-a:77:feed")
    done = worker.run_claim(worker.claim(job.id))
    login(client, "alice", "alice-password-1")
    listing = client.get("/jobs").text
    assert f'<a class="file-name" href="/jobs/{job.id}"' in listing  # the list links to the page
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert done.input_sha256 and f">{done.input_sha256[:12]}</code>" in text
    assert done.model_sha256 and done.model_sha256[:12] in text
    assert f"{done.model_version}" in text and "PROCESS OK" in text
    # The history, oldest first, with the worker.
    timeline = re.findall(r'<strong class="event-name">([^<]+)</strong>', text)
    assert timeline == ["queued", "claimed", "finished ok"]
    assert "host-a:77:feed" in text
    # The first 20 rows, the model's columns first, matching the CSV result.
    header = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', text)
    # the columns the model added first (row_status after the predictions), then the inputs
    assert header[:3] == ["prediction", "probability", "row_status"] and header[3:5] == ["row_id", "patient_id"]
    body_rows = re.findall(r"<tr>(<td.*?)</tr>", text)
    assert len(body_rows) == 20
    result_csv = (settings.output_dir / done.path_result_csv).read_text(encoding="utf-8-sig").splitlines()
    first = result_csv[1].split(",")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", body_rows[0])
    assert cells[:3] == first[-3:] and cells[3] == first[0]
    # Class counts from the summary sheet add up to the rows.
    counts = re.findall(r"<li><strong>([^<]+)</strong> ([\d,]+)</li>", text)
    assert counts and sum(int(n.replace(",", "")) for _, n in counts) == 30
    # Others get 404 like any missing file; an admin sees it with its owner.
    client.post("/logout", data={"csrf_token": login(client, "alice", "alice-password-1")})
    login(client, "bob", "bob-password-1")
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get("/jobs/999999").status_code == 404


def test_job_page_of_a_waiting_job_shows_its_place_and_cancel(client, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    from tests.panel_helpers import csrf_of, login

    first, second = submit_job(alice, rows=5), submit_job(alice, rows=5)
    login(client, "alice", "alice-password-1")
    page = client.get(f"/jobs/{second.id}").text
    assert "number 2 (1 before it)" in page and "data-live-job" in page
    assert f'action="/jobs/{second.id}/cancel"' in page
    done = client.post(f"/jobs/{second.id}/cancel", data={"csrf_token": csrf_of(page), "next": f"/jobs/{second.id}"},
                       follow_redirects=True)
    assert str(done.url).endswith(f"/jobs/{second.id}")
    assert "Cancelled by alice." in done.text and "cancelled by alice while waiting in the queue" in done.text
    assert f'action="/jobs/{second.id}/retry"' in done.text and "data-live-job" not in done.text
    assert "next to run" in client.get(f"/jobs/{first.id}").text


# -- the queue page (administrators) -------------------------------------------------------------------
def test_queue_page_counts_waits_throughput_and_stale_workers(client, settings, db, jobs, alice, admin,  # type: ignore[no-untyped-def]
                                                               submit_job) -> None:
    import html
    import re

    from tests.panel_helpers import login
    from tests.support.sql import raw

    finished, running, stale, waiting = (submit_job(alice, rows=25) for _ in range(4))
    worker = Worker(settings, db, worker_id="host-ok:11:aaaa")
    worker.run_claim(worker.claim(finished.id))
    live = jobs.claim(running.id, "host-live:22:bbbb")
    assert live is not None and jobs.heartbeat(live, 10)
    lost = jobs.claim(stale.id, "host-lost:33:cccc")
    assert lost is not None
    raw(db, "UPDATE wp_records SET heartbeat_at = '2000-01-01 00:00:00' WHERE id = ?", (stale.id,))
    raw(db, "UPDATE wp_records SET date_up = '2000-01-01 00:00:00' WHERE id = ?", (waiting.id,))

    login(client, "alice", "alice-password-1")
    assert client.get("/admin/queue").status_code == 403
    login(client, "admin", "admin-password-1")
    page = client.get("/admin/queue")
    assert page.status_code == 200
    text = html.unescape(page.text)
    counts = dict(re.findall(r'<dd data-status="([^"]+)">([\d,]+)</dd>', text))
    assert counts == {"PENDING": "1", "IN PROCESS": "2", "PROCESS OK": "1", "ERROR": "0", "CANCELLED": "0"}
    oldest = re.search(r'data-field="oldest-pending">([^<]+)<', text)
    assert oldest and " h " in oldest.group(1)  # waiting since 2000: hours
    assert "25 rows in 1 finished job" in text
    rows = dict(re.findall(r'<tr class="(stale|)" data-worker="([^"]+)">', text)[i][::-1] for i in range(2))
    assert rows == {"host-live:22:bbbb": "", "host-lost:33:cccc": "stale"}
    assert "<td>host-lost</td>" not in text and 'title="host-lost:33:cccc">host-lost</td>' in text
