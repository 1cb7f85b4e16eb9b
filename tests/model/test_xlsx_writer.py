"""Tests for model/results/xlsx.py: read the files back with openpyxl and LibreOffice."""

from __future__ import annotations

import csv
import math
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pytest

from model.results import xlsx
from model.results.cells import guard_text, is_plain_number, number_json
from model.results.xlsx import StreamingXlsxWriter
from tests.conftest import NEEDS_LIBREOFFICE

MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
FILL = "FFDDEBF7"


def values(ws) -> list[list[object]]:
    return [[c.value for c in row] for row in ws.iter_rows()]


def write(path: Path, header, chunks, **kwargs) -> Path:
    with StreamingXlsxWriter(path, header, **kwargs) as w:
        for chunk in chunks:
            w.write_chunk(chunk)
    return path


def test_round_trip_cells_styles_and_summary(tmp_path: Path) -> None:
    header = ["id", "x", "label", "probability"]
    ids = ["007", "", "42", "A-1", "-3.5", "1e-3"]
    x = np.array([1.5, np.nan, -2.0, np.inf, -np.inf, 0.30000000000000004])
    labels = ["benign", "malignant", "benign", "", "malignant", "benign"]
    prob = np.array([0.9, 0.25, 0.123456789, 1.0, 0.0, 1 / 3])
    path = tmp_path / "out.xlsx"
    with StreamingXlsxWriter(path, header, highlight=(2, 3)) as w:
        w.write_chunk([ids[:4], x[:4], labels[:4], prob[:4]])
        w.write_chunk([ids[4:], x[4:], labels[4:], prob[4:]])
        w.set_summary([("rows", 6), ("mean probability", 0.5), ("model", "v1.2"), ("threshold", float("nan"))])
        assert w.rows_written == 6

    wb = openpyxl.load_workbook(path, read_only=False)
    assert wb.sheetnames == ["predictions", "summary"]
    ws = wb["predictions"]
    assert values(ws) == [
        header,
        ["007", 1.5, "benign", 0.9],
        [None, None, "malignant", 0.25],
        [42, -2.0, "benign", 0.123456789],
        ["A-1", None, None, 1.0],
        [-3.5, None, "malignant", 0.0],
        [0.001, 0.30000000000000004, "benign", 1 / 3],
    ]
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if cell.value is None:
                continue
            expected = str if isinstance(cell.value, str) else (int, float)
            assert isinstance(cell.value, expected)
            assert cell.data_type == ("s" if expected is str else "n")
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:D7"
    for col, letter in enumerate("ABCD"):
        highlighted = col in (2, 3)
        assert ws[f"{letter}1"].font.b is True
        assert ws[f"{letter}1"].data_type == "s"
        for r in (1, 2, 7):
            fill = ws[f"{letter}{r}"].fill
            assert (fill.fill_type == "solid" and fill.fgColor.rgb == FILL) is highlighted
        assert (letter in ws.column_dimensions) is highlighted  # a custom width
    assert ws["A2"].font.b is not True

    summary = wb["summary"]
    assert values(summary) == [
        ["item", "value"], ["rows", 6], ["mean probability", 0.5], ["model", "v1.2"], ["threshold", None]
    ]
    assert summary["A1"].font.b and summary["B1"].font.b


def test_package_parts_and_sheet_element_order(tmp_path: Path) -> None:
    path = write(tmp_path / "o.xlsx", ["a", "b"], [[np.array([1.0]), ["x"]]], highlight=[1])
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert {
            "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
            "xl/styles.xml", "xl/worksheets/sheet1.xml", "docProps/core.xml", "docProps/app.xml",
        } <= names
        for name in names:
            ElementTree.fromstring(zf.read(name))  # every part is well-formed XML
        sheet = ElementTree.fromstring(zf.read("xl/worksheets/sheet1.xml"))
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    order = [child.tag.removeprefix(MAIN_NS) for child in sheet]
    assert order == ["sheetViews", "sheetFormatPr", "cols", "sheetData", "autoFilter"]
    pane = sheet.find(f"{MAIN_NS}sheetViews/{MAIN_NS}sheetView/{MAIN_NS}pane")
    assert pane is not None and pane.attrib["ySplit"] == "1" and pane.attrib["state"] == "frozen"
    rows = sheet.findall(f"{MAIN_NS}sheetData/{MAIN_NS}row")
    assert [r.attrib["r"] for r in rows] == ["1", "2"]
    # Header cells carry their reference; data cells none (it is optional: readers count them)
    assert [c.attrib.get("r") for r in rows for c in r] == ["A1", "B1", None, None]
    ws = openpyxl.load_workbook(path).active
    assert (ws["A2"].value, ws["B2"].value) == (1.0, "x")


FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "@SUM(1)", "\tx", "\rx", "-x", "=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_guard_text_defuses_formulas(tmp_path: Path, text: str) -> None:
    assert guard_text(text) == "'" + text
    path = write(tmp_path / "g.xlsx", [text], [[[text]]])
    ws = openpyxl.load_workbook(path).active
    for cell in (ws["A1"], ws["A2"]):  # header and data
        assert cell.data_type == "s"
        assert cell.value == "'" + text


def test_guard_text_leaves_safe_text_and_numbers(tmp_path: Path) -> None:
    assert guard_text("benign") == "benign"
    assert guard_text("") == ""
    assert guard_text("a=b") == "a=b"
    ws = openpyxl.load_workbook(write(tmp_path / "n.xlsx", ["v"], [[["-1", "-0.5"]]])).active
    assert (ws["A2"].value, ws["A2"].data_type) == (-1, "n")  # a plain number, not a formula
    assert (ws["A3"].value, ws["A3"].data_type) == (-0.5, "n")


def test_text_escaping_unicode_and_limits(tmp_path: Path) -> None:
    long_text = "x" * 40_000
    emoji_text = "\U0001F600" * 20_000  # 40,000 UTF-16 code units
    texts = [
        "<script>&\"'",
        "a\x00b\x01c\x0bd\x1fe\ufffef\uffff",
        "lone\ud800surrogate",
        "  leading and trailing  ",
        " ",
        "ñ 日本 😀",
        "line1\nline2\r\nline3\ttab",
        long_text,
        emoji_text,
        "a]]>b",
    ]
    ws = openpyxl.load_workbook(write(tmp_path / "t.xlsx", ["<h&>"], [[texts]])).active
    got = [c.value for c in ws["A"]]
    assert got[0] == "<h&>"
    assert got[1:8] == [
        "<script>&\"'",
        "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffd",
        "lone\ufffdsurrogate",
        "  leading and trailing  ",
        " ",
        "ñ 日本 😀",
        "line1\nline2\r\nline3\ttab",
    ]
    assert got[8] == "x" * 32_767
    assert got[9] == "\U0001F600" * (32_767 // 2)  # never half a surrogate pair
    assert got[10] == "a]]>b"


def test_sheet_rollover_keeps_row_order(tmp_path: Path) -> None:
    n = 12
    a = np.arange(n, dtype=float)
    b = [f"row{i}" for i in range(n)]
    path = tmp_path / "r.xlsx"
    with StreamingXlsxWriter(path, ["a", "b"], max_rows_per_sheet=5) as w:
        w.write_chunk([a[:3], b[:3]])  # chunks straddle sheet boundaries
        w.write_chunk([a[3:10], b[3:10]])
        w.write_chunk([a[10:], b[10:]])
        w.set_summary([("rows", n)])
        assert w.rows_written == n
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["predictions", "predictions_2", "predictions_3", "summary"]
    seen = []
    for name in wb.sheetnames[:3]:
        ws = wb[name]
        rows = values(ws)
        assert rows[0] == ["a", "b"] and ws["A1"].font.b and ws.freeze_panes == "A2"
        assert len(rows) == 5
        seen += rows[1:]
    assert seen == [[float(i), f"row{i}"] for i in range(n)]
    assert values(wb["summary"]) == [["item", "value"], ["rows", n]]


def test_rollover_before_a_sheet_entry_needs_zip64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "_ENTRY_LIMIT", 4_000)  # real limit: ~2 GiB of XML
    n = 300
    path = write(tmp_path / "z.xlsx", ["i", "s"], [[np.arange(n), [f"text {i}" for i in range(n)]]])
    wb = openpyxl.load_workbook(path)
    assert len(wb.sheetnames) > 2
    seen = []
    for ws in wb:
        rows = values(ws)
        assert rows[0] == ["i", "s"]
        seen += rows[1:]
    assert seen == [[i, f"text {i}"] for i in range(n)]
    with zipfile.ZipFile(path) as zf:
        assert all(i.file_size <= 4_000 + 100 for i in zf.infolist() if "worksheets" in i.filename)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", True), ("-1", True), ("17.99", True), ("1e-3", True), ("0.5", True), ("-0", True),
        ("1E+10", True), ("123456789012345", True), ("0.000001", True), ("-0.25e2", True),
        ("00123", False), ("007", False), ("01.5", False), ("+1", False), (" 1", False), ("1 ", False),
        ("1,5", False), ("1.", False), (".5", False), ("nan", False), ("NaN", False), ("inf", False),
        ("-inf", False), ("", False), ("-", False), ("0x1A", False), ("1_000", False), ("1e", False),
        ("1e999", False), ("1e-999", False), ("0e-999", True), ("-0.000e5", True), ("1e-320", False), ("1234567890123456", False), ("١٢", False), ("1\n", False),  # noqa: E501
        ("--1", False), ("1.2.3", False),
    ],
)
def test_is_plain_number(text: str, expected: bool) -> None:
    assert is_plain_number(text) is expected


