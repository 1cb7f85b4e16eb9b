"""Tests for model/inputs/ (the upload check, scan.py, with its conversions and reader): the
hostile corpus, exact row/column numbers, big inputs, speed, exact read-back, and property tests
(random input never raises; whatever is accepted is read back by pandas exactly as the csv module
and the documented blank-line rule read it)."""

import csv
import functools
import io
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model.inputs.conversions import MISSING_WORDS, to_floats
from model.inputs.reader import cell_problems, feature_matrix, read_chunks
from model.inputs.report import CsvFormat, CsvReport, Problem
from model.inputs.scan import SCAN_LIMIT, inspect_csv
from model.inputs.sniff import MAX_LINE_CHARS
from tests.hostile_cases import FEATURES, HOSTILE_CASES, HOSTILE_DIR
from tests.support.reading import text_chunks

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def data():
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer()


def read_all(path, report, chunksize=50_000):
    chunks = list(text_chunks(path, report, chunksize))
    return pd.concat(chunks) if chunks else pd.DataFrame()


def cells(path, report, chunksize=50_000):
    return [list(r) for r in read_all(path, report, chunksize).itertuples(index=False)]


def write(path, rows, sep=",", newline="\n", encoding="utf-8"):
    Path(path).write_bytes("".join(sep.join(r) + newline for r in rows).encode(encoding))
    return path


def valid_rows(n, start=0):
    values = data().data
    return [[f"{i:05d}"] + [repr(float(v)) for v in values[i % len(values)]]
            for i in range(start, start + n)]


HEADER = ["id"] + FEATURES


# --------------------------------------------------------------------------------------------
# The corpus


def test_feature_names_match_sklearn():
    assert [str(f) for f in data().feature_names] == FEATURES


def test_corpus_is_complete():
    on_disk = {p.name for p in HOSTILE_DIR.glob("*.csv")}
    assert on_disk == {case.filename for case in HOSTILE_CASES}


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.filename for c in HOSTILE_CASES])
def test_hostile_case(case):
    path = HOSTILE_DIR / case.filename
    report = inspect_csv(path, FEATURES)
    messages = [p.message for p in report.problems]
    assert report.ok is case.accepted, messages
    assert report.total_problems == len(report.problems)
    if not case.accepted:
        assert any(case.message in m for m in messages), messages
        return
    assert report.rows == 8
    assert set(report.feature_columns) == set(FEATURES)
    chunks = list(text_chunks(path, report, chunksize=3))
    assert [len(c) for c in chunks] == [3, 3, 2]
    matrix = np.vstack([feature_matrix(c, report, FEATURES) for c in chunks])
    expected = data().data[:8].copy()
    if case.filename == "nan_accepted.csv":
        expected[1:4, 1] = np.nan
        expected[4, 0] = np.nan
    np.testing.assert_array_equal(matrix, expected)


def problems_of(name):
    report = inspect_csv(HOSTILE_DIR / name, FEATURES)
    return report, [p.as_dict() for p in report.problems]


def test_exact_problem_positions():
    assert problems_of("text_in_numeric.csv")[1] == [{
        "row": 7, "column": "mean radius",
        "message": "Row 7, column 'mean radius': 'abc' is not a number."}]
    assert problems_of("inf_rejected.csv")[1] == [{
        "row": 9, "column": "mean texture",
        "message": "Row 9, column 'mean texture': 'inf' is not a finite number."}]
    assert problems_of("extra_fields.csv")[1] == [{
        "row": 4, "column": None, "message": "Row 4 has 32 fields; the header has 31."}]
    assert problems_of("missing_fields.csv")[1] == [{
        "row": 6, "column": None, "message": "Row 6 has 30 fields; the header has 31."}]
    assert problems_of("duplicate_columns.csv")[1] == [{
        "row": 1, "column": "mean radius",
        "message": "Column 'mean radius' appears more than once (columns 2 and 32)."}]
    assert problems_of("misspelled_header.csv")[1] == [{
        "row": 1, "column": "mean radius",
        "message": "Missing column 'mean radius'. Did you mean 'mean_radius'?"}]
    assert problems_of("unclosed_quote.csv")[1][0]["row"] == 5
    assert problems_of("text_after_quote.csv")[1][0]["row"] == 3
    assert problems_of("no_header.csv")[1][0]["row"] == 1
    for name in ("empty.csv", "binary.csv", "header_only.csv"):
        report, found = problems_of(name)
        assert len(found) == 1 and found[0]["row"] is None and not report.ok


