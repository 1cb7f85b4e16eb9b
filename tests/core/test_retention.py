"""Retention and quotas on SQLite and MariaDB, with real files in temporary directories: the
sweep deletes the files of old finished jobs and keeps their rows (marked expired, audited);
downloads of an expired job answer 410; ARCHIVE_AFTER_DAYS; the sweep runs from the workers
at most hourly per host; per-user quotas on pending jobs (429) and storage (413) through the
API and the panel. Old jobs are made by setting their times in the database."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.core.db import Database, db_time_text, open_database
from app.core.events import audit
from app.core.events.audit import AuditFilter, AuditLog
from app.core.jobs import retention
from app.core.jobs.files import job_files
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings, SettingsError, load_settings
from app.web import create_app
from tests.conftest import assert_json_error, run_cli
from tests.panel_helpers import flashes_of, login
from tests.support.sql import raw
from tests.web.test_security import processed


def finished_days_ago(db: Database, job: Job, days: float) -> None:
    """Pretend the job finished ``days`` ago (the database's own clock minus that)."""
    when = Jobs(db).db_now() - timedelta(days=days)
    raw(db, "UPDATE wp_records SET date_result = ?, date_init = ? WHERE id = ?",
        (db_time_text(when), db_time_text(when - timedelta(seconds=5)), job.id))


def existing(settings: Settings, job: Job) -> list[Path]:
    return [p for p in job_files(settings, job) if p.is_file()]


@pytest.fixture
def kept(make_settings: Callable[..., Settings], engine: str) -> Settings:
    return make_settings(engine, RESULT_RETENTION_DAYS="30", ARCHIVE_AFTER_DAYS="7")


@pytest.fixture
def kdb(kept: Settings) -> Database:  # type: ignore[misc]
    database = open_database(kept)
    database.init_schema()
    yield database
    database.drop_database()


def test_the_sweep_deletes_old_files_keeps_the_rows_and_downloads_answer_410(  # type: ignore[no-untyped-def]
        kept, kdb, make_csv) -> None:
    from app.core.accounts.users import Users

    jobs = Jobs(kdb)
    alice = Users(kdb).create("alice", "alice-password-1")
    old_ok = processed(kept, kdb, jobs, make_csv, alice, name="old-ok.csv")
    old_err = processed(kept, kdb, jobs, make_csv, alice, name="old-err.csv", fail=True)
    recent = processed(kept, kdb, jobs, make_csv, alice, name="recent.csv")
    waiting = submit_path(kept, jobs, alice.id, make_csv(5, name="waiting.csv"))
    finished_days_ago(kdb, old_ok, 31)
    finished_days_ago(kdb, old_err, 45)
    finished_days_ago(kdb, recent, 29)
    raw(kdb, "UPDATE wp_records SET date_up = ? WHERE id = ?",
        (db_time_text(datetime.now(UTC) - timedelta(days=90)), waiting.id))
    assert len(existing(kept, old_ok)) == 3 and len(existing(kept, old_err)) == 1 and len(existing(kept, recent)) == 3

    result = retention.sweep(kept, kdb)
    assert sorted(result.expired) == sorted([old_ok.id, old_err.id]) and result.files_removed == 4
    # Both old jobs are archived too (7 days), the recent one as well (29 > 7); the waiting one never.
    assert sorted(result.archived) == sorted([old_ok.id, old_err.id, recent.id])
    for job in (old_ok, old_err):
        row = jobs.get(job.id)
        assert row is not None and row.expired and row.expired_at is not None
        assert row.status == job.status and row.file_name == job.file_name and row.rows_total == job.rows_total
        assert existing(kept, job) == []
    assert len(existing(kept, recent)) == 3 and len(existing(kept, waiting)) == 1
    current = jobs.get(recent.id)
    assert current is not None and not current.expired
    assert current.expires_at(30) == current.date_result + timedelta(days=30)  # type: ignore[operator]
    entries = AuditLog(kdb).list(AuditFilter(action=audit.JOB_EXPIRE))
    assert sorted(int(e.object_id or 0) for e in entries) == sorted([old_ok.id, old_err.id])
    assert {e.actor for e in entries} == {"system"} and all("RESULT_RETENTION_DAYS" in (e.detail or "") for e in entries)
    assert retention.sweep(kept, kdb).expired == []  # nothing twice

    with TestClient(create_app(kept, kdb)) as client:
        from app.core.accounts.tokens import Tokens

        token, _ = Tokens(kdb).create(alice.id, "t")
        api = {"Authorization": f"Bearer {token}"}
        body = assert_json_error(client.get(f"/api/jobs/{old_ok.id}/result", headers=api), 410,
                                 "RESULT_RETENTION_DAYS", "old-ok.csv", "30 days")
        assert body["expired"] is True
        shown = client.get(f"/api/jobs/{old_ok.id}", headers=api).json()
        assert shown["expired"] is True and shown["has_result"] is False and shown["links"]["result"] is None
        assert shown["status"] == "PROCESS OK" and shown["expired_at"]
        assert_json_error(client.post(f"/api/jobs/{old_err.id}/retry", headers=api), 410, "deleted")
        assert_json_error(client.post(f"/process_file?id={old_ok.id}&force=1",
                                      headers={"Authorization": f"Bearer {Tokens(kdb).create(make_admin(kdb).id, 'a')[0]}"}),
                          410, "RESULT_RETENTION_DAYS")
        csrf = login(client, "alice", "alice-password-1")
        for kind in ("result.xlsx", "result.csv", "original.csv"):
            page = client.get(f"/jobs/{old_ok.id}/{kind}")
            assert page.status_code == 410 and "were deleted on" in page.text, kind
        retried = client.post(f"/jobs/{old_err.id}/retry", data={"csrf_token": csrf})
        assert any("RESULT_RETENTION_DAYS" in f for f in flashes_of(retried.text))
        assert jobs.get(old_err.id).status.value == "ERROR"  # type: ignore[union-attr]
        listing = client.get("/jobs", params={"archived": "1"}).text
        assert listing.count("Files deleted") == 2 and f"/jobs/{old_ok.id}/result.xlsx" not in listing
        assert "Expires " + (current.date_result + timedelta(days=30)).astimezone(kept.zone).strftime("%Y-%m-%d") \
            in listing  # type: ignore[operator]
        # The recent job still downloads, and its download is audited as usual.
        assert client.get(f"/jobs/{recent.id}/result.xlsx").status_code == 200


def make_admin(db: Database):  # type: ignore[no-untyped-def]
    from app.core.accounts.users import Users

    users = Users(db)
    return users.by_name("admin") or users.create("admin", "admin-password-1", is_admin=True)


def test_the_sweep_runs_at_most_hourly_per_host_and_is_off_by_default(  # type: ignore[no-untyped-def]
        kept, kdb, make_settings, engine) -> None:
    assert retention.sweep_if_due(make_settings(engine), kdb) is None  # 0 = off: not even a turn is taken
    assert raw(kdb, "SELECT * FROM sweep_runs") == []
    assert retention.sweep_if_due(kept, kdb, host="web-1") is not None
    assert retention.sweep_if_due(kept, kdb, host="web-1") is None  # within the hour
    assert retention.sweep_if_due(kept, kdb, host="worker-2") is not None  # another host has its own turn
    raw(kdb, "UPDATE sweep_runs SET ran_at = ? WHERE host = ?",
        (db_time_text(Jobs(kdb).db_now() - timedelta(minutes=61)), "web-1"))
    assert retention.sweep_if_due(kept, kdb, host="web-1") is not None


def test_a_cron_worker_run_does_the_sweep(make_config, make_csv, engine) -> None:  # type: ignore[no-untyped-def]
    """The real scheduler process (cron's one-shot run) deletes an expired job's files."""
    config, settings = make_config(engine, RESULT_RETENTION_DAYS="2")
    db = open_database(settings)
    db.init_schema()
    from app.core.accounts.users import Users

    jobs = Jobs(db)
    alice = Users(db).create("alice", "alice-password-1")
    old = processed(settings, db, jobs, make_csv, alice, name="old.csv")
    finished_days_ago(db, old, 3)
    run = run_cli(config, "scheduler/process_pending.py")
    assert run.returncode == 0, run.stderr
    assert existing(settings, old) == []
    assert jobs.get(old.id).expired  # type: ignore[union-attr]
    assert "retention.swept" in run.stderr
    db.close()


# -- quotas -------------------------------------------------------------------------------------------
def test_pending_quota_is_a_429_naming_the_limit_on_api_and_panel(  # type: ignore[no-untyped-def]
        make_settings, engine, make_csv, tmp_path) -> None:
    settings = make_settings(engine, MAX_PENDING_JOBS_PER_USER="2")
    db = open_database(settings)
    db.init_schema()
    try:
        from app.core.accounts.tokens import Tokens
        from app.core.accounts.users import Users

        users = Users(db)
        alice, bob = users.create("alice", "alice-password-1"), users.create("bob", "bob-password-1")
        api = {"Authorization": f"Bearer {Tokens(db).create(alice.id, 't')[0]}"}
        data = make_csv(5).read_bytes()
        with TestClient(create_app(settings, db)) as client:
            for _ in range(2):
                assert client.post("/api/jobs", files={"file": ("a.csv", data)}, headers=api).status_code == 201
            body = assert_json_error(client.post("/api/jobs", files={"file": ("a.csv", data)}, headers=api), 429,
                                     "MAX_PENDING_JOBS_PER_USER", "limit is 2")
            assert body["limit"] == "MAX_PENDING_JOBS_PER_USER" and body["limit_value"] == 2
            csrf = login(client, "alice", "alice-password-1")
            page = client.post("/jobs/upload", data={"csrf_token": csrf}, files={"file": ("b.csv", data, "text/csv")})
            assert page.status_code == 429 and "MAX_PENDING_JOBS_PER_USER" in page.text
            assert JobList(db).count(JobFilter(owner_id=alice.id)) == 2
            assert list(settings.input_dir.glob("*.part")) == [] and len(list(settings.input_dir.glob("*.csv"))) == 2
            # Another user has a quota of their own.
            other = {"Authorization": f"Bearer {Tokens(db).create(bob.id, 't')[0]}"}
            assert client.post("/api/jobs", files={"file": ("a.csv", data)}, headers=other).status_code == 201
    finally:
        db.drop_database()


def test_storage_quota_is_a_413_naming_the_limit_and_a_delete_frees_space(  # type: ignore[no-untyped-def]
        make_settings, engine, make_csv) -> None:
    settings = make_settings(engine, MAX_STORAGE_MB_PER_USER="1")
    db = open_database(settings)
    db.init_schema()
    try:
        from app.core.accounts.tokens import Tokens
        from app.core.accounts.users import Users

        alice = Users(db).create("alice", "alice-password-1")
        api = {"Authorization": f"Bearer {Tokens(db).create(alice.id, 't')[0]}"}
        data = make_csv(2600, name="big.csv").read_bytes()
        assert 550_000 < len(data) < 1024 * 1024, len(data)
        with TestClient(create_app(settings, db)) as client:
            first = client.post("/api/jobs", files={"file": ("big.csv", data)}, headers=api)
            assert first.status_code == 201
            body = assert_json_error(client.post("/api/jobs", files={"file": ("big.csv", data)}, headers=api), 413,
                                     "MAX_STORAGE_MB_PER_USER", "1 MB")
            assert body["limit"] == "MAX_STORAGE_MB_PER_USER" and body["used_bytes"] == len(data)
            csrf = login(client, "alice", "alice-password-1")
            page = client.post("/jobs/upload", data={"csrf_token": csrf}, files={"file": ("big.csv", data, "text/csv")})
            assert page.status_code == 413 and "MAX_STORAGE_MB_PER_USER" in page.text
            assert client.delete(f"/api/jobs/{first.json()['id']}", headers=api).status_code == 200
            assert client.post("/api/jobs", files={"file": ("big.csv", data)}, headers=api).status_code == 201
        assert len(list(settings.input_dir.glob("*.csv"))) == 1
    finally:
        db.drop_database()


def test_storage_counts_a_workbook_upload_as_its_csv_and_its_original(settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    from app.core.jobs.quotas import stored_bytes

    source = Path(__file__).parent.parent / "data" / "workbooks" / "patients-libreoffice.ods"
    submit_path(settings, jobs, alice.id, source)
    kept = sorted(settings.input_dir.iterdir())
    assert [p.suffix for p in kept] == [".csv", ".ods"]
    assert stored_bytes(settings, db, alice.id) == sum(p.stat().st_size for p in kept)


@pytest.mark.parametrize("key", ["RESULT_RETENTION_DAYS", "ARCHIVE_AFTER_DAYS", "MAX_PENDING_JOBS_PER_USER",
                                 "MAX_STORAGE_MB_PER_USER"])
def test_retention_and_quota_settings_default_to_off_and_fail_loudly(key: str) -> None:
    base = {"SECRET_KEY": "x" * 32}
    settings = load_settings(config_path=os.devnull, environ={}, overrides=base)
    assert getattr(settings, key.lower()) == 0
    assert getattr(load_settings(config_path=os.devnull, environ={}, overrides={**base, key: "14"}), key.lower()) == 14
    for bad in ("-1", "two weeks", "1.5"):
        with pytest.raises(SettingsError, match=key):
            load_settings(config_path=os.devnull, environ={}, overrides={**base, key: bad})
