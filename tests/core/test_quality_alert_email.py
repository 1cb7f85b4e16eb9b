"""Issue 11's quality-alert e-mail (app/core/events/notify.py `quality_alert`): the real worker runs real
jobs and a real SMTP server (aiosmtpd on 127.0.0.1) receives what it sends; on SQLite and
MariaDB. The drifted file is the default model's data with two columns multiplied by 3, far
outside what it was trained on; the clean one is resampled from its training rows."""

from __future__ import annotations

import logging
import os
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.core.jobs.quality import QualityReports
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from app.core.registry.models import Registry
from app.core.settings import SettingsError, load_settings
from scheduler.worker import Worker
from tests.conftest import Inbox, breast_cancer_frame, free_port
from tests.model.test_quality import resampled

SHIFTED = ("mean area", "worst texture")  # multiplied by 3 in the drifted file
ROWS = 800  # PSI counts from 500 values on (model/quality.py MIN_VALUES_FOR_PSI)
ALERT_SUBJECT = "Beyond: data-quality alert for model {model} {version} ({file})"


def drifted_csv(tmp_path: Path, name: str = "drifted.csv") -> Path:
    frame = breast_cancer_frame(ROWS, seed=11)
    for column in SHIFTED:
        frame[column] *= 3
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def clean_csv(tmp_path: Path, name: str = "clean.csv") -> Path:
    path = tmp_path / name
    resampled(ROWS, seed=12).to_csv(path, index=False)
    return path


def alerts(inbox: Inbox) -> list[EmailMessage]:
    return [m for m in inbox.messages if "data-quality alert" in m["Subject"]]


def run_one(settings, db):  # type: ignore[no-untyped-def]
    [done] = Worker(settings, db).drain()
    return done


def test_a_drifted_file_e_mails_the_deployer_once_naming_the_drifted_features(  # type: ignore[no-untyped-def]
        mail_settings, db, users, jobs, alice, admin, smtp, model_dir, tmp_path) -> None:
    inbox, _ = smtp
    settings = mail_settings.replace(public_url="https://beyond.example.com")
    users.set_email(admin.id, "Admin@Example.org", False)  # an address; completion e-mails off
    users.set_email(alice.id, "alice@example.org", True)   # the owner wants her completion e-mail
    Registry(db, settings).deploy(model_dir, "tumours", version="v2", activate=True, deployed_by="admin")
    job = submit_path(settings, jobs, alice.id, drifted_csv(tmp_path), model="tumours")

    done = run_one(settings, db)
    assert done.id == job.id and done.status is Status.PROCESS_OK
    report = QualityReports(db).report(done)
    assert report is not None and report["status"] == "alert"
    assert set(SHIFTED) <= set(report["drifted_features"])

    # The owner's completion e-mail and exactly one alert, to the deployer only.
    assert sorted(m["Subject"] for m in inbox.messages) == sorted([
        "Beyond: drifted.csv - PROCESS OK", ALERT_SUBJECT.format(model="tumours", version="v2", file="drifted.csv")])
    [alert] = alerts(inbox)
    assert ("beyond@example.org", ["Admin@Example.org"]) in inbox.envelopes
    assert alert["To"] == "Admin@Example.org" and alert["From"] == "beyond@example.org"
    body = alert.get_content().replace("\r\n", "\n")
    assert f"Job:        {job.id}\n" in body and "File:       drifted.csv\n" in body
    assert "Owner:      alice\n" in body and "Model:      tumours, version v2\n" in body
    assert f"Rows:       {ROWS:,}\n" in body
    assert f"Flagged:    {report['rows_flagged']:,} rows" in body and report["rows_flagged"] > 0
    assert "Not scored: 0 rows" in body
    assert "Why: " + report["reason"] in body
    listed = re.findall(r"^  - (.+?): (alert|warning), PSI ([0-9.]+|n/a) \((.*)\)$", body, flags=re.MULTILINE)
    assert [name for name, *_ in listed if name != "the model's predictions"] == [
        f["name"] for f in sorted((f for f in report["features"] if f["status"] in ("alert", "warning")),
                                  key=lambda f: (f["status"] != "alert", -(f["psi"] or -1.0)))]
    by_name = {f["name"]: f for f in report["features"]}
    for name, status, psi, reasons in listed:
        assert status == by_name[name]["status"] and psi == f"{by_name[name]['psi']:.3f}"
        assert reasons == ", ".join(by_name[name]["reasons"])
    for name in SHIFTED:
        assert by_name[name]["status"] == "alert" and f"  - {name}: alert, PSI {by_name[name]['psi']:.3f}" in body
    assert "  - mean radius:" not in body and by_name["mean radius"]["status"] == "ok"
    assert f"https://beyond.example.com/jobs/{job.id}\n" in body
    assert f"https://beyond.example.com/jobs/{job.id}/quality" in body
    assert "admin deployed model tumours version v2" in body and "QUALITY_ALERT_EMAIL=false" in body

    # A forced re-run that alerts again sends again: one alert per run, never more.
    rerun = Worker(settings, db).run_job(job.id, force=True)
    assert rerun is not None and rerun.status is Status.PROCESS_OK
    assert [m["Subject"] for m in alerts(inbox)] == [alert["Subject"]] * 2