def test_float_columns_round_trip_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    columns = [
        rng.random(200),  # full precision
        np.round(rng.normal(0, 1000, 200), 2),  # few decimals
        np.round(rng.random(200), 9),
        np.array([0.1, 0.2, 0.1 + 0.2, -0.05, 2.0**53 - 1, 2.0**53, -(2.0**60), 5e-324] * 25),
        rng.integers(-10**6, 10**6, 200).astype(float),
        rng.integers(-10**6, 10**6, 200),  # an int array
        np.array([True, False] * 100),
        rng.random(200).astype(np.float32),
        np.array([0.1, 0.5, 17.99, -2.0] * 50, dtype=np.float32),  # 0.1f is not 0.1
        np.where(rng.random(200) < 0.2, np.nan, np.round(rng.random(200), 3)),  # gaps: no cell
        np.where(rng.random(200) < 0.2, -np.inf, rng.random(200)),
    ]
    ws = openpyxl.load_workbook(write(tmp_path / "f.xlsx", list("abcdefghijk"), [columns])).active
    for j, col in enumerate(columns):
        got = [row[j].value for row in ws.iter_rows(min_row=2, max_col=len(columns))]
        assert got == [float(v) if np.isfinite(v) else None for v in col], f"column {j}"


def test_numbers_are_written_as_conventional_shortest_text(tmp_path: Path) -> None:
    # "17.99", not a scaled integer such as "1799e-2": every reader parses the former.
    values = np.array([17.99, 0.1184, 2.0, -0.05, 0.1 + 0.2, 1e-7, 1e16])
    rows = xlsx._run_cells(number_json(values[:, None]), "")
    assert rows == [f"<c><v>{t}</v></c>".encode() for t in
                    ["17.99", "0.1184", "2.0", "-0.05", "0.30000000000000004", "1e-7", "1e+16"]]
    rows = xlsx._run_cells(number_json(np.array([[1.5, np.nan], [np.inf, 3.0]])), ' s="1"')
    assert rows == [b'<c s="1"><v>1.5</v></c><c s="1"/>', b'<c s="1"/><c s="1"><v>3.0</v></c>']
    path = write(tmp_path / "n.xlsx", ["x"], [[np.array([17.99, np.nan, 0.1184])]])
    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert ('<row r="2"><c><v>17.99</v></c></row><row r="3"><c/></row><row r="4"><c><v>0.1184</v></c></row>'
            in sheet)
    rng = np.random.default_rng(1)
    for k in range(12):
        a = np.round(rng.normal(0, 10.0 ** rng.integers(0, 6), 5_000), k)
        texts = [row[len("<c><v>"):-len("</v></c>")].decode()
                 for row in xlsx._run_cells(number_json(a[:, None]), "")]
        assert [float(t) for t in texts] == a.tolist()
        assert all(len(t) <= len(repr(v)) + 3 for t, v in zip(texts, a.tolist()))  # shortest digits


