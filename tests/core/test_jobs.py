"""The jobs module on both engines: create, claim, fence, complete, fail, reap, list."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.db import SCHEMA_VERSION, load_queries
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status


def make_job(jobs: Jobs, owner_id: int, name: str = "a.csv", rows: int = 10):
    return jobs.create(owner_id, name, f"upload-{name}", 123, rows)


def test_query_names_exist() -> None:
    names = set(load_queries())
    for needed in ("job_insert", "job_next_pending", "job_claim", "job_heartbeat", "job_complete",
                   "job_fail", "job_release", "jobs_stale", "job_reap_requeue", "job_reap_fail",
                   "joblist_page", "joblist_count", "user_insert", "token_insert", "token_by_hash"):
        assert needed in names


def test_fragments_are_filled_in_and_every_placeholder_left_is_an_engine_macro(tmp_path) -> None:
    import re

    from app.core.db import MySQLDatabase, SQLiteDatabase

    macros = set(SQLiteDatabase.macros) & set(MySQLDatabase.macros)
    for name, query in load_queries().items():
        assert set(re.findall(r"\{(\w+)\}", query)) <= macros, name
    assert "{joblist_filter}" not in load_queries()["joblist_page"]
    (tmp_path / "queries.sql").write_text("-- fragment: mine\n-- a comment\nr.owner_id = :owner_id\n\n"
                                         "-- name: a\nSELECT 1 WHERE {mine}\n-- name: b\nSELECT {mine} AND {cutoff}\n")
    assert load_queries(tmp_path) == {"a": "SELECT 1 WHERE r.owner_id = :owner_id",
                                      "b": "SELECT r.owner_id = :owner_id AND {cutoff}"}
    (tmp_path / "queries_more.sql").write_text("-- fragment: mine\nx\n")
    with pytest.raises(ValueError, match="fragment names defined twice: mine"):
        load_queries(tmp_path)


def test_schema_is_idempotent_and_versioned(db) -> None:
    assert db.schema_version() == SCHEMA_VERSION
    assert db.init_schema() == SCHEMA_VERSION  # second run: nothing to do, nothing lost


# MySQL only: SQLite runs a migration's DDL and its version row in one transaction, so a crash
# undoes both together and there is nothing to re-run.
@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_migrations_rerun_after_a_crash_between_ddl_and_version_row(db, jobs, alice) -> None:
    """MySQL commits each DDL statement by itself: a crash after a migration's ALTER TABLE but
    before its schema_version row leaves the index there and the version unrecorded. The next
    start runs the migrations again; they must not fail (ADD INDEX used to: duplicate key name)."""
    job = make_job(jobs, alice.id)
    with db.transaction() as tx:
        tx.conn.cursor().execute("DELETE FROM schema_version WHERE version >= 2")
    assert db.schema_version() == 1
    assert db.init_schema() == SCHEMA_VERSION
    assert db.schema_version() == SCHEMA_VERSION
    assert jobs.get(job.id) is not None


def test_schema_rerun_keeps_rows(db, jobs, alice) -> None:
    job = make_job(jobs, alice.id)
    db.init_schema()
    assert jobs.get(job.id) is not None


def test_create_and_read(jobs, alice) -> None:
    job = make_job(jobs, alice.id, "ñandú <b>.csv")
    assert job.status is Status.PENDING
    assert job.file_name == "ñandú <b>.csv"
    assert job.owner_name == "alice"
    assert job.rows_total == 10 and job.rows_done == 0 and job.attempts == 0
    assert job.date_up is not None and job.date_up.tzinfo is not None
    assert Status.IN_PROCESS.value == "IN PROCESS" and Status.PROCESS_OK.value == "PROCESS OK"


def test_claim_takes_oldest_and_marks_in_process(jobs, alice) -> None:
    first, second = make_job(jobs, alice.id, "1.csv"), make_job(jobs, alice.id, "2.csv")
    claim = jobs.claim_next("w1")
    assert claim is not None and claim.job.id == first.id
    assert claim.job.status is Status.IN_PROCESS
    assert claim.job.attempts == 1 and claim.job.claimed_by == "w1"
    assert claim.job.date_init is not None and claim.job.heartbeat_at is not None
    assert jobs.claim_next("w2").job.id == second.id
    assert jobs.claim_next("w3") is None


def test_complete_is_fenced_by_token(jobs, alice) -> None:
    make_job(jobs, alice.id)
    claim = jobs.claim_next("w1")
    assert jobs.heartbeat(claim, 5, 10)
    assert jobs.get(claim.job.id).rows_done == 5
    assert jobs.complete(claim, "r.xlsx", "r.csv", 10, "v1")
    job = jobs.get(claim.job.id)
    assert job.status is Status.PROCESS_OK and job.path_result == "r.xlsx" and job.model_version == "v1"
    assert job.date_result is not None and job.duration_seconds is not None
    # a second final write with the same (now spent) claim matches nothing
    assert not jobs.complete(claim, "other.xlsx", None, 10, "v1")
    assert not jobs.fail(claim, "late")
    assert jobs.get(claim.job.id).path_result == "r.xlsx"


def test_stale_worker_cannot_overwrite_new_owner(jobs, alice) -> None:
    make_job(jobs, alice.id)
    old = jobs.claim_next("old")
    time.sleep(1.1)
    requeued, failed = jobs.reap(lease_seconds=1, max_attempts=3)
    assert requeued == [old.job.id] and failed == []
    new = jobs.claim_next("new")
    assert new.job.id == old.job.id and new.job.attempts == 2
    assert not jobs.heartbeat(old, 3)
    assert not jobs.complete(old, "stale.xlsx", None, 10, "v1")
    assert jobs.complete(new, "fresh.xlsx", None, 10, "v1")
    assert jobs.get(new.job.id).path_result == "fresh.xlsx"


def test_reaper_gives_up_after_max_attempts(jobs, alice) -> None:
    make_job(jobs, alice.id)
    for attempt in (1, 2):
        claim = jobs.claim_next(f"w{attempt}")
        assert claim.job.attempts == attempt
        time.sleep(1.1)
        requeued, failed = jobs.reap(lease_seconds=1, max_attempts=2)
    assert failed == [claim.job.id]
    job = jobs.get(claim.job.id)
    assert job.status is Status.ERROR and "gave up after 2 attempts" in job.error_message


def test_fresh_heartbeat_is_not_reaped(jobs, alice) -> None:
    make_job(jobs, alice.id)
    jobs.claim_next("w")
    assert jobs.reap(lease_seconds=60, max_attempts=3) == ([], [])


def test_release_returns_job_without_spending_an_attempt(jobs, alice) -> None:
    make_job(jobs, alice.id)
    claim = jobs.claim_next("w")
    assert jobs.release(claim)
    job = jobs.get(claim.job.id)
    assert job.status is Status.PENDING and job.attempts == 0


def test_retry_archive_delete(jobs, alice) -> None:
    make_job(jobs, alice.id)
    claim = jobs.claim_next("w")
    assert not jobs.retry(claim.job.id)  # only ERROR jobs retry
    assert not jobs.delete(claim.job.id)  # not while it runs
    jobs.fail(claim, "Row 2, column 'x': bad")
    assert jobs.retry(claim.job.id)
    job = jobs.get(claim.job.id)
    assert job.status is Status.PENDING and job.attempts == 0 and job.error_message is None
    assert jobs.set_archived(job.id, True)
    listing = JobList(jobs.db)
    assert listing.page(JobFilter(owner_id=alice.id)) == []
    assert len(listing.page(JobFilter(owner_id=alice.id, archived=True))) == 1
    assert jobs.delete(job.id)
    assert jobs.get(job.id) is None


def test_list_filters_search_and_visibility(jobs, users, alice) -> None:
    bob = users.create("bob", "bob-password-1")
    make_job(jobs, alice.id, "report_2024.csv")
    make_job(jobs, alice.id, "100%_done.csv")
    make_job(jobs, bob.id, "bob.csv")
    assert [j.file_name for j in JobList(jobs.db).page(JobFilter(owner_id=alice.id))] == ["100%_done.csv", "report_2024.csv"]
    assert [j.file_name for j in JobList(jobs.db).page(JobFilter(owner_id=alice.id, search="%"))] == ["100%_done.csv"]
    assert [j.file_name for j in JobList(jobs.db).page(JobFilter(owner_id=alice.id, search="T_2"))] == ["report_2024.csv"]
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 3 and JobList(jobs.db).count(JobFilter(owner_id=bob.id)) == 1
    assert JobList(jobs.db).count(JobFilter(owner_id=alice.id, status=Status.PENDING)) == 2
    assert jobs.status_counts(alice.id)["PENDING"] == 2
    bob_job = JobList(jobs.db).page(JobFilter(owner_id=bob.id))[0]
    assert jobs.get_visible(bob_job.id, alice.id, is_admin=False) is None
    assert jobs.get_visible(bob_job.id, alice.id, is_admin=True) is not None
    assert len(JobList(jobs.db).page(JobFilter(owner_id=None), limit=2, offset=1)) == 2


def test_sql_injection_strings_are_data(jobs, alice) -> None:
    evil = "x'; DROP TABLE wp_records; --"
    make_job(jobs, alice.id, evil)
    assert JobList(jobs.db).page(JobFilter(owner_id=alice.id, search=evil))[0].file_name == evil
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 1


def test_concurrent_claims_in_threads_never_share_a_job(jobs, alice) -> None:
    for i in range(40):
        make_job(jobs, alice.id, f"{i}.csv")
    claimed: list[int] = []
    lock = threading.Lock()

    def grab(name: str) -> None:
        while (claim := jobs.claim_next(name)) is not None:
            with lock:
                claimed.append(claim.job.id)

    threads = [threading.Thread(target=grab, args=(f"t{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40


def test_new_rows_are_seen_by_a_long_lived_connection(db, jobs, alice) -> None:
    """A polling worker must see jobs inserted by other connections (no stale snapshot)."""
    assert jobs.claim_next("poller") is None  # this thread's connection has now read the table
    other = threading.Thread(target=lambda: make_job(jobs, alice.id, "late.csv"))
    other.start()
    other.join()
    claim = jobs.claim_next("poller")
    assert claim is not None and claim.job.file_name == "late.csv"


def test_both_engines_have_the_same_migrations() -> None:
    from app.core.db import SQL_DIR

    names = {engine: sorted(p.name for p in (SQL_DIR / engine).glob("*.sql")) for engine in ("sqlite", "mysql")}
    assert names["sqlite"] == names["mysql"]


def test_concurrent_schema_creation_on_a_fresh_database(settings) -> None:
    """Several processes (cron hosts, the server and its workers) may create the schema of a
    fresh database at the same moment: all succeed and the version is recorded once each."""
    from concurrent.futures import ThreadPoolExecutor

    from app.core.db import SCHEMA_VERSION, open_database

    databases = [open_database(settings) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            versions = list(pool.map(lambda d: d.init_schema(), databases))
        assert versions == [SCHEMA_VERSION] * 4
        applied = databases[0].one("schema_versions_applied")
        # One row per migration file (numbers may have gaps while branches are apart).
        numbered = [v for v, _ in databases[0].migrations() if v > 0]
        assert applied is not None and int(applied["n"]) == len(numbered) and max(numbered) == SCHEMA_VERSION
    finally:
        for d in databases[1:]:
            d.close()
        databases[0].drop_database()


def test_user_actions_log_one_line_each(jobs, alice, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="beyond.jobs")
    job = make_job(jobs, alice.id)
    claim = jobs.claim_next("w")
    jobs.fail(claim, "bad")
    jobs.retry(job.id)
    jobs.set_archived(job.id, True)
    jobs.delete(job.id)
    lines = [r.getMessage() for r in caplog.records if r.name == "beyond.jobs"]
    assert [line.split()[0] for line in lines] == [
        "event=job.created", "event=job.retried", "event=job.archived", "event=job.deleted"]
    assert f"job={job.id}" in lines[0] and "user=alice" in lines[0]