def test_a_clean_file_sends_no_alert(mail_settings, db, users, jobs, alice, admin, smtp, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(admin.id, "admin@example.org", False)
    users.set_email(alice.id, "alice@example.org", True)
    Registry(db, mail_settings).deploy(model_dir, "tumours", version="v2", activate=True, deployed_by="admin")
    settings = mail_settings.replace(quality_alert_to=("ops@example.org",))
    submit_path(settings, jobs, alice.id, clean_csv(tmp_path), model="tumours")
    done = run_one(settings, db)
    assert done.status is Status.PROCESS_OK
    assert QualityReports(db).summary(done).status == "ok"  # type: ignore[union-attr]
    assert [m["Subject"] for m in inbox.messages] == ["Beyond: clean.csv - PROCESS OK"]  # the completion mail only


def test_an_optional_column_left_out_sends_no_alert_and_no_webhook(  # type: ignore[no-untyped-def]
        mail_settings, db, users, jobs, alice, admin, smtp, tmp_path) -> None:
    """The README's churn example with its optional column left out: before, "missing 100%"
    made every such upload an alert, an e-mail to the deployer and a job.quality_alert event."""
    import numpy as np

    from app.core.events.webhooks import Webhooks
    from model.artifact import build_schema, save_model
    from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline
    from tests.support.sql import raw

    inbox, _ = smtp
    settings = mail_settings.replace(webhook_allow_private=True, quality_alert_to=("ops@example.org",))
    users.set_email(admin.id, "admin@example.org", False)
    train = churn_frame(ROWS, seed=1)
    X = train[FEATURES]
    pipeline = churn_pipeline().fit(X, np.where(X["plan"].eq("gold"), "stays", "churns"))
    directory = save_model(pipeline, build_schema(pipeline, X, "churn-1", optional=["discount"]), tmp_path / "m")
    Registry(db, settings).deploy(directory, "churn", activate=True, deployed_by="admin")
    Webhooks(db, settings).create(alice, "http://127.0.0.1:9/hook", ["job.quality_alert"])
    source = tmp_path / "customers.csv"
    train.drop(columns=["discount"]).to_csv(source, index=False)
    submit_path(settings, jobs, alice.id, source, model="churn")

    done = run_one(settings, db)
    assert done.status is Status.PROCESS_OK, done.error_message
    report = QualityReports(db).report(done)
    assert report is not None and report["status"] == "ok", report and report["reason"]
    assert [f["reasons"] for f in report["features"] if f["name"] == "discount"] == [
        ["not sent (an optional column the file does not have)"]]
    assert alerts(inbox) == []
    assert raw(db, "SELECT * FROM webhook_deliveries") == []


def test_switched_off_no_alert(mail_settings, db, users, jobs, alice, admin, smtp, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    users.set_email(admin.id, "admin@example.org", False)
    Registry(db, mail_settings).deploy(model_dir, "tumours", version="v2", activate=True, deployed_by="admin")
    off = mail_settings.replace(quality_alert_email=False, quality_alert_to=("ops@example.org",))
    submit_path(off, jobs, alice.id, drifted_csv(tmp_path), model="tumours")
    done = run_one(off, db)
    assert done.status is Status.PROCESS_OK and QualityReports(db).summary(done).status == "alert"  # type: ignore[union-attr]
    assert inbox.messages == []
    # Nor without SMTP_HOST, the feature on.
    submit_path(off, jobs, alice.id, drifted_csv(tmp_path, "again.csv"), model="tumours")
    done = run_one(mail_settings.replace(smtp_host=""), db)
    assert done.status is Status.PROCESS_OK and QualityReports(db).summary(done).status == "alert"  # type: ignore[union-attr]
    assert inbox.messages == []


def test_a_cli_deployed_model_alerts_quality_alert_to(  # type: ignore[no-untyped-def]
        mail_settings, db, users, jobs, alice, admin, smtp, model_dir, tmp_path, caplog) -> None:
    inbox, _ = smtp
    users.set_email(admin.id, "admin@example.org", False)  # an administrator, but not the deployer
    # As `python -m app deploy-model` registers it: no panel user, deployed_by NULL.
    record = Registry(db, mail_settings).deploy(model_dir, "tumours", version="cli-1", activate=True)
    assert record.deployed_by is None

    # Nobody to tell: nothing sent, and the log says why.
    submit_path(mail_settings, jobs, alice.id, drifted_csv(tmp_path, "first.csv"), model="tumours")
    with caplog.at_level(logging.INFO, logger="beyond.notify"):
        first = run_one(mail_settings, db)
    assert first.status is Status.PROCESS_OK and inbox.messages == []
    assert f"event=notify.quality_alert_unsent job={first.id} model=tumours version=cli-1" in caplog.text

    # QUALITY_ALERT_TO, as an operator writes it (spaces, one address twice in other case).
    settings = load_settings(os.devnull, environ={}, overrides={
        "SECRET_KEY": "s" * 32, "QUALITY_ALERT_TO": " ops@example.org, Ops@EXAMPLE.org ,models@example.net"})
    assert settings.quality_alert_to == ("ops@example.org", "Ops@EXAMPLE.org", "models@example.net")
    settings = mail_settings.replace(quality_alert_to=settings.quality_alert_to)
    job = submit_path(settings, jobs, alice.id, drifted_csv(tmp_path, "second.csv"), model="tumours")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="beyond.notify"):
        done = run_one(settings, db)
    assert done.id == job.id and done.status is Status.PROCESS_OK
    [alert] = alerts(inbox)
    assert inbox.envelopes == [("beyond@example.org", ["ops@example.org", "models@example.net"])]
    assert alert["Subject"] == "Beyond: data-quality alert for model tumours cli-1 (second.csv)"
    assert alert["To"] == "ops@example.org, models@example.net"
    body = alert.get_content().replace("\r\n", "\n")
    assert "Model:      tumours, version cli-1\n" in body and "Owner:      alice\n" in body
    for name in SHIFTED:
        assert f"  - {name}: alert, PSI " in body
    assert f"Files, job {job.id}." in body and "https://" not in body  # no PUBLIC_URL: no link
    assert "the server's QUALITY_ALERT_TO setting names you" in body and "deployed model" not in body
    assert (f"event=notify.quality_alert_sent job={job.id} model=tumours version=cli-1 recipients=2 refused=0 "
            "deployer=- drifted=") in caplog.text


def test_deployer_and_quality_alert_to_deduplicated_and_an_inactive_deployer_skipped(  # type: ignore[no-untyped-def]
        mail_settings, db, users, jobs, alice, admin, smtp, model_dir, tmp_path) -> None:
    inbox, _ = smtp
    users.set_email(admin.id, "admin@example.org", False)
    Registry(db, mail_settings).deploy(model_dir, "tumours", version="v2", activate=True, deployed_by="admin")
    settings = mail_settings.replace(quality_alert_to=("ADMIN@example.org", "ops@example.org"))
    submit_path(settings, jobs, alice.id, drifted_csv(tmp_path, "one.csv"), model="tumours")
    run_one(settings, db)
    assert inbox.envelopes == [("beyond@example.org", ["admin@example.org", "ops@example.org"])]
    body = alerts(inbox)[0].get_content().replace("\r\n", "\n")
    assert "admin deployed model tumours version v2 and the server's QUALITY_ALERT_TO setting names you" in body

    users.set_active(admin.id, False)
    submit_path(settings, jobs, alice.id, drifted_csv(tmp_path, "two.csv"), model="tumours")
    run_one(settings, db)
    assert inbox.envelopes[1] == ("beyond@example.org", ["ADMIN@example.org", "ops@example.org"])


def test_a_dead_mail_server_never_fails_the_job(settings, db, users, jobs, alice, admin, model_dir, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    users.set_email(admin.id, "admin@example.org", False)
    Registry(db, settings).deploy(model_dir, "tumours", version="v2", activate=True, deployed_by="admin")
    nobody = settings.replace(smtp_host="127.0.0.1", smtp_port=free_port(), quality_alert_to=("ops@example.org",))
    job = submit_path(nobody, jobs, alice.id, drifted_csv(tmp_path), model="tumours")
    with caplog.at_level(logging.INFO, logger="beyond.notify"):
        done = run_one(nobody, db)
    assert done.id == job.id and done.status is Status.PROCESS_OK
    assert QualityReports(db).summary(done).status == "alert"  # type: ignore[union-attr]
    failed = [r for r in caplog.records if "event=notify.quality_alert_failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING
    assert (f'job={job.id} model=tumours version=v2 error="ConnectionRefusedError: ' in failed[0].getMessage())
    assert "notify.quality_alert_sent" not in caplog.text


@pytest.mark.parametrize("value", ["ops@example.org, not-an-address", "Ops <ops@example.org>", "a b@example.org",
                                   "ops@example.org;dev@example.org", "@example.org"])
def test_a_bad_quality_alert_to_is_a_settings_error_naming_the_key(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.properties"
    config.write_text(f"SECRET_KEY={'k' * 20}\nQUALITY_ALERT_TO={value}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(config, environ={})
    assert str(caught.value).startswith("QUALITY_ALERT_TO=") and "is not an e-mail address" in str(caught.value)
    with pytest.raises(SettingsError, match=r"^QUALITY_ALERT_TO=.* from environment variable BEYOND_QUALITY_ALERT_TO"):
        load_settings(os.devnull, environ={"BEYOND_QUALITY_ALERT_TO": value, "BEYOND_SECRET_KEY": "k" * 20})


def test_worker_processes_get_the_same_alert_settings(make_settings) -> None:  # type: ignore[no-untyped-def]
    # The supervisor hands its workers every setting as BEYOND_<KEY>; the lists must survive.
    from app.web.supervisor import worker_environment

    for to in ("", "ops@example.org", "ops@example.org, Models@Example.net"):
        settings = make_settings(QUALITY_ALERT_TO=to, QUALITY_ALERT_EMAIL="off", SMTP_HOST="mail.example.org")
        env = worker_environment(settings)
        assert load_settings(environ=env) == settings
        assert env["BEYOND_QUALITY_ALERT_EMAIL"] == "false"


def test_quality_alert_email_is_on_by_default_and_takes_the_boolean_words(tmp_path: Path) -> None:
    base = {"SECRET_KEY": "k" * 20}
    defaults = load_settings(os.devnull, environ={}, overrides=base)
    assert defaults.quality_alert_email is True and defaults.quality_alert_to == ()
    assert load_settings(os.devnull, environ={}, overrides={**base, "QUALITY_ALERT_EMAIL": "off"}).quality_alert_email is False
    with pytest.raises(SettingsError, match=r"^QUALITY_ALERT_EMAIL='maybe' .* must be true or false"):
        load_settings(os.devnull, environ={}, overrides={**base, "QUALITY_ALERT_EMAIL": "maybe"})