def test_object_values_in_auto_columns(tmp_path: Path) -> None:
    col = np.array(["a", None, float("nan"), 3, 2.5, "nan", True], dtype=object)
    ws = openpyxl.load_workbook(write(tmp_path / "o.xlsx", ["v"], [[col]])).active
    assert [c.value for c in ws["A"]][1:] == ["a", None, None, 3, 2.5, "nan", "True"]


def test_empty_writer_writes_header_sheet(tmp_path: Path) -> None:
    path = write(tmp_path / "e.xlsx", ["a", "b"], [])
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["predictions"]
    assert values(wb.active) == [["a", "b"]]


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16,384"):
        StreamingXlsxWriter(tmp_path / "w.xlsx", [f"c{i}" for i in range(16_385)])
    with pytest.raises(ValueError, match="sheet name"):
        StreamingXlsxWriter(tmp_path / "s.xlsx", ["a"], sheet_name="summary")
    with pytest.raises(ValueError, match="highlight"):
        StreamingXlsxWriter(tmp_path / "h.xlsx", ["a"], highlight=[1])
    path = tmp_path / "c.xlsx"
    with pytest.raises(ValueError, match="expected 2 columns"):
        with StreamingXlsxWriter(path, ["a", "b"]) as w:
            w.write_chunk([np.array([1.0])])
    assert not path.exists()
    with pytest.raises(ValueError, match="same length"):
        with StreamingXlsxWriter(path, ["a", "b"]) as w:
            w.write_chunk([np.array([1.0]), ["x", "y"]])
    assert not path.exists()


def test_max_columns_and_letters(tmp_path: Path) -> None:
    assert [xlsx._col_letter(i) for i in (0, 25, 26, 701, 702, 16_383)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]
    header = [f"c{i}" for i in range(16_384)]
    path = write(tmp_path / "wide.xlsx", header, [[np.array([float(i)]) for i in range(16_384)]])
    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert sheet.endswith('<c><v>16383.0</v></c></row></sheetData><autoFilter ref="A1:XFD2"/></worksheet>')
    assert openpyxl.load_workbook(path, read_only=True).active.cell(2, 16_384).value == 16383


def test_partial_file_removed_on_exception(tmp_path: Path) -> None:
    path = tmp_path / "partial.xlsx"
    with pytest.raises(RuntimeError, match="boom"):
        with StreamingXlsxWriter(path, ["a"]) as w:
            w.write_chunk([np.arange(10_000, dtype=float)])
            assert path.exists()
            raise RuntimeError("boom")
    assert not path.exists()