def test_formats_and_headers():
    report, _ = problems_of("bom_utf8.csv")
    assert report.format == CsvFormat("utf-8-sig", ",", ".")
    assert report.header == HEADER  # BOM removed
    assert problems_of("tab_delimited.csv")[0].format == CsvFormat("utf-8-sig", "\t", ".")
    assert problems_of("semicolon_decimal_comma.csv")[0].format == CsvFormat(
        "utf-8-sig", ";", ",")
    assert problems_of("cp1252.csv")[0].format.encoding == "cp1252"
    assert problems_of("invalid_utf8.csv")[0].format.encoding == "cp1252"
    report, _ = problems_of("case_and_space_headers.csv")
    assert report.header[2] == "  MEAN TEXTURE "  # exactly as written
    assert report.feature_columns["mean texture"] == 2
    assert report.feature_columns == {f: i + 1 for i, f in enumerate(FEATURES)}
    report, _ = problems_of("unnamed_index_column.csv")
    assert report.header[0] == "" and report.feature_columns["mean radius"] == 2


def test_passthrough_values_survive():
    report, _ = problems_of("cp1252.csv")
    assert {row[-1] for row in cells(HOSTILE_DIR / "cp1252.csv", report)} == {
        "Montevideo ñandú"}
    report, _ = problems_of("invalid_utf8.csv")
    assert cells(HOSTILE_DIR / "invalid_utf8.csv", report)[0][-1] == "café"
    report, _ = problems_of("formulas.csv")
    assert [r[-1] for r in cells(HOSTILE_DIR / "formulas.csv", report)] == [
        '=HYPERLINK("http://evil","x")', "+1", "-1", "@SUM(1)", "\tleading tab",
        "\rleading CR", "=1+1", "-2+3,4"]
    assert [r[0] for r in cells(HOSTILE_DIR / "formulas.csv", report)][:2] == ["00001", "00002"]
    report, _ = problems_of("blank_lines_multiline.csv")
    comments = [r[-1] for r in cells(HOSTILE_DIR / "blank_lines_multiline.csv", report)]
    assert comments[4] == "line one\r\nline two" and comments.count("plain") == 7


def test_problem_column_is_the_header_as_written(tmp_path):
    rows = [list(HEADER)] + valid_rows(3)
    rows[0][2] = "  MEAN TEXTURE "
    rows[2][2] = "x"
    report = inspect_csv(write(tmp_path / "t.csv", rows), FEATURES)
    assert report.problems == [Problem("Row 3, column 'MEAN TEXTURE': 'x' is not a number.",
                                       3, "  MEAN TEXTURE ")]


# --------------------------------------------------------------------------------------------
# Rules


def test_row_numbers_are_file_lines_with_blank_lines(tmp_path):
    lines = [",".join(HEADER), ""]  # row 2 blank
    for i, row in enumerate(valid_rows(6)):
        if i == 3:
            row[1] = "oops"
        lines.append(",".join(row))
        if i == 1:
            lines += ["   ", "\t"]  # spaces/tabs only: blank too
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines) + "\n\n")
    bad_line = next(n for n, line in enumerate(lines, 1) if "oops" in line)
    report = inspect_csv(path, FEATURES)
    assert report.rows == 6 and bad_line == 8
    assert report.problems == [Problem("Row 8, column 'mean radius': 'oops' is not a number.",
                                       8, "mean radius")]


def test_multiline_values_count_as_one_row(tmp_path):
    rows = [HEADER + ["note"]] + [r + ['"two\nlines"'] for r in valid_rows(4)]
    rows[3][1] = "bad"
    report = inspect_csv(write(tmp_path / "m.csv", rows), FEATURES)
    assert report.rows == 4
    assert [(p.row, p.column) for p in report.problems] == [(4, "mean radius")]


