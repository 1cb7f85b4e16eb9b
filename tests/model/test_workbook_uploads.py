"""Workbook (.xlsx, .xlsm, .ods) and Parquet uploads: converted at upload to the canonical CSV,
checked with the same rules and messages (naming the sheet and the row as the spreadsheet
numbers it), run by a real worker, the original kept for download; the duplicate warning.

Real files: LibreOffice-saved .xlsx/.ods/.xlsm/.xls and an Excel-encrypted workbook in
tests/data/workbooks/ (make_workbooks.py made them), openpyxl workbooks with a title row,
formulas, dates, merged and hidden cells built here, Parquet files written by pyarrow.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.inputs.isolated import convert_isolated
from model.inputs.scan import inspect_csv
from model.inputs.workbook import MAX_ROWS, Limits, convert
from model.schema import FeatureSpec
from tests.conftest import breast_cancer_frame
from tests.hostile_cases import FEATURES
from tests.model import test_hostile_input as hostile
from tests.model.test_hostile_input import assert_nothing_stored, drain
from tests.support import bombs
from tests.support.reading import job_frame

# The panel and API entrances of the hostile-input tests (fixtures), on both engines.
entrance, open_entrance = hostile.entrance, hostile.open_entrance

WORKBOOKS = Path(__file__).parent.parent / "data" / "workbooks"
TYPED = [FeatureSpec("age", "integer"), FeatureSpec("charges", "number"), FeatureSpec("autopay", "boolean"),
         FeatureSpec("signup", "datetime", format="%Y-%m-%d"),
         FeatureSpec("plan", "category", categories=("gold", "silver")), FeatureSpec("note", "text", required=False)]


def typed_workbook(path: Path, bad: bool = False) -> Path:
    """An Excel-style report: a merged title row, a blank row, the header on row 3, typed cells,
    a formula column, a hidden row, a second sheet before it that lacks the columns."""
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["This workbook holds the March export"])
    sheet = book.create_sheet("Customers")
    sheet.append(["Customers, March 2026"])
    sheet.merge_cells("A1:G1")
    sheet.append([])
    sheet.append(["id", "Age", "charges", "autopay", "signup", "plan", "double"])
    for i in range(6):
        row = sheet.max_row + 1
        sheet.append([f"C{i}", 30 + i, 12.5 * i + 0.25, i % 2 == 0, dt.datetime(2021, 1, 1 + i), "gold", f"=C{row}*2"])
    sheet.row_dimensions[5].hidden = True
    sheet.merge_cells("F5:F6")  # a merged category: both rows are "gold" as shown
    if bad:
        sheet["C7"] = "abc"
        sheet["E8"] = "next week"  # text where a date belongs
    book.save(path)
    return path


def test_typed_workbook_keeps_cell_types(tmp_path: Path) -> None:
    path = typed_workbook(tmp_path / "report.xlsx")
    out = tmp_path / "canonical.csv"
    conversion = convert(path, out, path.name, TYPED)
    assert conversion.ok, conversion.problems
    assert (conversion.sheet, conversion.header_row) == ("Customers", 3)  # the sheet with the columns
    report = inspect_csv(out, TYPED)
    assert report.ok, report.problems
    assert report.rows == 6
    frame = job_frame(out, report, TYPED)
    assert frame["age"].tolist() == list(range(30, 36))
    assert frame["charges"].tolist() == [12.5 * i + 0.25 for i in range(6)]
    assert frame["autopay"].tolist() == [i % 2 == 0 for i in range(6)]
    assert list(frame["signup"]) == [pd.Timestamp(2021, 1, 1 + i) for i in range(6)]
    assert frame["plan"].tolist() == ["gold"] * 6  # the merged cell's value fills its range
    # openpyxl stores formulas without a cached value: never evaluated, so the cells are empty
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[:2] == [[], []] and rows[2][-1] == "double" and rows[3][-1] == ""


def test_problems_name_sheet_row_and_column(tmp_path: Path) -> None:
    path = typed_workbook(tmp_path / "report.xlsx", bad=True)
    out = tmp_path / "canonical.csv"
    conversion = convert(path, out, path.name, TYPED)
    report = inspect_csv(out, TYPED)
    messages = [conversion.located(p) for p in report.problems]
    assert [(p.row, p.column) for p in messages] == [(7, "charges"), (8, "signup")]
    assert messages[0].message == "Sheet 'Customers', row 7, column 'charges': 'abc' is not a number."
    assert messages[1].message.startswith("Sheet 'Customers', row 8, column 'signup': 'next week' is not a date")


@pytest.mark.parametrize("name", ["patients-libreoffice.xlsx", "patients-libreoffice.ods",
                                  "patients-libreoffice.xlsm"])
def test_libreoffice_workbooks_read_like_their_csv(tmp_path: Path, name: str) -> None:
    """The fixtures are LibreOffice's conversions of breast_cancer_frame(40, seed=3): every
    feature cell must come back as the number in that CSV."""
    out = tmp_path / "canonical.csv"
    conversion = convert(WORKBOOKS / name, out, name, FEATURES)
    assert conversion.ok, conversion.problems
    report = inspect_csv(out, FEATURES)
    assert report.ok, report.problems
    source = breast_cancer_frame(40, seed=3)
    got = pd.read_csv(out)
    assert got["patient_id"].tolist() == source["patient_id"].tolist()
    assert got["diagnosis"].tolist() == source["diagnosis"].tolist()
    np.testing.assert_allclose(got[FEATURES].to_numpy(), source[FEATURES].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize(("name", "fragment"), [
    ("encrypted.xlsx", "password-protected"),
    ("patients-old.xls", "old binary Excel workbook (.xls)"),
])
def test_refused_containers(tmp_path: Path, name: str, fragment: str) -> None:
    # the .xls is uploaded under an .xlsx name, as people rename files
    conversion = convert(WORKBOOKS / name, tmp_path / "c.csv", "upload.xlsx", FEATURES)
    assert not conversion.ok and fragment in conversion.problems[0].message


def test_zip_bomb_is_refused_unopened(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(64):
                part.write(block)
    assert bomb.stat().st_size < 200_000
    ratio = convert(bomb, tmp_path / "c.csv", bomb.name, FEATURES)
    assert not ratio.ok and "zip bomb" in ratio.problems[0].message
    capped = convert(bomb, tmp_path / "c.csv", bomb.name, FEATURES, max_unpacked=32 * 1024**2)
    assert not capped.ok and "would unpack to 64 MB" in capped.problems[0].message
    assert not (tmp_path / "c.csv").exists()


def test_damaged_and_empty_workbooks(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes((WORKBOOKS / "patients-libreoffice.xlsx").read_bytes()[:5000])
    problem = convert(damaged, tmp_path / "c.csv", damaged.name, FEATURES).problems[0].message
    assert "damaged" in problem or "could not be read" in problem
    empty = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    assert convert(empty, tmp_path / "c.csv", empty.name, FEATURES).problems[0].message == "Sheet 'Sheet' is empty."
    text = tmp_path / "text.ods"
    text.write_text("id,age\n1,2\n")
    assert "not a .ods workbook" in convert(text, tmp_path / "c.csv", text.name, FEATURES).problems[0].message


def test_parquet_typed_by_its_schema(tmp_path: Path) -> None:
    table = pa.table({
        "id": pa.array(["a", "b", "c"]),
        "age": pa.array([31, None, 40], pa.int64()),
        "charges": pa.array([1.5, 2.25, float("nan")]),
        "autopay": pa.array([True, False, None]),
        "signup": pa.array([dt.datetime(2020, 5, 1), dt.datetime(2021, 6, 2), None], pa.timestamp("us")),
        "plan": pa.array(["gold", "silver", "gold"]),
    })
    path = tmp_path / "customers.parquet"
    pq.write_table(table, path)
    out = tmp_path / "canonical.csv"
    conversion = convert(path, out, path.name, TYPED)
    assert conversion.ok and conversion.sheet is None
    report = inspect_csv(out, TYPED)
    assert report.ok, report.problems
    frame = job_frame(out, report, TYPED)
    assert frame["age"].tolist()[0] == 31 and np.isnan(frame["age"].tolist()[1])
    assert frame["charges"].tolist()[:2] == [1.5, 2.25]
    assert list(frame["signup"])[:2] == [pd.Timestamp(2020, 5, 1), pd.Timestamp(2021, 6, 2)]
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("id,age\n")
    assert "could not be read as Parquet" in convert(not_parquet, out, "x.parquet", TYPED).problems[0].message


def test_row_limit_is_the_worksheet_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"age": pa.array(np.zeros(MAX_ROWS, dtype=np.int64))}), path, row_group_size=MAX_ROWS)
    conversion = convert(path, tmp_path / "c.csv", path.name, TYPED)
    assert not conversion.ok and "at most 1,048,575 fit" in conversion.problems[0].message


# -- bombs (issue 22, H1 and H2): sized from the XML and the metadata, bounded while written ----------
def test_a_far_cell_is_refused_from_the_sheet_xml(tmp_path: Path) -> None:
    far = convert(bombs.xlsx_far_cell(tmp_path / "far.xlsx"), tmp_path / "c.csv", "far.xlsx", FEATURES)
    assert not far.ok and "Sheet 'Data' declares the range A1:XFD1048576, 17,179,869,184 cells" in far.problems[0].message
    # The dimension may lie: the cells present are counted too.
    lying = bombs.xlsx(tmp_path / "lying.xlsx", ['<row r="1"><c r="A1"><v>1</v></c></row>',
                                                  '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'], "A1:A1")
    refused = convert(lying, tmp_path / "c.csv", "lying.xlsx", FEATURES)
    assert not refused.ok
    assert "has cells from A1 to XFD1048576, a grid of 17,179,869,184 cells" in refused.problems[0].message
    small = bombs.xlsx_grid(tmp_path / "grid.xlsx", 30, 4)
    assert not convert(small, tmp_path / "c.csv", "grid.xlsx", FEATURES, limits=Limits(max_cells=100)).ok
    assert convert(small, tmp_path / "c.csv", "grid.xlsx", FEATURES, limits=Limits(max_cells=200)).rows == 31
    assert not (tmp_path / "c.csv").exists() or (tmp_path / "c.csv").stat().st_size < 1000


def test_a_cell_hidden_in_an_overlong_tag_is_refused(tmp_path: Path) -> None:
    # 2 MB of attribute (random, so not a zip bomb) before the far cell's position
    hidden = f'<row r="9"><c x="{os.urandom(1024**2).hex()}" r="XFD1048576"><v>1</v></c></row>'
    padded = bombs.xlsx(tmp_path / "padded.xlsx", ['<row r="1"><c r="A1"><v>1</v></c></row>', hidden], "A1:A1")
    refused = convert(padded, tmp_path / "c.csv", "padded.xlsx", FEATURES)
    assert not refused.ok and "a tag of more than 1 MB" in refused.problems[0].message


def test_repeated_ods_rows_and_columns_are_counted_out(tmp_path: Path) -> None:
    bomb = bombs.ods_repeated(tmp_path / "rep.ods")
    assert bomb.stat().st_size < 1000
    refused = convert(bomb, tmp_path / "c.csv", "rep.ods", FEATURES)
    assert not refused.ok and "Sheet 'Data' repeats its rows and columns to more than 35,000,000 cells" in \
        refused.problems[0].message
    fine = convert(bombs.ods_repeated(tmp_path / "ok.ods", 50, 3), tmp_path / "c.csv", "ok.ods", FEATURES)
    assert fine.ok and fine.rows == 51


def test_parquet_cells_and_csv_bytes_are_bounded(tmp_path: Path) -> None:
    bomb = bombs.parquet_repeated(tmp_path / "rep.parquet")
    assert bomb.stat().st_size < 64 * 1024
    out = tmp_path / "c.csv"
    stopped = convert(bomb, out, "rep.parquet", FEATURES, limits=Limits(max_output_bytes=5 * 1024**2))
    assert not stopped.ok and stopped.stopped == "output"
    assert "makes a CSV of more than 5 MB" in stopped.problems[0].message
    assert out.stat().st_size <= 5 * 1024**2
    cells = convert(bomb, out, "rep.parquet", FEATURES, limits=Limits(max_cells=999_999))
    assert not cells.ok and "1,000,000 rows of 1 columns" in cells.problems[0].message


def test_a_reader_that_dies_in_its_child_is_a_refusal(tmp_path: Path) -> None:
    # With the grid check off, the reader asks for 512 GB: the child aborts, the caller carries on.
    far = bombs.xlsx_far_cell(tmp_path / "far.xlsx")
    died = convert_isolated(far, tmp_path / "c.csv", "far.xlsx", FEATURES, Limits(max_cells=10**12), 1024)
    assert not died.ok
    assert died.problems[0].message.startswith("'far.xlsx' could not be converted: reading it needed more than "
                                               "the memory of 1,024 MB (CONVERSION_MEMORY_MB)")
    good = convert_isolated(WORKBOOKS / "patients-libreoffice.xlsx", tmp_path / "c.csv", "p.xlsx", TYPED, Limits(), 1024)
    assert good.ok and good.rows == 41 and good.sheet == "patients-libreoffice"


# -- through the panel and the API, on both engines --------------------------------------------------
def test_workbook_upload_runs_and_keeps_the_original(entrance, settings, db, jobs) -> None:  # type: ignore[no-untyped-def]
    content = (WORKBOOKS / "patients-libreoffice.ods").read_bytes()
    first = entrance.upload("patients.ods", content)
    assert first.status in (201, 303), first.text[:500]
    stored = sorted(p.name for p in settings.input_dir.iterdir())
    assert len(stored) == 2 and stored[0].endswith(".csv") and stored[1].endswith(".source.ods")
    [done] = drain(settings, db)
    assert done.status.value == "PROCESS OK" and done.rows_done == 40
    result = entrance.download(done.id, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(result), read_only=True)
    rows = list(book["predictions"].iter_rows(values_only=True))
    assert len(rows) == 41 and rows[0][:2] == ("row_id", "patient_id")
    second = entrance.upload("patients again.ods", content)
    assert second.status in (201, 303)
    if entrance.kind == "api":
        body = entrance.client.get(f"/api/jobs/{second.job_id}", headers=entrance.headers).json()
        assert body["id"] == second.job_id
        import json
        created = json.loads(second.text)
        assert created["duplicate_of"] == first.job_id
        assert created["input"] == {"sha256": created["input"]["sha256"], "format": "ods", "delimiter": ",",
                                    "decimal_mark": ".", "encoding": "utf-8-sig", "sheet": "patients-libreoffice",
                                    "header_row": 1}
        assert json.loads(first.text)["duplicate_of"] is None
    else:
        page = entrance.client.get("/jobs").text
        assert f"uploaded before as job #{first.job_id}" in page
        original = entrance.client.get(f"/jobs/{first.job_id}/original.csv")
        assert original.status_code == 200 and original.content == content
        assert 'patients.ods' in original.headers["content-disposition"]
    # deleting the job removes the original too
    jobs.delete(second.job_id)
    from app.core.jobs.files import remove_job_files
    job = jobs.get(first.job_id)
    jobs.delete(first.job_id)
    remove_job_files(settings, job)
    assert not any(p.name.startswith(Path(job.path_up).stem) for p in settings.input_dir.iterdir())


def test_rejected_workbook_names_the_sheet(entrance, settings, jobs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = breast_cancer_frame(10)
    path = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Daten", index=False, startrow=1)
    book = openpyxl.load_workbook(path)
    book["Daten"]["A1"] = "Export vom März"
    book["Daten"]["B6"] = "abc"  # mean radius, spreadsheet row 6
    book.save(path)
    outcome = entrance.upload("bad.xlsx", path.read_bytes())
    assert outcome.status == 422, outcome.text[:500]
    assert outcome.problems[0]["message"] == "Sheet 'Daten', row 6, column 'mean radius': 'abc' is not a number."
    assert outcome.problems[0]["row"] == 6
    encrypted = entrance.upload("secret.xlsx", (WORKBOOKS / "encrypted.xlsx").read_bytes())
    assert encrypted.status == 422 and "password-protected" in encrypted.problems[0]["message"]
    assert_nothing_stored(settings, jobs)


# -- compressed CSV uploads (.csv.gz, a .zip holding one CSV) ----------------------------------------
def gzipped(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, mtime=0)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def decompressed(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None):  # type: ignore[no-untyped-def]
    limits = limits or Limits()
    source = tmp_path / "upload.part"
    source.write_bytes(data)
    out = tmp_path / "out.csv"
    return convert_isolated(source, out, name, TYPED, limits, 1024), out


def test_a_csv_gz_and_a_zip_of_one_csv_decompress_byte_for_byte(tmp_path: Path) -> None:
    csv_bytes = "\ufeffpatient;mean radius\r\nP1;17,99\r\n".encode() * 3
    for name, data, fmt in (("d.csv.gz", gzipped(csv_bytes), "gzip"),
                            ("d.zip", zipped({"export/d.csv": csv_bytes, "__MACOSX/export/._d.csv": b"x"}), "zip")):
        conversion, out = decompressed(tmp_path, name, data)
        assert conversion.ok and conversion.format == fmt, conversion.problems
        assert out.read_bytes() == csv_bytes


@pytest.mark.parametrize(("name", "data", "words"), [
    ("two.zip", zipped({"a.csv": b"x\n1\n", "b.csv": b"x\n2\n", "notes.txt": b"hi"}),
     "'two.zip' holds 3 files ('a.csv', 'b.csv', 'notes.txt'); a .zip upload must hold exactly one CSV file."),
    ("none.zip", zipped({}), "'none.zip' holds no file; a .zip upload must hold exactly one CSV file."),
    ("book.zip", zipped({"book.xlsx": b"PK"}), "'book.zip' holds 'book.xlsx', which is not a CSV file. Upload the "
                                               ".xlsx file itself, not zipped"),
    ("doc.zip", zipped({"report.pdf": b"%PDF"}), "'doc.zip' holds 'report.pdf', which is not a CSV file."),
    ("cut.csv.gz", gzipped(b"x\n1\n" * 1000)[:-30], "'cut.csv.gz' could not be decompressed: it is damaged"),
    ("plain.csv.gz", b"x\n1\n", "'plain.csv.gz' is not gzip-compressed, though its name says so."),
    ("plain.zip", b"x\n1\n", "'plain.zip' is not a .zip archive, though its name says so."),
    ("empty.csv.gz", gzipped(b""), "The CSV in 'empty.csv.gz' is empty."),
], ids=["several", "none", "workbook", "not-csv", "truncated", "not-gzip", "not-zip", "empty"])
def test_compressed_uploads_that_are_not_one_csv_are_named(tmp_path: Path, name: str, data: bytes, words: str) -> None:
    conversion, _ = decompressed(tmp_path, name, data)
    assert [p.message for p in conversion.problems][:1] and conversion.problems[0].message.startswith(words), \
        conversion.problems


def test_gzip_and_zip_bombs_stop_at_the_unpacked_limit(tmp_path: Path) -> None:
    bomb = b"x,y\n" + b"1,2\n" * (8 * 1024 * 1024)  # 32 MB of rows
    for name, data in (("bomb.csv.gz", gzipped(bomb)), ("bomb.zip", zipped({"bomb.csv": bomb}))):
        assert len(data) < 1024 * 1024
        conversion, out = decompressed(tmp_path, name, data, Limits(max_unpacked=4 * 1024 * 1024))
        assert conversion.problems[0].message == (f"'{name}' decompresses to more than 4 MB, the most an upload "
                                                  "may unpack to. Split the CSV and upload the parts.")
        assert conversion.stopped is None and out.stat().st_size <= 4 * 1024 * 1024
        # The room a storage quota leaves, smaller than the unpacked limit: stopped="output".
        conversion, out = decompressed(tmp_path, name, data, Limits(max_unpacked=64 * 1024 * 1024,
                                                                    max_output_bytes=2 * 1024 * 1024))
        assert conversion.stopped == "output" and out.stat().st_size <= 2 * 1024 * 1024


def test_compressed_csv_uploads_run_in_their_own_convention(entrance, settings, db, jobs) -> None:  # type: ignore[no-untyped-def]
    frame = breast_cancer_frame(40, seed=5)
    frame["Bemerkung"] = "größer"  # Windows-1252, as a German Excel saves it
    german = frame.to_csv(index=False, sep=";", decimal=",").encode("cp1252")
    title = "Export vom 1. März\r\n\r\n".encode("cp1252") + german  # a title above the header
    for name, data, fmt in (("patients.csv.gz", gzipped(title), "gzip"), ("patients.zip", zipped({"p.csv": german}), "zip")):
        outcome = entrance.upload(name, data)
        assert outcome.status in (201, 303), outcome.text[:500]
        if entrance.kind == "api":
            import json
            created = json.loads(outcome.text)["input"]
            assert (created["format"], created["delimiter"], created["decimal_mark"], created["encoding"]) == (
                fmt, ";", ",", "cp1252")
            assert created["header_row"] == (3 if fmt == "gzip" else 1)
    done = drain(settings, db)
    assert [j.status.value for j in done] == ["PROCESS OK"] * 2 and all(j.rows_done == 40 for j in done)
    for job in done:
        rows = list(openpyxl.load_workbook(io.BytesIO(entrance.download(job.id, "xlsx")), read_only=True)
                    ["predictions"].iter_rows(values_only=True))
        assert len(rows) == 41 and rows[1][2] == pytest.approx(frame.iloc[0, 1])
        excel = entrance.download(job.id, "csv", dialect="excel").decode("cp1252")
        assert excel.splitlines()[0].startswith("row_id;patient_id;mean radius;")
    assert sorted(p.suffix for p in settings.input_dir.iterdir()) == [".csv", ".csv", ".gz", ".zip"]


@pytest.mark.parametrize("kind", ["panel", "api"])
def test_decompressed_bytes_count_against_the_storage_quota(kind, settings, db, jobs, open_entrance) -> None:  # type: ignore[no-untyped-def]
    from app.web import create_app
    small = settings.replace(max_storage_mb_per_user=5)
    entrance = open_entrance(kind, create_app(small, db))
    rows = breast_cancer_frame(40, seed=5).to_csv(index=False).encode()
    header, body = rows.split(b"\n", 1)
    big = header + b"\n" + body * 600  # about 9 MB of CSV, a few hundred KB gzipped
    assert len(big) > 5 * 1024 * 1024
    for name, data in (("big.csv.gz", gzipped(big)), ("big.zip", zipped({"big.csv": big}))):
        assert len(data) < 2 * 1024 * 1024
        outcome = entrance.upload(name, data)
        assert outcome.status == 413, outcome.text[:500]
        assert "MAX_STORAGE_MB_PER_USER" in outcome.message and "conversion to CSV" in outcome.message
    assert_nothing_stored(small, jobs)


def test_a_compressed_file_under_a_csv_name_is_told_which_name_to_use(tmp_path: Path) -> None:
    csv_bytes = breast_cancer_frame(5).to_csv(index=False).encode()
    for data, words in ((gzipped(csv_bytes), "It is gzip-compressed: upload it with its .csv.gz name"),
                        (zipped({"d.csv": csv_bytes}), "It is a zip archive holding a CSV: upload it with its .zip "
                                                         "name (it is then decompressed).")):
        path = tmp_path / "d.csv"
        path.write_bytes(data)
        [problem] = inspect_csv(path, FEATURES).problems
        assert problem.message.startswith("This does not look like a CSV text file") and words in problem.message
