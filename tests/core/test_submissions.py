"""app/core/jobs/files.py: the display name of an uploaded file is text, never a path."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from app.core.jobs.submissions import display_name, human_size


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("patients.csv", "patients.csv"),
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\ana\\datos ñ.csv", "datos ñ.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("a %22quoted%22 name.csv", 'a "quoted" name.csv'),  # browsers percent-encode '"'
        ("line%0Abreak.csv", "linebreak.csv"),
        ("nul\x00byte.csv", "nulbyte.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("x" * 400 + ".csv", "x" * 255),
    ],
)
def test_display_name(raw: str | None, shown: str) -> None:
    assert display_name(raw) == shown


def test_human_size() -> None:
    assert human_size(512) == "512 bytes"
    assert human_size(200 * 1024 * 1024) == "200.0 MB"


# -- quotas under a burst of parallel uploads (issue 22) ---------------------------------------------
def _burst(settings, csv: Path, count: int = 30) -> tuple[int, list[Exception]]:  # type: ignore[no-untyped-def]
    """``count`` uploads of ``csv`` by one user at once, each in its own thread and database
    connection, through the same accept_upload as the panel and the API. Returns (accepted,
    refusals)."""
    from app.core.accounts.users import Users
    from app.core.db import open_database
    from app.core.jobs.files import new_part_path
    from app.core.jobs.queue import Jobs
    from app.core.jobs.submissions import Upload, accept
    from app.core.registry.models import Registry

    db = open_database(settings)
    db.init_schema()
    owner = Users(db).create("alice", "alice-password-1")
    # The default model registered before the burst: its first registration races on its own
    # (a separate issue), and here only the quotas are under test.
    Registry(db, settings).default()
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(count):
        part = new_part_path(settings.input_dir, f"burst-{i}")
        shutil.copyfile(csv, part)
        parts.append(part)
    start = threading.Barrier(count)
    accepted: list[int] = []
    refused: list[Exception] = []

    def upload(part: Path) -> None:
        start.wait()
        try:
            accepted.append(accept(settings, Jobs(db), owner.id, Upload(part, "a.csv", part.stat().st_size)).id)
        except Exception as exc:  # collected: the test asserts what they are
            refused.append(exc)

    threads = [threading.Thread(target=upload, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    db.close()
    return len(accepted), refused


def test_a_burst_of_uploads_cannot_pass_the_pending_jobs_quota(make_settings, engine, make_csv) -> None:  # type: ignore[no-untyped-def]
    # 30 at once with a limit of 3 let 10 in on SQLite and 14 on MariaDB.
    from app.core.errors import QuotaExceeded

    settings = make_settings(engine, MAX_PENDING_JOBS_PER_USER="3")
    accepted, refused = _burst(settings, make_csv(200))
    assert accepted == 3
    assert len(refused) == 27
    assert all(isinstance(e, QuotaExceeded) for e in refused), [getattr(e, "detail", e) for e in refused][:3]
    assert "MAX_PENDING_JOBS_PER_USER" in str(refused[0])
    stored = sorted(p.name for p in settings.input_dir.iterdir())
    assert len(stored) == 3 and all(n.startswith("upload-") and n.endswith(".csv") for n in stored)  # no leftovers


def test_a_burst_of_uploads_cannot_pass_the_storage_quota(make_settings, engine, make_csv) -> None:  # type: ignore[no-untyped-def]
    from app.core.errors import StorageQuotaExceeded

    settings = make_settings(engine, MAX_STORAGE_MB_PER_USER="1")
    csv = make_csv(600)
    size = csv.stat().st_size
    fits = (1024 * 1024) // size
    assert 2 <= fits < 30, size
    accepted, refused = _burst(settings, csv)
    assert accepted == fits, [getattr(e, 'detail', e) for e in refused][:3]
    assert len(refused) == 30 - fits and all(isinstance(e, StorageQuotaExceeded) for e in refused), refused[:3]
    stored = list(settings.input_dir.iterdir())
    assert len(stored) == fits and sum(p.stat().st_size for p in stored) <= 1024 * 1024