def test_old_mac_line_breaks(tmp_path):
    rows = [HEADER + ["note"]] + [r + ["x"] for r in valid_rows(4)]
    path = write(tmp_path / "cr.csv", rows, newline="\r")
    report = inspect_csv(path, FEATURES)
    assert report.ok and report.rows == 4
    # pandas swallows the delimiter that starts the line after a lone-CR blank line
    lines = ["\r".join(",".join(r) for r in rows[:3]), "", ",".join([""] + rows[3][1:])]
    path.write_text("\r".join(lines) + "\r", newline="")
    report = inspect_csv(path, FEATURES)
    assert [(p.row, p.message[:40]) for p in report.problems] == [
        (5, "Row 5 starts with an empty value right a")]
    path.write_text("\r\n".join(lines) + "\r\n", newline="")  # fine with CRLF
    assert inspect_csv(path, FEATURES).ok


def test_a_second_bom_is_ignored_like_pandas_does(tmp_path):
    path = tmp_path / "bom2.csv"
    path.write_bytes(("\ufeff\ufeff" + "\n".join(",".join(r) for r in [HEADER] + valid_rows(2)))
                     .encode())
    report = inspect_csv(path, FEATURES)
    assert report.ok and report.header[0] == "id"
    assert cells(path, report)[0][0] == "00000"


def test_missing_words_and_spaces_are_accepted(tmp_path):
    rows = [HEADER] + valid_rows(9)
    for i, word in enumerate(["", "NaN", "nan", "NA", "N/A", "null", " NULL ", "none", "  "]):
        rows[i + 1][3] = word
    rows[1][4] = " 1001.5 "
    path = write(tmp_path / "na.csv", rows)
    report = inspect_csv(path, FEATURES)
    assert report.ok, report.problems
    matrix = np.vstack([feature_matrix(c, report, FEATURES) for c in text_chunks(path, report)])
    assert np.isnan(matrix[:, 2]).all() and matrix[0, 3] == 1001.5


def test_infinities_are_rejected(tmp_path):
    rows = [HEADER] + valid_rows(4)
    rows[1][1], rows[2][1], rows[3][2], rows[4][2] = "-inf", "Infinity", "1e999", "x"
    report = inspect_csv(write(tmp_path / "inf.csv", rows), FEATURES)
    assert [p.message for p in report.problems] == [
        "Row 2, column 'mean radius': '-inf' is not a finite number.",
        "Row 3, column 'mean radius': 'inf' is not a finite number.",
        # a column pandas could parse as floats shows 'inf'; otherwise the text as written
        "Row 4, column 'mean texture': '1e999' is not a finite number.",
        "Row 5, column 'mean texture': 'x' is not a number."]


def test_semicolon_cells_may_use_either_decimal_mark(tmp_path):
    rows = [HEADER] + [[v.replace(".", ",") for v in r] for r in valid_rows(5)]
    rows[2] = valid_rows(1, 1)[0]  # a row with points
    rows[3][5] = "1,234.5"  # thousands "," with a decimal point: not this file's convention
    path = write(tmp_path / "semi.csv", rows, ";")
    report = inspect_csv(path, FEATURES)
    assert [(p.row, p.column) for p in report.problems] == [(4, "mean smoothness")]
    assert "Remove the thousands separators" in report.problems[0].message
    rows[3][5] = "1.234,5"  # the file's own convention: accepted (tests/model/test_csv_habits.py)
    assert inspect_csv(write(path, rows, ";"), FEATURES).ok
    rows[3][5] = "0,1"
    report = inspect_csv(write(path, rows, ";"), FEATURES)
    assert report.ok
    matrix = feature_matrix(next(text_chunks(path, report)), report, FEATURES)
    expected = data().data[:5].copy()
    expected[2, 4] = 0.1
    np.testing.assert_array_equal(matrix, expected)


def test_header_problems_together(tmp_path):
    header = ["MEAN RADIUS", "mean radius ", "", ""] + FEATURES[2:]
    rows = [header] + [["1", "2", "", ""] + ["3"] * 28]
    report = inspect_csv(write(tmp_path / "h.csv", rows), FEATURES)
    assert [p.message for p in report.problems] == [
        "Column 'MEAN RADIUS' appears more than once (columns 1 and 2).",
        "Missing column 'mean texture'."]
    assert report.problems[0].column == "MEAN RADIUS"


