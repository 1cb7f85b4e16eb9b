"""A job whose model fails on every row (issue 23, item 6): the real worker ends it ERROR with
the model's message naming the first failing row, and the job page, the completion e-mail
(a real SMTP server) and the job.failed webhook (a real HTTP receiver) say the *model*
failed: never that a result is ready, never that the file is to blame.  SQLite and MariaDB."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.core.events.webhooks import Deliverer, Webhooks
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from model.predictions import FAIL_FAST_SAMPLE
from scheduler.worker import Worker
from tests.panel_helpers import login
from tests.support.models import FailingModel, wrapped_model_dir
from tests.support.receiver import start_receiver

MESSAGE = "could not convert string to float: 'Adelie'"


@pytest.fixture
def settings(engine, make_settings, model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    # MODEL_PATH: the default model behind a wrapper that raises on every row (an installation
    # whose model broke: registering MODEL_PATH is not a deploy, so nothing tried it first).
    failing = wrapped_model_dir(model_dir, tmp_path / "failing", FailingModel, "always-fails-1")
    return make_settings(engine, MODEL_PATH=str(failing), WEBHOOK_ALLOW_PRIVATE="true",
                         WEBHOOK_BACKOFF_SECONDS="1", WEBHOOK_TIMEOUT_SECONDS="2")


def test_a_model_failing_on_every_row_ends_the_job_in_error_everywhere(  # type: ignore[no-untyped-def]
        mail_settings, db, users, jobs, alice, smtp, make_csv, client) -> None:
    inbox, _ = smtp
    users.set_email(alice.id, "alice@example.org", True)
    receiver = start_receiver([200])
    hook, secret = Webhooks(db, mail_settings).create(alice, receiver.url, ["job.succeeded", "job.failed"])
    job = submit_path(mail_settings, jobs, alice.id, make_csv(300, name="pingüinos.csv"))

    worker = Worker(mail_settings, db)
    [done] = worker.drain()
    assert done.id == job.id and done.status is Status.ERROR and done.failed_by == "model"
    assert done.error_message == (f"The model failed: it could not score any of the 300 rows it was given; the first, "
                                  f"data row 1: ValueError: {MESSAGE}")
    assert done.path_result is None and not list(mail_settings.output_dir.glob("*"))
    # Fail fast: the chunk, then a sample of single rows; not one call per row.
    [(model, _)] = worker.models._entries.values()
    assert model.estimator.calls == 1 + FAIL_FAST_SAMPLE

    # The e-mail: the model failed, the file is not to blame, no result.
    [mail] = inbox.messages
    assert mail["Subject"] == "Beyond: pingüinos.csv - ERROR: the model failed"
    body = mail.get_content()
    assert "failed on your file" in body and "Your file is not to blame" in body and MESSAGE in body
    assert "ready" not in body and "does not fit" not in body

    # The webhook: job.failed, with the model's message and failed_by "model", no result link.
    Deliverer(mail_settings, db, "test-worker").run_pass()
    [request] = receiver.wait_for(1)
    payload = Verifier(secret).verify(request.body, request.headers)
    assert payload["type"] == "job.failed"
    assert payload["data"]["failed_by"] == "model"
    assert payload["data"]["job"]["status"] == "ERROR" and MESSAGE in payload["data"]["job"]["error"]
    assert payload["data"]["links"]["result"] is None and payload["data"]["links"]["result_csv"] is None
    assert hook.id

    # The job page: ERROR, the message, that the model failed; no download.
    login(client, "alice", "alice-password-1")
    page = html.unescape(client.get(f"/jobs/{job.id}").text)
    assert 'data-status="ERROR"' in page and MESSAGE in page
    assert "The model failed, not your file" in page and "Download .xlsx" not in page
