"""The worker trusts the upload's check (issue 15, migration 012): an accepted upload stores what
the check learned about the stored file (its SHA-256, the model's, CsvReport.trusted_json());
a real worker runs the job on that report without scanning the file again (job.input_trusted),
with results byte for byte those of a re-checked run, for plain CSV, bad cells and workbooks.
A file changed on disk after the upload, or a job from before the migration, is checked again
(job.input_rechecked) and ends as that check says. SQLite and MariaDB."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from app.core.jobs.inputs import FILE_CHANGED, UploadInputs, file_sha256
from app.core.jobs.submissions import Upload, accept_upload
from model.inputs.reader import cell_problems
from model.inputs.report import CsvReport
from model.inputs.scan import inspect_csv
from model.schema import FeatureSpec
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame
from tests.model.test_bad_rows import BAD, expected_status
from tests.support.procs import events
from tests.support.reading import job_frame, text_chunks

WORKBOOKS = Path(__file__).parent.parent / "data" / "workbooks"
TYPED = [FeatureSpec("age", "integer"), FeatureSpec("charges", "number"), FeatureSpec("autopay", "boolean"),
         FeatureSpec("signup", "datetime", format="%Y-%m-%d"),
         FeatureSpec("plan", "category", categories=("gold", "silver")), FeatureSpec("note", "text", required=False)]


# -- the stored report ------------------------------------------------------------------------------
def test_trusted_json_round_trips_what_reading_needs(tmp_path: Path) -> None:
    """A cp1252 file with ';' and decimal commas, an extra column, a bad cell, an unseen category."""
    path = tmp_path / "typed.csv"
    path.write_bytes("id;Age;charges;autopay;signup;plan;Größe\n"
                     "a;31;12,5;yes;2021-01-02;gold;x\n"
                     "b;abc;1.25;no;2021-01-03;bronze;y\n"
                     "c;33;;true;2021-01-04;silver;z\n".encode("cp1252"))
    report = inspect_csv(path, TYPED)
    assert report.cell_problems == 1 and report.bad_rows == 1 and report.unseen_categories == {"plan": 1}
    back = CsvReport.from_trusted_json(report.trusted_json())
    assert back.format == report.format and back.format is not None and back.format.decimal == ","
    for name in ("ok", "total_problems", "header", "feature_columns", "rows", "unseen_categories",
                 "cell_problems", "bad_rows", "readable"):
        assert getattr(back, name) == getattr(report, name), name
    assert back.problems == [] and back.acceptable(50.0) and not back.acceptable(0.0)
    assert back.trusted_json() == report.trusted_json()
    # Read with either report, the file gives the same values and the same bad cells.
    for chunk, same in zip(text_chunks(path, report), text_chunks(path, back), strict=True):
        pd.testing.assert_frame_equal(chunk, same)
        assert cell_problems(chunk, report, TYPED) == cell_problems(same, back, TYPED)
    pd.testing.assert_frame_equal(job_frame(path, report, TYPED), job_frame(path, back, TYPED))

    for stored in ("", "[]", '{"version": 2}', report.trusted_json().replace('"rows"', '"r"')):
        with pytest.raises(ValueError):
            CsvReport.from_trusted_json(stored)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01")
    with pytest.raises(ValueError):  # nothing to read: never accepted, never stored
        inspect_csv(binary, TYPED).trusted_json()


# -- through a real worker, on both engines ---------------------------------------------------------
def upload(settings, jobs, owner_id: int, content: bytes, name: str = "p.csv"):  # type: ignore[no-untyped-def]
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    part = settings.input_dir / f".{name}-{len(content)}.part"
    part.write_bytes(content)
    return accept_upload(settings, jobs, owner_id, Upload(part, name, len(content))).job


def run(settings, db, job_id: int, caplog, force: bool = False):  # type: ignore[no-untyped-def]
    """A real worker run of one job; the job as it ended and its job.input_* event."""
    caplog.clear()
    worker = Worker(settings, db)
    claim = worker.claim(job_id, force=force)
    assert claim is not None
    job = worker.run_claim(claim)
    [event] = events("\n".join(caplog.messages), "job.input_")
    return job, event


def forget_check(db, job_id: int, delete: bool = False) -> None:  # type: ignore[no-untyped-def]
    """As a job accepted before migration 012: no job_inputs row, or its check columns NULL."""
    with db.transaction() as tx:
        tx.conn.cursor().execute(
            f"DELETE FROM job_inputs WHERE job_id = {int(job_id)}" if delete else
            "UPDATE job_inputs SET checked_sha256 = NULL, checked_model_sha256 = NULL, checked_report = NULL "
            f"WHERE job_id = {int(job_id)}")


def csv_result(settings, job) -> bytes:  # type: ignore[no-untyped-def]
    """The CSV result, its row_ids ("<job id>-<row>") with the job's id made "JOB", so two
    jobs of one file compare equal when their rows are."""
    assert job.status.value == "PROCESS OK", job.error_message
    header, *lines = (settings.output_dir / job.path_result_csv).read_bytes().split(b"\r\n")
    assert header.startswith(b"\xef\xbb\xbfrow_id,") and lines[-1] == b""
    prefix = f"{job.id}-".encode()
    assert all(line.startswith(prefix) for line in lines[:-1])
    return b"\r\n".join([header, *(b"JOB-" + line[len(prefix):] for line in lines[:-1]), b""])


@pytest.fixture
def worker_log(caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="beyond.worker")
    return caplog


def test_accepted_upload_runs_on_its_checked_report(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    content = breast_cancer_frame(300, seed=3).to_csv(index=False).encode()
    job = upload(settings, jobs, alice.id, content)
    stored = settings.input_dir / job.path_up
    checked = UploadInputs(db).checked(job.id)
    assert checked is not None
    # A plain CSV is stored as uploaded: its hash is the upload's (the duplicate warning's).
    assert checked.sha256 == file_sha256(stored) == UploadInputs(db).get(job.id).sha256  # type: ignore[union-attr]
    assert checked.model_sha256 == job.model_sha256
    assert checked.report == inspect_csv(stored, Worker(settings, db).model_for(job).feature_specs).trusted_json()

    done, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_trusted" and event["rows"] == "300" and event["job"] == str(job.id)
    assert done.rows_done == 300
    # The same file as a job from before migration 012: checked again, the same result.
    again = upload(settings, jobs, alice.id, content)
    forget_check(db, again.id)
    assert UploadInputs(db).checked(again.id) is None
    redone, event = run(settings, db, again.id, worker_log)
    assert event["event"] == "job.input_rechecked" and event["reason"] == "no checked report"
    assert csv_result(settings, done) == csv_result(settings, redone)
    # ... and one with no job_inputs row at all still runs.
    oldest = upload(settings, jobs, alice.id, content)
    forget_check(db, oldest.id, delete=True)
    ran, event = run(settings, db, oldest.id, worker_log)
    assert event["event"] == "job.input_rechecked" and csv_result(settings, ran) == csv_result(settings, done)


def test_bad_cells_get_their_row_status_on_trust(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    frame = breast_cancer_frame(1000, seed=11).astype(object)
    for row, column, text in BAD:
        frame.loc[row, column] = text
    content = frame.to_csv(index=False).encode()
    job = upload(settings, jobs, alice.id, content)
    done, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_trusted"
    table = pd.read_csv(settings.output_dir / done.path_result_csv, dtype=str, keep_default_na=False)
    statuses = {i: s for i, s in enumerate(table["row_status"]) if s.startswith("not scored")}
    assert statuses == {r: expected_status(c, t) for r, c, t in BAD}
    assert all(table.loc[r, "prediction"] == "" for r, _, _ in BAD)
    rechecked = upload(settings, jobs, alice.id, content)
    forget_check(db, rechecked.id)
    redone, event = run(settings, db, rechecked.id, worker_log)
    assert event["event"] == "job.input_rechecked"
    assert csv_result(settings, done) == csv_result(settings, redone)


def test_workbook_upload_is_trusted(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    content = (WORKBOOKS / "patients-libreoffice.ods").read_bytes()
    job = upload(settings, jobs, alice.id, content, "patients.ods")
    checked = UploadInputs(db).checked(job.id)
    info = UploadInputs(db).get(job.id)
    assert checked is not None and info is not None and info.input_format == "ods"
    # The hash of the canonical CSV the worker reads, not of the workbook sent.
    assert checked.sha256 == file_sha256(settings.input_dir / job.path_up) != info.sha256
    done, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_trusted" and done.rows_done == 40
    again = upload(settings, jobs, alice.id, content, "patients.ods")
    forget_check(db, again.id)
    redone, event = run(settings, db, again.id, worker_log)
    assert event["event"] == "job.input_rechecked"
    assert csv_result(settings, done) == csv_result(settings, redone)


def test_titled_csv_is_trusted_on_its_canonical_file(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    content = b"Patients, March\n\n" + breast_cancer_frame(50, seed=5).to_csv(index=False).encode()
    job = upload(settings, jobs, alice.id, content)
    checked = UploadInputs(db).checked(job.id)
    assert checked is not None and checked.sha256 == file_sha256(settings.input_dir / job.path_up)
    assert checked.sha256 != UploadInputs(db).get(job.id).sha256  # type: ignore[union-attr]
    done, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_trusted" and done.rows_done == 50


def test_a_file_changed_after_upload_is_checked_again(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    frame = breast_cancer_frame(200, seed=7)
    job = upload(settings, jobs, alice.id, frame.to_csv(index=False).encode())
    stored = settings.input_dir / job.path_up
    first, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_trusted" and first.rows_done == 200
    first_result = csv_result(settings, first)  # a forced re-run replaces it

    # Rows appended on disk: the forced re-run (same path) checks the file and scores them all.
    more = breast_cancer_frame(30, seed=8)
    more["patient_id"] = [f"Q{i:06d}" for i in range(30)]
    with open(stored, "a", newline="") as f:
        more.to_csv(f, index=False, header=False)
    rerun, event = run(settings, db, job.id, worker_log, force=True)
    assert event["event"] == "job.input_rechecked" and event["reason"] == FILE_CHANGED
    assert rerun.status.value == "PROCESS OK" and rerun.rows_done == 230, rerun.error_message
    table = pd.read_csv(settings.output_dir / rerun.path_result_csv, dtype=str, keep_default_na=False)
    assert len(table) == 230 and table["patient_id"].iloc[-1] == "Q000029" and table["prediction"].iloc[-1] != ""

    # Text in a number column in more rows than MAX_BAD_ROWS_PERCENT (1%) allows: the changed
    # file is not what was accepted, so the setting applies as at upload: ERROR naming the cell.
    broken = frame.astype(object)
    for row in range(3, 13):  # 10 of 200 rows: 5%
        broken.loc[row, "mean radius"] = "abc"
    broken.to_csv(stored, index=False)
    failed, event = run(settings, db, job.id, worker_log, force=True)
    assert event["event"] == "job.input_rechecked" and event["reason"] == FILE_CHANGED
    assert failed.status.value == "ERROR"
    assert "Row 5, column 'mean radius': 'abc' is not a number." in (failed.error_message or "")

    # Within the limit (1 row of 200), the re-check accepts it and the row gets its status.
    one_bad = frame.astype(object)
    one_bad.loc[3, "mean radius"] = "abc"
    one_bad.to_csv(stored, index=False)
    ok, event = run(settings, db, job.id, worker_log, force=True)
    assert event["event"] == "job.input_rechecked" and ok.status.value == "PROCESS OK", ok.error_message
    table = pd.read_csv(settings.output_dir / ok.path_result_csv, dtype=str, keep_default_na=False)
    assert table.loc[3, "row_status"] == expected_status("mean radius", "abc")

    # Put back as uploaded: trusted again.
    frame.to_csv(stored, index=False)
    back, event = run(settings, db, job.id, worker_log, force=True)
    assert event["event"] == "job.input_trusted" and csv_result(settings, back) == first_result


def test_a_job_checked_against_another_model_is_checked_again(settings, db, jobs, alice, worker_log) -> None:  # type: ignore[no-untyped-def]
    job = upload(settings, jobs, alice.id, breast_cancer_frame(20, seed=1).to_csv(index=False).encode())
    with db.transaction() as tx:
        tx.conn.cursor().execute(f"UPDATE job_inputs SET checked_model_sha256 = '{'0' * 64}' WHERE job_id = {job.id}")
    done, event = run(settings, db, job.id, worker_log)
    assert event["event"] == "job.input_rechecked" and event["reason"] == "checked against another model"
    assert done.status.value == "PROCESS OK" and done.rows_done == 20