def test_first_problems_are_kept_in_row_order_and_all_counted(tmp_path):
    rows = [HEADER] + valid_rows(40)
    for i in range(1, 41):
        rows[i][1 + i % 3] = "x"
    rows[10].append("extra")
    report = inspect_csv(write(tmp_path / "many.csv", rows), FEATURES, max_problems=5)
    assert report.total_problems == 40  # row 11's cell is not checked: its fields are off
    assert [p.row for p in report.problems] == [2, 3, 4, 5, 6]
    report = inspect_csv(tmp_path / "many.csv", FEATURES)
    assert len(report.problems) == 20 and report.problems[9] == Problem(
        "Row 11 has 32 fields; the header has 31.", 11)


@pytest.mark.timing
def test_problems_are_counted_cheaply(tmp_path):
    line = ",".join(["x"] * 31) + "\n"
    path = tmp_path / "bad.csv"
    path.write_text(",".join(HEADER) + "\n" + line * 4_000)
    started = time.perf_counter()
    report = inspect_csv(path, FEATURES)
    assert time.perf_counter() - started < 5
    assert report.total_problems == 4_000 * 30 and len(report.problems) == 20
    assert report.problems[0].message == "Row 2, column 'mean radius': 'x' is not a number."


def test_scanning_stops_after_the_problem_limit(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(HEADER) + "\n" + "1\n" * (SCAN_LIMIT + 500))
    report = inspect_csv(path, FEATURES)
    assert report.total_problems == SCAN_LIMIT + 1 and len(report.problems) == 20
    assert report.problems[-2].message == "Row 20 has 1 field; the header has 31."
    assert report.problems[-1] == Problem(
        f"Stopped checking at row {SCAN_LIMIT + 1:,}: the file has more than {SCAN_LIMIT:,} "
        "problems.", SCAN_LIMIT + 1)


def test_delimiter_follows_the_features(tmp_path):
    # "a;b" headers would give more fields with ";", but the features say ","
    rows = [["x;y;z", "mean radius"], ["1;2", "3"]]
    report = inspect_csv(write(tmp_path / "d.csv", rows), ["mean radius"])
    assert report.ok and report.format.delimiter == ","


def test_unreadable_path_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        inspect_csv(tmp_path / "missing.csv", FEATURES)
    with pytest.raises(OSError):
        inspect_csv(tmp_path, FEATURES)


def test_the_job_reader_refuses_a_bad_report(tmp_path):
    # Structural problems (a misspelled column, fields missing) make the file unreadable.
    for name in ("misspelled_header.csv", "missing_fields.csv"):
        report = inspect_csv(HOSTILE_DIR / name, FEATURES)
        assert not report.readable and report.cell_problems < report.total_problems
        with pytest.raises(ValueError):
            next(read_chunks(HOSTILE_DIR / name, report, FEATURES, 50_000))


def test_cell_problems_only_leave_the_file_readable(tmp_path):
    # Text in a number column is a cell problem: the file is still read (MAX_BAD_ROWS_PERCENT
    # decides at upload whether it is accepted), and cell_problems finds exactly those cells.
    path = HOSTILE_DIR / "text_in_numeric.csv"
    report = inspect_csv(path, FEATURES)
    assert not report.ok and report.readable
    assert report.cell_problems == report.total_problems > 0
    assert 0 < report.bad_rows <= report.rows
    found = [p for chunk in text_chunks(path, report) for p in cell_problems(chunk, report, FEATURES)]
    assert len(found) == report.cell_problems
    listed = {(p.row, p.column) for p in report.problems}
    assert {(p.position + 2, p.column) for p in found} == listed  # no blank lines in this file
    for p in found:
        assert p.text.endswith(f"in column '{p.column.strip()}'") and " is not " in p.text


def test_report_is_json_friendly():
    report = inspect_csv(HOSTILE_DIR / "extra_fields.csv", FEATURES)
    assert isinstance(report, CsvReport)
    assert report.as_dict()["problems"] == [p.as_dict() for p in report.problems]


# --------------------------------------------------------------------------------------------
# Exact read-back


