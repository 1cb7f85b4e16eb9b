"""MAX_BAD_ROWS_PERCENT on SQLite and MariaDB: a file whose only problems are cells that do not
fit their column, in at most that share of its rows, is accepted with warnings (API and panel);
the job ends PROCESS OK with exactly those rows unscored and flagged, every other prediction as
in a clean run.  Above the share, at 0, and for structural problems the file is refused."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from app.core.errors import FileRejected
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.submissions import Upload, accept_upload
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame
from tests.panel_helpers import flashes_of, login

ROWS = 1000
# (data row position, column) of the bad cells: five rows, different columns and kinds.
BAD = [(3, "mean radius", "abc"), (250, "mean area", "12,5 cm"), (251, "worst texture", "n.a."),
       (600, "mean smoothness", "inf"), (999, "area error", "#VALUE!")]


def files(tmp_path: Path, bad_rows: int = 0) -> tuple[bytes, bytes]:
    """(clean CSV, the same with the BAD cells, plus `bad_rows` more rows with text in 'mean
    texture' when asked)."""
    frame = breast_cancer_frame(ROWS, seed=11)
    clean = frame.to_csv(index=False).encode()
    broken = frame.astype(object)
    for row, column, text in BAD:
        broken.loc[row, column] = text
    for row in range(10, 10 + bad_rows):
        broken.loc[row, "mean texture"] = "high"
    return clean, broken.to_csv(index=False).encode()


def expected_status(column: str, text: str) -> str:
    what = "is not a finite number" if text == "inf" else "is not a number"
    return f"not scored: '{text}' {what} in column '{column}'"


def run(settings, db, job_id: int):  # type: ignore[no-untyped-def]
    worker = Worker(settings, db)
    return worker.run_claim(worker.claim(job_id))


def results(settings, job) -> tuple[pd.DataFrame, list[tuple]]:  # type: ignore[no-untyped-def]
    """The CSV result (as text) and the workbook's data rows."""
    assert job.path_result and job.path_result_csv, job
    table = pd.read_csv(settings.output_dir / job.path_result_csv, dtype=str, keep_default_na=False)
    book = openpyxl.load_workbook(settings.output_dir / job.path_result, read_only=True)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    book.close()
    return table, rows


def test_few_bad_rows_are_accepted_unscored_and_flagged(api_client, settings, db, alice, bearer) -> None:  # type: ignore[no-untyped-def]
    assert settings.max_bad_rows_percent == 1.0  # the default
    clean, broken = files(Path())
    headers = bearer(alice)
    created = api_client.post("/api/jobs", headers=headers, files={"file": ("bad.csv", broken, "text/csv")})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["rows_not_scored_expected"] == 5 and body["total_warnings"] == 5
    assert [(w["row"], w["column"]) for w in body["warnings"]] == [(r + 2, c) for r, c, _ in BAD]
    assert body["warnings"][0]["message"] == "Row 5, column 'mean radius': 'abc' is not a number."
    assert body["warnings"][1]["message"] == "Row 252, column 'mean area': '12,5 cm' is not a number."
    reference = api_client.post("/api/jobs", headers=headers, files={"file": ("clean.csv", clean, "text/csv")})
    assert reference.status_code == 201 and reference.json()["warnings"] == []
    assert reference.json()["rows_not_scored_expected"] == 0

    job = run(settings, db, body["id"])
    assert job.status.value == "PROCESS OK", job.error_message
    good = run(settings, db, reference.json()["id"])
    assert good.status.value == "PROCESS OK", good.error_message

    table, rows = results(settings, job)
    clean_table, clean_rows = results(settings, good)
    bad_at = {r: expected_status(c, t) for r, c, t in BAD}
    assert len(table) == ROWS
    for i in range(ROWS):
        if i in bad_at:
            assert table.loc[i, "prediction"] == "" and table.loc[i, "probability"] == ""
            assert table.loc[i, "row_status"] == bad_at[i]
        else:
            assert table.loc[i, "prediction"] == clean_table.loc[i, "prediction"]
            assert table.loc[i, "probability"] == clean_table.loc[i, "probability"]
            assert table.loc[i, "row_status"] == clean_table.loc[i, "row_status"]
    header = list(rows[0])
    at = {name: header.index(name) for name in ("prediction", "probability", "row_status")}
    for i in range(ROWS):
        row, clean_row = rows[i + 1], clean_rows[i + 1]
        if i in bad_at:
            assert row[at["prediction"]] in (None, "") and row[at["probability"]] is None
            assert row[at["row_status"]] == bad_at[i]
        else:
            assert row[at["prediction"]] == clean_row[at["prediction"]]
            assert row[at["probability"]] == clean_row[at["probability"]]
    report = api_client.get(f"/api/jobs/{job.id}/quality", headers=headers).json()
    assert report["rows_not_scored"] == 5 and report["rows"] == ROWS


def test_too_many_bad_rows_zero_threshold_and_missing_columns_are_refused(settings, db, jobs, alice,  # type: ignore[no-untyped-def]
                                                                          tmp_path) -> None:
    clean, broken = files(tmp_path)
    _, too_many = files(tmp_path, bad_rows=15)  # 20 rows of 1,000: 2%

    def submit(content: bytes, percent: float) -> None:
        part = settings.input_dir / f".{percent}-{len(content)}.part"
        settings.input_dir.mkdir(parents=True, exist_ok=True)
        part.write_bytes(content)
        accept_upload(dataclasses.replace(settings, max_bad_rows_percent=percent), jobs, alice.id,
                      Upload(part, "p.csv", len(content)))

    with pytest.raises(FileRejected) as refused:
        submit(too_many, 1.0)
    assert refused.value.extra["total_errors"] == 20
    assert "20 of 1,000 rows (2.0%)" in refused.value.message and "at most 1%" in refused.value.message
    assert refused.value.extra["errors"][0]["message"] == "Row 5, column 'mean radius': 'abc' is not a number."
    submit(too_many, 2.0)  # exactly 2% is within 2%

    with pytest.raises(FileRejected) as refused:
        submit(broken, 0.0)
    assert refused.value.extra["total_errors"] == 5 and "rows may be left" not in refused.value.message

    frame = pd.read_csv(io.BytesIO(broken), dtype=str, keep_default_na=False).drop(columns=["mean radius"])
    for percent in (1.0, 100.0):
        with pytest.raises(FileRejected) as refused:
            submit(frame.to_csv(index=False).encode(), percent)
        assert any(e["message"] == "Missing column 'mean radius'." for e in refused.value.extra["errors"])
    assert len(JobList(jobs.db).page(JobFilter(owner_id=None))) == 1  # only the 2% file at 2%
    shutil.rmtree(settings.input_dir, ignore_errors=True)


def test_the_panel_warns_on_both_upload_paths(client, alice) -> None:  # type: ignore[no-untyped-def]
    _, broken = files(Path())
    csrf = login(client, "alice", "alice-password-1")
    answer = client.post("/jobs/upload", data={"csrf_token": csrf}, headers={"Accept": "application/json"},
                         files={"file": ("bad.csv", broken, "text/csv")})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["ok"] and body["rows_not_scored_expected"] == 5 and len(body["warnings"]) == 5
    assert body["warning"].startswith("5 rows of “bad.csv” will not be scored")
    assert "Row 5, column 'mean radius': 'abc' is not a number" in body["warning"]
    page = client.get("/jobs").text  # the script reloads the page: the flashes show there
    shown = flashes_of(page)
    assert any("accepted (1,000 rows" in f for f in shown)
    assert any(f.startswith("5 rows of “bad.csv” will not be scored") and "Row 1,001, column 'area error'" in f
               for f in shown)
    assert 'class="flash flash-warning"' in page

    posted = client.post("/jobs/upload", data={"csrf_token": csrf}, files={"file": ("b2.csv", broken, "text/csv")},
                         follow_redirects=False)
    assert posted.status_code == 303
    shown = flashes_of(client.get("/jobs").text)
    assert any(f.startswith("5 rows of “b2.csv” will not be scored") for f in shown)
