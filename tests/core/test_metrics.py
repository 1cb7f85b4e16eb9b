"""GET /metrics (issue 14, item 2) on both engines: parsed with prometheus_client's own parser
and checked against the database (the tests' raw SQL, not the app's queries); counters kept
in the database survive a deleted job and a new process; administrators only (token or
Basic); the METRICS_BIND listener serves the same without credentials."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from app import __version__
from app.core.db import parse_time
from app.core.jobs.records import Status
from app.web import create_app
from scheduler.worker import Worker
from tests.conftest import assert_json_error, basic_auth, free_port
from tests.support.sql import raw


def scrape(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value} for every sample."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def run_jobs(settings, db, jobs, submit_job, user) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """Two jobs PROCESS OK (30 and 12 rows), one ERROR, one PENDING."""
    worker = Worker(settings, db)
    ok = [worker.run_claim(worker.claim(submit_job(user, rows=n).id)).id for n in (30, 12)]
    claim = worker.claim(submit_job(user, rows=5).id)
    jobs.fail(claim, "failed on purpose")
    pending = submit_job(user, rows=3)
    return {"ok": ok, "error": [claim.job.id], "pending": [pending.id]}


def test_metrics_agree_with_the_database(api_client, settings, db, jobs, alice, admin, bearer, submit_job):  # type: ignore[no-untyped-def]
    run_jobs(settings, db, jobs, submit_job, alice)
    answer = api_client.get("/metrics", headers=bearer(admin))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    got = scrape(answer.text)

    # Jobs by status (as stored) and model: from the rows.
    expected = {}
    for row in raw(db, "SELECT status_file, model_name, COUNT(*) AS n FROM wp_records GROUP BY status_file, model_name"):
        expected[(("model", row["model_name"] or "unknown"), ("status", row["status_file"]))] = float(row["n"])
    assert {k: v for k, v in got["beyond_jobs"].items() if v} == expected
    assert set(dict(k)["status"] for k in got["beyond_jobs"]) >= {s.value for s in Status}
    model = settings.default_model
    assert got["beyond_jobs"][(("model", model), ("status", "PROCESS OK"))] == 2

    # The oldest PENDING job's age: from its upload time and the database clock.
    [oldest] = raw(db, "SELECT MIN(date_up) AS t FROM wp_records WHERE status_file = 'PENDING'")
    age = got["beyond_oldest_pending_job_age_seconds"][()]
    assert 0 <= age < 120 and parse_time(oldest["t"]) is not None

    finished = got["beyond_jobs_finished_total"]
    assert finished[(("model", model), ("status", "PROCESS OK"))] == 2
    assert finished[(("model", model), ("status", "ERROR"))] == 1
    [rows] = raw(db, "SELECT SUM(rows_done) AS n FROM wp_records WHERE status_file = 'PROCESS OK'")
    assert got["beyond_rows_scored_total"][(("model", model),)] == float(rows["n"]) == 42.0

    # Histograms: three runs ended, three claims waited; cumulative buckets end at the count.
    assert got["beyond_job_duration_seconds_count"][()] == 3
    assert got["beyond_job_duration_seconds_bucket"][(("le", "+Inf"),)] == 3
    buckets = sorted(((float(dict(k)["le"]), v) for k, v in got["beyond_job_duration_seconds_bucket"].items()))
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    durations = [(parse_time(r["date_result"]) - parse_time(r["date_init"])).total_seconds()
                 for r in raw(db, "SELECT date_init, date_result FROM wp_records WHERE date_result IS NOT NULL")]
    assert got["beyond_job_duration_seconds_sum"][()] == pytest.approx(sum(durations), abs=0.01)
    assert got["beyond_job_queue_wait_seconds_count"][()] == 3

    assert got["beyond_build_info"][(("engine", db.engine), ("python", got_python(got)), ("version", __version__))] == 1
    assert got["beyond_webhook_deliveries"][(("state", "pending"),)] == 0
    # No user names or ids anywhere in the labels.
    assert "alice" not in answer.text and "admin" not in answer.text


def got_python(got) -> str:  # type: ignore[no-untyped-def]
    [labels] = got["beyond_build_info"]
    return dict(labels)["python"]


def test_counters_survive_a_deleted_job_and_a_new_app(settings, db, jobs, alice, admin, bearer, submit_job):  # type: ignore[no-untyped-def]
    ids = run_jobs(settings, db, jobs, submit_job, alice)
    assert jobs.delete(ids["ok"][0])
    # A fresh application (a restart, or another host) reports the same counters.
    with TestClient(create_app(settings, db)) as client:
        got = scrape(client.get("/metrics", headers=bearer(admin)).text)
    assert got["beyond_jobs_finished_total"][(("model", settings.default_model), ("status", "PROCESS OK"))] == 2
    assert got["beyond_rows_scored_total"][(("model", settings.default_model),)] == 42
    assert got["beyond_jobs"][(("model", settings.default_model), ("status", "PROCESS OK"))] == 1


def test_lease_takeovers_are_counted(api_client, settings, db, jobs, alice, admin, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    assert jobs.claim(job.id, "lost-worker") is not None
    raw(db, "UPDATE wp_records SET heartbeat_at = ? WHERE id = ?", ("2000-01-01 00:00:00.000", job.id))
    Worker(settings, db).reap()
    got = scrape(api_client.get("/metrics", headers=bearer(admin)).text)
    assert got["beyond_lease_takeovers_total"] == {(("outcome", "requeued"),): 1.0, (("outcome", "failed"),): 0.0}


def test_metrics_are_for_administrators(api_client, alice, admin, bearer) -> None:  # type: ignore[no-untyped-def]
    assert_json_error(api_client.get("/metrics"), 401)
    assert_json_error(api_client.get("/metrics", headers=bearer(alice)), 403, "administrator")
    assert_json_error(api_client.get("/metrics", headers=basic_auth("alice", "alice-password-1")), 403)
    assert api_client.get("/metrics", headers=basic_auth("admin", "admin-password-1")).status_code == 200


def test_the_metrics_bind_listener(settings, db, jobs, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    import httpx2

    submit_job(alice)
    port = free_port()
    app = create_app(settings.replace(metrics_bind=f"127.0.0.1:{port}"), db)
    with TestClient(app):
        answer = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert answer.status_code == 200
        got = scrape(answer.text)
        assert got["beyond_jobs"][(("model", settings.default_model), ("status", "PENDING"))] == 1
    with pytest.raises(httpx2.TransportError):  # closed with the server
        httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