def test_an_accepted_file_reads_back_every_value_exactly(tmp_path):
    header = ["", "mean radius", "", "note", "Note 2"]
    values = [
        ["0", "1.5", "007", " spaced ", "plain"],
        ["1", " 2 ", "", 'say "hi"', "multi\nline"],
        ["2", "", "00", "a,b;c\td", "crlf\r\ninside"],
        ["3", "NaN", "-0", "=SUM(A1)", "\ttab first"],
        ["4", "3e2", "1,5", "ñandú €", '"'],
        ["5", "4", " ", "", "\rcr first"],
    ]
    path = tmp_path / "exact.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header] + values)
    report = inspect_csv(path, ["mean radius"])
    assert report.ok, report.problems
    assert report.header == header and report.rows == 6
    chunks = list(text_chunks(path, report, chunksize=4))
    assert [list(c.columns) for c in chunks] == [[0, 1, 2, 3, 4]] * 2
    assert [list(c.index) for c in chunks] == [[0, 1, 2, 3], [4, 5]]
    assert [list(r) for c in chunks for r in c.itertuples(index=False)] == values
    matrix = np.vstack([feature_matrix(c, report, ["mean radius"]) for c in chunks])
    np.testing.assert_array_equal(matrix[:, 0], [1.5, 2, np.nan, np.nan, 300, 4])


# --------------------------------------------------------------------------------------------
# Big inputs


@pytest.mark.timing
def test_ten_thousand_columns(tmp_path):
    extra = [f"extra {i}" for i in range(10_000 - 31)]
    header = HEADER + extra
    line = ",".join(valid_rows(1)[0] + ["1"] * len(extra)) + "\n"
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + line * 100)
    started = time.perf_counter()
    report = inspect_csv(path, FEATURES)
    elapsed = time.perf_counter() - started
    assert report.ok and report.rows == 100 and len(report.header) == 10_000
    assert elapsed < 5, elapsed
    chunk = next(text_chunks(path, report))
    assert chunk.shape == (100, 10_000)
    assert feature_matrix(chunk, report, FEATURES)[0, 0] == 17.99
    report = inspect_csv(path, FEATURES, max_columns=5_000)
    assert [p.message for p in report.problems] == [
        "The file has 10,000 columns; at most 5,000 are supported."]
    # a wide header with missing features still answers quickly (no difflib on 10,000 names)
    started = time.perf_counter()
    report = inspect_csv(path, [f"nope {i}" for i in range(30)])
    assert report.total_problems == 30 and time.perf_counter() - started < 5


@pytest.mark.timing
def test_a_30_mb_line_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"1234567890," * 3_000_000)  # 33 MB, no line break
    started = time.perf_counter()
    report = inspect_csv(path, FEATURES)
    assert time.perf_counter() - started < 10
    assert [p.as_dict() for p in report.problems] == [{
        "row": 1, "column": None,
        "message": f"Row 1 is longer than {MAX_LINE_CHARS:,} characters without a line break; "
                   "this does not look like a CSV table."}]
    rows = [HEADER] + valid_rows(2)
    path.write_text("".join(",".join(r) + "\n" for r in rows) + "9" * 30_000_000 + "\n")
    report = inspect_csv(path, FEATURES)
    assert [(p.row, p.message[:30]) for p in report.problems] == [
        (4, "Row 4 is longer than 10,000,00")]
    assert report.rows == 2


def test_a_field_over_the_csv_module_limit_is_a_problem(tmp_path):
    rows = [HEADER + ["note"]] + [r + ["short"] for r in valid_rows(3)]
    rows[2][-1] = '"' + "x" * 200_000 + '"'
    report = inspect_csv(write(tmp_path / "field.csv", rows), FEATURES)
    assert [p.message for p in report.problems] == [
        f"Row 3 has a value longer than {csv.field_size_limit():,} characters "
        "(is a closing quote \" missing?)."]


def make_big(path, n=100_000, decimal_comma=False):
    sep = ";" if decimal_comma else ","
    bodies = [sep.join(r[1:]) for r in valid_rows(len(data().data))]
    if decimal_comma:
        bodies = [b.replace(".", ",") for b in bodies]
    with open(path, "w", encoding="utf-8") as f:
        f.write(sep.join(HEADER) + "\n")
        f.writelines(f"{i:05d}{sep}{bodies[i % len(bodies)]}\n" for i in range(n))


