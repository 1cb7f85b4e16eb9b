"""Optional e-mails, sent by the worker when a job ends, only when the server has SMTP_HOST set:

- the completion e-mail: when a job ends (PROCESS OK or ERROR), tell its owner if they asked
  for it on their account page (`job_finished`);
- the data-quality alert (issue 11): when a job ends PROCESS OK with quality status `alert`,
  tell the model version's deployer and the QUALITY_ALERT_TO addresses (`quality_alert`).

Best effort by design: a mail server that is down or slow must never fail or delay a job for
long, so every error is logged and swallowed, and the connection has a short timeout.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from app.core.accounts.users import User, Users
from app.core.db import Database
from app.core.jobs.records import Job, Status
from app.core.logfmt import log_event
from app.core.registry.models import Registry
from app.core.settings import Settings

log = logging.getLogger("beyond.notify")
SMTP_TIMEOUT = 10  # seconds


def new_message(settings: Settings, to: list[str], subject: str) -> EmailMessage:
    """An empty message with the headers every e-mail of ours carries."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or "localhost")
    return message


def send(settings: Settings, message: EmailMessage, to: list[str] | None = None) -> dict[str, Any]:
    """Hand the message to SMTP_HOST (short timeout), for `to` (default: its To header). Raises
    on any failure, including every recipient refused; returns the recipients the server
    refused when some were accepted."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        return dict(smtp.send_message(message, to_addrs=to))


def build_message(settings: Settings, user: User, job: Job) -> EmailMessage:
    ok = job.status is Status.PROCESS_OK
    subject = f"Beyond: {job.file_name} - " + ("ERROR: the model failed" if job.failed_by == "model"
                                                else job.status.value)
    message = new_message(settings, [user.email or ""], subject)
    when = job.date_result.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S") if job.date_result else ""
    lines = [f"Hello {user.username},", ""]
    if ok:
        rows = f"{job.rows_total:,}" if job.rows_total is not None else "all"
        lines += [f"your file \"{job.file_name}\" was processed: {rows} rows, finished {when} ({settings.time_zone}).",
                  "The result (.xlsx and .csv) is ready to download in the Beyond panel, under Files."]
    elif job.failed_by == "model":
        model = f"model {job.model_name or settings.default_model}" + (f" version {job.model_version}"
                                                                       if job.model_version else "")
        lines += [f"the {model} failed on your file \"{job.file_name}\" (finished {when}, {settings.time_zone}):",
                  "no result was made. Your file is not to blame: the model itself has to be fixed or replaced",
                  "by whoever deployed it; retrying with the same model version fails the same way.",
                  f"The model's message: {job.error_message or 'unknown'}"]
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
        send(settings, build_message(settings, user, job))
        log_event(log, "notify.sent", job=job.id, user=user.username, status=job.status.value)
        return True
    except Exception as exc:  # best effort: any failure (DNS, refused, bad address) is only logged
        log_event(log, "notify.failed", logging.WARNING, job=job.id, error=f"{type(exc).__name__}: {exc}")
        return False


# -- the data-quality alert (issue 11) -----------------------------------------------------------
ALERT_STATUSES = ("alert", "warning")  # the features a quality alert lists, worst first


def model_of(settings: Settings, job: Job) -> tuple[str, str]:
    """The registered model and version that scored a finished job (jobs from before the
    registry ran with DEFAULT_MODEL; `Jobs.complete` stored the version either way)."""
    return job.model_name or settings.default_model, job.model_version or ""


def alert_recipients(settings: Settings, db: Database, job: Job) -> tuple[list[str], User | None]:
    """Who hears of a job's quality alert, and the deployer when they are among them.

    The deployer is the panel user named in the model version's `deployed_by`: whoever put
    that version in front of users is the one who can retrain or withdraw it. They are
    told only while their account is active and has an e-mail address (their completion-mail
    switch is about their own files, so it does not apply). A version deployed from the
    command line has no deployer; QUALITY_ALERT_TO covers it (and every other alert). The
    addresses are deduplicated ignoring case (the first spelling is kept): one address, one
    copy, however often it is named."""
    name, version = model_of(settings, job)
    record = Registry(db, settings).get(name, version) if version else None
    deployer = Users(db).by_name(record.deployed_by) if record is not None and record.deployed_by else None
    if deployer is not None and not (deployer.is_active and deployer.email):
        deployer = None
    seen: set[str] = set()
    addresses: list[str] = []
    for address in ([deployer.email or ""] if deployer else []) + list(settings.quality_alert_to):
        address = address.strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    return addresses, deployer


def _psi(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def build_quality_alert(settings: Settings, job: Job, report: dict[str, Any], to: list[str],
                        deployer: User | None) -> EmailMessage:
    """The plain-text alert: what was scored, how much of it is off, and which features, with
    their PSI and reasons, alert first (then by PSI, largest first)."""
    name, version = model_of(settings, job)
    message = new_message(settings, to, f"Beyond: data-quality alert for model {name} {version} ({job.file_name})")
    when = job.date_result.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S") if job.date_result else "-"
    lines = [
        "Hello,",
        "",
        f"the file \"{job.file_name}\" was scored by model {name} version {version}, but its data differ",
        "markedly from the data the model was trained on: its data-quality status is ALERT. The job",
        "ended PROCESS OK and its results can be downloaded; treat its predictions with caution.",
        "",
    ]
    facts = [
        ("Job", str(job.id)),
        ("File", job.file_name),
        ("Owner", job.owner_name or "-"),
        ("Model", f"{name}, version {version}"),
        ("Finished", f"{when} ({settings.time_zone})"),
        ("Rows", f"{int(report.get('rows', 0)):,}"),
        ("Flagged", f"{int(report.get('rows_flagged', 0)):,} rows (their row_status in the results says why)"),
        ("Not scored", f"{int(report.get('rows_not_scored', 0)):,} rows"),
    ]
    lines += [f"{label + ':':<12}{value}" for label, value in facts]
    lines += ["", "Why: " + (str(report.get("reason") or "") or "-")]
    rank = {status: i for i, status in enumerate(ALERT_STATUSES)}
    features = [f for f in report.get("features", []) if f.get("status") in rank]
    features.sort(key=lambda f: (rank[f["status"]], -(f["psi"] if isinstance(f.get("psi"), int | float) else -1.0)))
    if features:
        lines += ["", "Features in alert or warning:"]
        for feature in features:
            reasons = ", ".join(str(r) for r in feature.get("reasons") or []) or "-"
            lines.append(f"  - {feature['name']}: {feature['status']}, PSI {_psi(feature.get('psi'))} ({reasons})")
    predictions = report.get("predictions") or {}
    if predictions.get("status") in rank:
        lines.append(f"  - the model's predictions: {predictions['status']}, PSI {_psi(predictions.get('psi'))}")
    lines.append("")
    if settings.public_url:
        lines += [f"The job's page: {settings.public_url}/jobs/{job.id}",
                  f"Its quality report: {settings.public_url}/jobs/{job.id}/quality"]
    else:
        lines.append(f"The job's page and its quality report are in the Beyond panel: Files, job {job.id}.")
    why = []
    if deployer is not None:
        why.append(f"{deployer.username} deployed model {name} version {version}")
    if settings.quality_alert_to:
        why.append("the server's QUALITY_ALERT_TO setting names you")
    lines += ["", "You receive this because " + " and ".join(why or ["you are named for these alerts"]) + ".",
              "An administrator switches these e-mails off with QUALITY_ALERT_EMAIL=false."]
    message.set_content("\n".join(lines))
    return message


def quality_alert(settings: Settings, db: Database, job: Job, report: dict[str, Any]) -> bool:
    """E-mail the quality alert of a job that just ended PROCESS OK with report status `alert`
    (a `warning` is on the job's page, not worth a mail). True if sent.

    One message per run of the job, to every recipient at once (`alert_recipients`); a job
    re-run that alerts again sends again, which is what its deployer wants to know. Called
    by the worker right after `job_finished`, with the report it just made (not the stored
    copy: a report the database could not store still alerts). Never raises."""
    name, version = model_of(settings, job)
    try:
        if (not settings.smtp_host or not settings.quality_alert_email or job.status is not Status.PROCESS_OK
                or report.get("status") != "alert"):
            return False
        to, deployer = alert_recipients(settings, db, job)
        if not to:
            log_event(log, "notify.quality_alert_unsent", job=job.id, model=name, version=version,
                      reason="no recipient: no deployer with an e-mail address and QUALITY_ALERT_TO empty")
            return False
        refused = send(settings, build_quality_alert(settings, job, report, to, deployer), to)
        log_event(log, "notify.quality_alert_sent", logging.WARNING if refused else logging.INFO, job=job.id,
                  model=name, version=version, recipients=len(to) - len(refused), refused=len(refused),
                  deployer=deployer.username if deployer else "-",
                  drifted=",".join(report.get("drifted_features") or []) or "-")
        return True
    except Exception as exc:  # best effort: any failure (DNS, refused, bad address) is only logged
        log_event(log, "notify.quality_alert_failed", logging.WARNING, job=job.id, model=name, version=version,
                  error=f"{type(exc).__name__}: {exc}")
        return False
