"""Optional completion e-mail: when a job ends (PROCESS OK or ERROR), tell its owner if they
asked for it on their account page and the server has SMTP_HOST set.

Best effort by design: a mail server that is down or slow must never fail or delay a job for
long, so every error is logged and swallowed, and the connection has a short timeout.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from app.core.db import Database
from app.core.jobs import Job, Status
from app.core.logfmt import log_event
from app.core.settings import Settings
from app.core.users import User, Users

log = logging.getLogger("beyond.notify")
SMTP_TIMEOUT = 10  # seconds


def build_message(settings: Settings, user: User, job: Job) -> EmailMessage:
    ok = job.status is Status.PROCESS_OK
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = user.email or ""
    message["Subject"] = f"Beyond: {job.file_name} - {job.status.value}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or "localhost")
    when = job.date_result.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S") if job.date_result else ""
    lines = [f"Hello {user.username},", ""]
    if ok:
        rows = f"{job.rows_total:,}" if job.rows_total is not None else "all"
        lines += [f"your file \"{job.file_name}\" was processed: {rows} rows, finished {when} ({settings.time_zone}).",
                  "The result (.xlsx and .csv) is ready to download in the Beyond panel, under Files."]
    else:
        lines += [f"your file \"{job.file_name}\" could not be processed (finished {when}, {settings.time_zone}).",
                  f"The reason: {job.error_message or 'unknown'}",
                  "You can retry it from the Beyond panel, under Files."]
    lines += ["", "You receive this because completion e-mails are switched on in your Beyond account;",
              "switch them off on the account page."]
    message.set_content("\n".join(lines))
    return message


def job_finished(settings: Settings, db: Database, job: Job) -> bool:
    """Send the completion e-mail for a job that just ended, if wanted. True if sent.
    Never raises: the job's outcome is already stored and must not depend on mail."""
    try:
        if not settings.smtp_host or job.status not in (Status.PROCESS_OK, Status.ERROR):
            return False
        user = Users(db).by_id(job.owner_id)
        if user is None or not user.is_active or not user.notify_email or not user.email:
            return False
        message = build_message(settings, user, job)
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            smtp.send_message(message)
        log_event(log, "notify.sent", job=job.id, user=user.username, status=job.status.value)
        return True
    except Exception as exc:  # best effort: any failure (DNS, refused, bad address) is only logged
        log_event(log, "notify.failed", logging.WARNING, job=job.id, error=f"{type(exc).__name__}: {exc}")
        return False