@pytest.mark.timing
@pytest.mark.slow
def test_speed_100k_rows(tmp_path):
    path = tmp_path / "big.csv"
    make_big(path)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        report = inspect_csv(path, FEATURES)
        timings.append(time.perf_counter() - started)
    print(f"\ninspect_csv, 100,000 rows x 30 features ({path.stat().st_size / 1e6:.0f} MB): "
          f"first {timings[0]:.2f} s, best {min(timings):.2f} s")
    assert report.ok and report.rows == 100_000
    assert min(timings) < 1.5, timings
    total = sum(len(feature_matrix(c, report, FEATURES)) for c in text_chunks(path, report))
    assert total == 100_000


@pytest.mark.timing
def test_speed_100k_rows_with_decimal_commas(tmp_path):
    path = tmp_path / "big_semi.csv"
    make_big(path, decimal_comma=True)
    started = time.perf_counter()
    report = inspect_csv(path, FEATURES)
    elapsed = time.perf_counter() - started
    print(f"\ninspect_csv, 100,000 rows with decimal commas: {elapsed:.2f} s")
    assert report.ok and report.format.decimal == ","
    assert elapsed < 3, elapsed


# --------------------------------------------------------------------------------------------
# Properties

# CSV_FUZZ_EXAMPLES=5000 for a longer hunt
SETTINGS = settings(max_examples=int(os.environ.get("CSV_FUZZ_EXAMPLES", 300)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def reference_records(path, fmt):
    """The documented reading, done independently: the csv module; every record is one row
    number; blank records (empty, or unquoted spaces/tabs only) are skipped as pandas skips
    them.  Returns [(row, record)] of the non-blank records, header included."""
    text = Path(path).read_bytes().decode(fmt.encoding)
    if fmt.encoding == "utf-8-sig" and text.startswith("\ufeff"):
        text = text[1:]  # a second BOM (pandas drops it too)
    lines = io.StringIO(text, newline="").readlines()
    out = []
    reader = csv.reader(iter(lines), delimiter=fmt.delimiter, strict=True)
    try:
        for row, record in enumerate(reader, 1):
            last = lines[reader.line_num - 1]
            if record and (len(record) > 1 or record[0] == "" or '"' in last
                           or record[0].strip(" \t".replace(fmt.delimiter, ""))):
                out.append((row, record))
    except csv.Error:  # the module reports it; nothing after it is read
        pass
    return out


def check_against_reference(path, report, features):
    event("accepted" if report.ok else "rejected")
    if not report.ok:
        assert report.problems and report.total_problems >= len(report.problems)
        if report.format is not None:
            check_cell_problems(path, report)
        return
    records = reference_records(path, report.format)
    got = cells(path, report, chunksize=2)
    assert got == [record for _, record in records[1:]]
    assert len(got) == report.rows
    for chunk in text_chunks(path, report, chunksize=3):
        matrix = feature_matrix(chunk, report, features)
        assert matrix.shape == (len(chunk), len(features))
        assert not np.isinf(matrix).any()
        for j, name in enumerate(features):  # NaN only where the file says "missing"
            texts = chunk[report.feature_columns[name]]
            assert all(t.strip().lower() in MISSING_WORDS for t in texts[np.isnan(matrix[:, j])])


def check_cell_problems(path, report):
    """Every "Row N, column 'X': ..." problem points at a cell that really is wrong."""
    records = dict(reference_records(path, report.format))
    for problem in report.problems:
        if problem.column is None or problem.row in (None, 1) or "Missing" in problem.message:
            continue
        value = records[problem.row][report.header.index(problem.column)]
        numbers, bad = to_floats(np.array([value], dtype=object),
                                  report.format.decimal == ",")
        assert bad[0] or np.isinf(numbers[0]), (problem, value)


CELLS = ["1", "2.5", "-3e2", "", " 4 ", "nan", "N/A", "x", "inf", '"q"', '"a\nb"', '"a""b"',
         '"', "  ", "\t", "1,5", '"1,5"', "ñ", "\ufeff", "\r", '" "', "'", "0x1", "TRUE",
         '"a"b', "\x0b", "\x0c", "\x1c", "\x85", "\u2028", " \t ", '"\r"', "1_0", "٣"]
NUMERIC_CELLS = ["1", "2.5", "-3e2", "", " 4 ", "nan", "N/A", "1,5", '"7"', '" 8 "', "0"]


@st.composite
def csv_like_text(draw):
    """Raw CSV text: mostly well-formed rows (features "a" and "b" get numeric cells, other
    columns any raw cell text), sometimes a row with a wrong cell count, blank lines, BOMs."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    header = draw(st.sampled_from([["a", "b", "c"], ["c", " A ", "b"], ["a", "b", ""],
                                   ["b", "a"], ["a", "b", "c", ""], ['"a"', "b", "c"],
                                   ["1", "2"], ["a"]]))
    lines = [delimiter.join(header)]
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "  ", "\t", " \t ", '""'])))
            continue
        row = [draw(st.sampled_from(NUMERIC_CELLS if name.strip(' "').lower() in "ab" and
                                    name.strip(' "') else CELLS)) for name in header]
        if draw(st.integers(0, 9)) == 0:
            row = draw(st.lists(st.sampled_from(CELLS), max_size=4))
        lines.append(delimiter.join(row))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2, " "]))
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.sampled_from(["\ufeff", "\n", "  \n", "\ufeff\n", "\ufeff\ufeff"])) + text
    return text


@pytest.mark.slow
@SETTINGS
@given(text=csv_like_text(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_csv_like_text_never_raises_and_pandas_agrees(text, encoding):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(text.encode(encoding, errors="replace"))
        report = inspect_csv(path, ["a", "b"], max_problems=3)
        check_against_reference(path, report, list(report.feature_columns))


@pytest.mark.slow
@SETTINGS
@given(blob=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_never_raise(blob):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(blob)
        report = inspect_csv(path, ["a"], max_problems=2)
        assert len(report.problems) <= 2
        check_against_reference(path, report, list(report.feature_columns))


TEXT = st.text(st.sampled_from(list("az Z09,;\t\"'\r\n=+-@.ñé€")), max_size=8)
NUMBER = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**6, 10**6)


@st.composite
def valid_table(draw):
    n_features = draw(st.integers(1, 4))
    features = [f"feature {i}" for i in range(n_features)]
    names = [draw(st.sampled_from([f, f.upper(), f"  {f} ", f.title()])) for f in features]
    extras = draw(st.lists(st.sampled_from(["", "id", "note", "x y"]), max_size=3, unique=True))
    header = names + extras
    order = draw(st.permutations(range(len(header))))
    rows, expected = [], []
    for _ in range(draw(st.integers(1, 8))):
        nums = [draw(NUMBER | st.none()) for _ in features]
        texts = [draw(TEXT) for _ in extras]
        expected.append(([math.nan if v is None else float(v) for v in nums], texts))
        rows.append([draw(st.sampled_from(["", "NaN", " n/a "])) if v is None else repr(v)
                     for v in nums] + texts)
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    # (a one-column header cannot tell ";" from ",": such a file is read with ",")
    if delimiter == ";" and len(header) > 1 and draw(st.booleans()):
        rows = [[v.replace(".", ",") if i < n_features else v for i, v in enumerate(r)]
                for r in rows]
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    if any("\r" in t for _, texts in expected for t in texts):
        newline = "\r\n"  # else Python's csv.writer leaves a lone "\r" unquoted
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    writer.writerows([[r[i] for i in order] for r in [header] + rows])
    return features, buffer.getvalue().encode(encoding), expected, extras, order


@pytest.mark.slow
@SETTINGS
@given(table=valid_table())
def test_valid_tables_round_trip(table):
    features, blob, expected, extras, order = table
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(blob)
        report = inspect_csv(path, features)
        assert report.ok, report.problems
        check_against_reference(path, report, features)
        chunks = list(text_chunks(path, report, chunksize=3))
        matrix = np.vstack([feature_matrix(c, report, features) for c in chunks])
        np.testing.assert_array_equal(matrix, [nums for nums, _ in expected])
        position = {original: file_index for file_index, original in enumerate(order)}
        got = pd.concat(chunks)
        for k in range(len(extras)):
            column = got[position[len(features) + k]].tolist()
            assert column == [texts[k] for _, texts in expected]
