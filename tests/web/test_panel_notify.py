"""Completion e-mail (app/core/events/notify.py) against a real SMTP server (aiosmtpd on 127.0.0.1, the
`smtp` fixture of tests/conftest.py), sent by the real worker when a job ends; on SQLite and MariaDB."""

from __future__ import annotations

from app.core.events import notify
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from scheduler.worker import Worker
from tests.conftest import free_port


def test_owner_gets_an_email_when_the_job_succeeds(mail_settings, db, users, jobs, alice, smtp, make_csv) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(alice.id, "alice@example.org", True)
    job = submit_path(mail_settings, jobs, alice.id, make_csv(25, name="ventas ñ.csv"))
    [done] = Worker(mail_settings, db).drain()
    assert done.id == job.id and done.status is Status.PROCESS_OK
    [message] = inbox.messages
    assert inbox.envelopes == [("beyond@example.org", ["alice@example.org"])]
    assert message["To"] == "alice@example.org" and message["From"] == "beyond@example.org"
    assert message["Subject"] == "Beyond: ventas ñ.csv - PROCESS OK"
    body = message.get_content()
    assert "25 rows" in body and "ready to download" in body and mail_settings.time_zone in body


def test_owner_gets_an_email_when_the_job_fails(mail_settings, db, users, jobs, alice, smtp, make_csv) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(alice.id, "alice@example.org", True)
    job = submit_path(mail_settings, jobs, alice.id, make_csv(5))
    (mail_settings.input_dir / job.path_up).unlink()  # the worker will find nothing to read
    [done] = Worker(mail_settings, db).drain()
    assert done.status is Status.ERROR
    [message] = inbox.messages
    assert message["Subject"].endswith("- ERROR")
    assert "missing from storage" in message.get_content()


def test_no_email_unless_asked_for(mail_settings, db, users, jobs, alice, smtp, make_csv) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(alice.id, "alice@example.org", False)  # address known, e-mails off
    submit_path(mail_settings, jobs, alice.id, make_csv(5))
    Worker(mail_settings, db).drain()
    assert inbox.messages == []
    # And without SMTP_HOST nothing is even attempted, whatever the user chose.
    users.set_email(alice.id, "alice@example.org", True)
    job = submit_path(mail_settings, jobs, alice.id, make_csv(5, name="two.csv"))
    plain = mail_settings.replace(smtp_host="")
    Worker(plain, db).drain()
    assert jobs.get(job.id).status is Status.PROCESS_OK and inbox.messages == []
    assert notify.job_finished(plain, db, jobs.get(job.id)) is False


def test_a_dead_mail_server_never_fails_the_job(settings, db, users, jobs, alice, make_csv) -> None:  # type: ignore[no-untyped-def]
    users.set_email(alice.id, "alice@example.org", True)
    nobody = settings.replace(smtp_host="127.0.0.1", smtp_port=free_port())  # nothing listens
    job = submit_path(nobody, jobs, alice.id, make_csv(5))
    [done] = Worker(nobody, db).drain()
    assert done.id == job.id and done.status is Status.PROCESS_OK
    assert notify.job_finished(nobody, db, done) is False


def test_only_finished_jobs_are_announced(mail_settings, db, users, jobs, alice, smtp, make_csv) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(alice.id, "alice@example.org", True)
    job = submit_path(mail_settings, jobs, alice.id, make_csv(5))
    assert notify.job_finished(mail_settings, db, job) is False  # PENDING
    assert inbox.messages == []