@pytest.mark.slow
@NEEDS_LIBREOFFICE
def test_libreoffice_reads_the_file(tmp_path: Path) -> None:
    numbers = np.array([17.99, -0.05, 1e-9, 0.1 + 0.2, np.nan, 123456.789, 1 / 3])
    ints = np.arange(7)
    texts = ["benign", "", "=1+1", "日本 ñ 😀", "<a&b>", "_x0041_", "007"]
    path = write(tmp_path / "lo.xlsx", ["num", "int", "text"], [[numbers, ints, texts]], highlight=[2])
    # A private profile so parallel runs do not fight over ~/.config/libreoffice.
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(
        [
            "libreoffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to",
            # comma, double quote, UTF-8, from line 1, ..., full precision rather than as shown
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false",
            "--outdir", str(tmp_path), str(path),
        ],
        check=True, timeout=120, capture_output=True,
    )
    with open(tmp_path / "lo.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["num", "int", "text"]
    assert len(rows) == 8
    expected_text = ["benign", "", "'=1+1", "日本 ñ 😀", "<a&b>", "_x0041_", "007"]
    for row, num, i, text in zip(rows[1:], numbers.tolist(), ints.tolist(), expected_text):
        if math.isnan(num):
            assert row[0] == ""
        else:
            assert math.isclose(float(row[0]), num, rel_tol=1e-14)  # LibreOffice prints 15 digits
        assert int(row[1]) == i
        assert row[2] == text


def test_expected_rows_write_a_size_record_that_never_understates(tmp_path) -> None:
    """With the row count announced, each sheet carries <dimension>, so openpyxl's read-only
    mode opens it without scanning; a wrong (low) hint never loses rows."""
    import numpy as np

    path = tmp_path / "d.xlsx"
    with StreamingXlsxWriter(path, ["a", "b"], max_rows_per_sheet=5, expected_rows=6) as book:
        book.write_chunk([np.arange(6, dtype=float), [f"r{i}" for i in range(6)]])
    with zipfile.ZipFile(path) as z:
        first = z.read("xl/worksheets/sheet1.xml").decode()
        second = z.read("xl/worksheets/sheet2.xml").decode()
    assert '<dimension ref="A1:B5"/>' in first and '<dimension ref="A1:B3"/>' in second
    book_ro = openpyxl.load_workbook(path, read_only=True)
    assert book_ro["predictions"].max_row == 5 and book_ro["predictions_2"].max_row == 3
    assert [r[1] for r in book_ro["predictions_2"].iter_rows(min_row=2, values_only=True)] == ["r4", "r5"]
    book_ro.close()

    low = tmp_path / "low.xlsx"
    with StreamingXlsxWriter(low, ["a"], expected_rows=2) as book:
        book.write_chunk([np.arange(5, dtype=float)])
    book_ro = openpyxl.load_workbook(low, read_only=True)
    values = [r[0] for name in book_ro.sheetnames if name != "summary"
              for r in book_ro[name].iter_rows(min_row=2, values_only=True)]
    book_ro.close()
    assert values == [0, 1, 2, 3, 4]


def test_sparse_texts_slice_pickle_and_cells(tmp_path: Path) -> None:
    """row_status's column: a few texts in a long column.  Sliced across block and sheet
    boundaries, pickled to the workbook's process and written, it reads back as the full
    column it stands for, texts guarded like any other text cell."""
    import pickle

    from model.results.cells import SparseTexts
    from model.results.files import CsvResult, csv_fields

    n = 11
    at = [0, 3, 4, 10]
    texts = ["missing: a", "=cmd|' /C calc'!A0", 'unseen category: plan="x, y"', "  -1 leading"]
    column = SparseTexts(n, at, texts)
    full = column.tolist()
    assert full == ["missing: a", "", "", texts[1], texts[2], "", "", "", "", "", texts[3]]
    assert len(column) == n and column[3:5].tolist() == full[3:5] and column[5:10].tolist() == [""] * 5
    assert column[9:100].tolist() == full[9:] and column[7:3].tolist() == []
    assert pickle.loads(pickle.dumps(column)) == column
    for bad in ((n, [3, 3], ["a", "b"]), (n, [5, 2], ["a", "b"]), (n, [11], ["a"]), (n, [-1], ["a"]), (n, [1], [])):
        with pytest.raises(ValueError):
            SparseTexts(*bad)
    with pytest.raises(ValueError):
        column[::2]

    path = write(tmp_path / "s.xlsx", ["x", "row_status"], [[np.arange(n, dtype=np.float64), column]],
                 max_rows_per_sheet=5, highlight=[1])  # 4 data rows per sheet: slices cut the column
    book = openpyxl.load_workbook(path)
    rows = [r for ws in book.worksheets[:3] for r in values(ws)[1:]]
    assert [r[0] for r in rows] == list(range(n))
    assert [r[1] or "" for r in rows] == [guard_text(t) for t in full]
    assert rows[3][1] == "'=cmd|' /C calc'!A0"

    from model.results.files import Block

    # as the last column it rides on the line ends; the csv module reads each row back
    labels = [f"l{i}" for i in range(n)]
    for outputs, at_end in (([labels, column], True), ([column, labels], False)):
        fields, ends = csv_fields([], Block([], {}, outputs, None, n))
        assert (ends is not None) == at_end
        target = tmp_path / f"s{at_end}.csv"
        twin = CsvResult(target, ["label", "row_status"] if at_end else ["row_status", "label"])
        twin.write(fields, ends)
        twin.close()
        rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))[1:]
        assert [r[1 if at_end else 0] for r in rows] == [guard_text(t) for t in full]
        assert [r[0 if at_end else 1] for r in rows] == labels
