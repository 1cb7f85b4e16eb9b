"""The fast paths of model/predictions.py and model/results/xlsx.py give exactly what the plain
paths give, and a file larger than one sheet comes out whole (issue 6). No timing here:
bench/ measures speed."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.artifact import build_schema, save_model
from model.inputs.reader import feature_matrix, read_chunks
from model.inputs.scan import inspect_csv
from model.loading import load_model
from model.predictions import prediction
from model.results import xlsx
from tests.conftest import breast_cancer_frame, fast_csv
from tests.support.reading import text_chunks


def plain_read(path: Path, report, features, chunk_rows):  # type: ignore[no-untyped-def]
    """What read_chunks replaces: every cell as text, features through feature_matrix."""
    for chunk in text_chunks(path, report, chunksize=chunk_rows):
        others = [i for i in range(len(report.header)) if i not in report.feature_columns.values()]
        yield feature_matrix(chunk, report, features), {i: chunk[i].tolist() for i in others}


def tricky_frame(rows: int) -> pd.DataFrame:
    frame = breast_cancer_frame(rows, seed=3).astype(str)
    frame.insert(3, "note", [f"note, {i} \"q\"" if i % 7 == 0 else "" if i % 5 == 0 else f"n{i}" for i in range(rows)])
    # missing values in every spelling the validator accepts, and numbers in odd notations
    frame.loc[1, "mean radius"] = ""
    frame.loc[2, "mean texture"] = "NaN"
    frame.loc[3, "mean area"] = "n/a"
    frame.loc[4, "mean smoothness"] = " N/A "  # not an exact pandas NA word: column falls back
    frame.loc[5, "worst area"] = "1e3"
    frame.loc[6, "worst area"] = "  12.5 "
    frame.loc[7, "mean perimeter"] = "100"
    frame.loc[8, "mean perimeter"] = "-0"
    frame.loc[9, "radius error"] = "0.1000000000000000055511151231257827"
    frame.loc[10, "radius error"] = "123456789012345678901234567890"
    frame.loc[11, "texture error"] = "NULL"
    frame.loc[12, "texture error"] = "none"
    return frame


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("chunk_rows", [7, 1000])
def test_fast_reader_equals_the_validators_conversion(tmp_path: Path, model_dir: Path, sep: str, chunk_rows: int) -> None:
    frame = tricky_frame(60)
    if sep == ";":  # decimal commas, mixed with points in the same column
        frame["mean radius"] = [v.replace(".", ",") if i % 2 else v for i, v in enumerate(frame["mean radius"])]
    path = tmp_path / "in.csv"
    text = frame.to_csv(index=False, sep=sep)
    path.write_text("\n\n" + text.replace("\n", "\n\n", 3), encoding="utf-8")  # blank lines too
    features = load_model(model_dir).features
    report = inspect_csv(path, features)
    assert report.ok, report.problems
    fast = list(read_chunks(path, report, features, chunk_rows))
    plain = list(plain_read(path, report, features, chunk_rows))
    assert len(fast) == len(plain) == -(-60 // chunk_rows)
    for (x1, t1, bad), (x2, t2) in zip(fast, plain):
        assert np.array_equal(x1, x2, equal_nan=True)
        assert t1 == t2 and bad is None  # a clean file: no cell left unscored


def test_fast_reader_float_parsing_matches_exactly(tmp_path: Path, model_dir: Path) -> None:
    rng = np.random.default_rng(5)
    features = load_model(model_dir).features
    values = np.concatenate([rng.random(3000), rng.normal(0, 1e6, 3000), np.exp(rng.normal(0, 60, 3000)),
                             np.round(rng.random(3000), 3)])
    grid = values[: len(values) // 30 * 30].reshape(-1, 30)
    frame = pd.DataFrame(grid, columns=features)
    frame.insert(0, "id", [f"{i:06d}" for i in range(len(frame))])
    path = tmp_path / "floats.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    report = inspect_csv(path, features)
    assert report.ok
    fast = np.vstack([x for x, _, _ in read_chunks(path, report, features, 5000)])
    assert np.array_equal(fast, grid)
    plain = np.vstack([x for x, _ in plain_read(path, report, features, 5000)])
    assert np.array_equal(fast, plain)


def test_csv_twin_matches_the_workbook_cell_by_cell(tmp_path: Path, model_dir: Path) -> None:
    frame = tricky_frame(40)
    frame.insert(1, "formula", ["=1+1", "@x", "+3", "-4", "-x", "a\r\nb", "é ñ 日本", "'q"] * 5)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    out = prediction(path, tmp_path / "o.xlsx", model_dir=model_dir, chunk_rows=9)
    book = openpyxl.load_workbook(out, read_only=True)
    sheet = [list(r) for r in book["predictions"].iter_rows(values_only=True)]
    book.close()
    with open(out.with_suffix(".csv"), encoding="utf-8-sig", newline="") as f:
        twin = list(csv.reader(f))
    assert len(twin) == len(sheet) == 41
    assert twin[0] == [str(c) for c in sheet[0]]
    for row_x, row_c in zip(sheet[1:], twin[1:]):
        assert len(row_c) == len(row_x)
        for x, c in zip(row_x, row_c):
            if x is None:
                assert c == ""
            elif isinstance(x, str):
                assert c == x
            else:
                assert float(c) == x  # the same number, written as its shortest text
    assert twin[1][2] == "'=1+1" and twin[4][2] == "-4" and twin[5][2] == "'-x"  # after row_id and the id
    assert twin[6][2] == "a\r\nb"


def test_regressor_output_has_numbers_and_no_class_counts(tmp_path: Path, model_dir: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from model.artifact import build_schema, save_model

    train = breast_cancer_frame(200, seed=9)
    features = load_model(model_dir).features
    reg = LinearRegression().fit(train[features], train["mean area"] * 2)
    reg_dir = save_model(reg, build_schema(reg, train[features], "reg-1"), tmp_path / "reg")
    path = tmp_path / "in.csv"
    breast_cancer_frame(30, seed=2).to_csv(path, index=False)
    out = prediction(path, tmp_path / "r.xlsx", model_dir=reg_dir)
    book = openpyxl.load_workbook(out, read_only=True)
    rows = list(book["predictions"].iter_rows(values_only=True))
    summary = dict(list(book["summary"].iter_rows(values_only=True))[1:])
    book.close()
    assert rows[0][-2:] == ("prediction", "row_status") and all(isinstance(r[-2], float) for r in rows[1:])
    assert not any(str(k).startswith("predicted ") for k in summary)
    twin = pd.read_csv(out.with_suffix(".csv"), encoding="utf-8-sig")
    assert np.allclose(twin["prediction"], [r[-2] for r in rows[1:]], rtol=0, atol=0)


# -- the writer's batch text path equals its per-value rule -------------------------------------

TEXT = st.text(alphabet=st.sampled_from([*"aZ 0-9=+@_x\t\r\n&<>\"'é日😀\x00\x01\x1c\x1f\ufffe\u00a0\u2003.eA", "\ud800"]),
               max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=40), st.sampled_from(["", ' s="1"']))
def test_text_tails_equal_the_per_value_rule(values: list[str], style: str) -> None:
    expected = [xlsx._text_cell_tail(v, style) or f"{style}/>" for v in values]
    assert xlsx._text_tails(values, style) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("abc XYZ_x0123456789ABCDEF&<>é\u3000")), min_size=1, max_size=9).filter(
    lambda s: s[0] not in "-0123456789"), min_size=1, max_size=300, unique=True))
def test_plain_text_fast_path_equals_the_per_value_rule(values: list[str]) -> None:
    assert xlsx._plain_text_tails(values, "") is not None
    assert xlsx._text_tails(values, "") == [xlsx._text_cell_tail(v, "") for v in values]


def test_text_tails_for_mixed_objects_and_long_text() -> None:
    values = ["a", None, float("nan"), 3, "x" * 40_000, "a", "", "007", "=1"] * 3
    assert xlsx._text_tails(values, "") == [xlsx._text_cell_tail(v, "") or "/>" for v in values]


# -- more rows than one sheet holds -------------------------------------------------------------

SHEET_ROWS = xlsx.MAX_ROWS - 1  # data rows per sheet under the header


def sheet_rows(zf: zipfile.ZipFile, name: str) -> tuple[int, str, str, str]:
    """(row elements, first data row, last row, its r attribute) of a sheet, streamed."""
    count, first, tail = 0, "", ""
    with zf.open(name) as f:
        carry = ""
        while block := f.read(1 << 22).decode("utf-8"):
            text = carry + block
            cut = text.rfind("<row ")
            count += text.count("<row ", 0, cut)
            second = text.find("<row ", text.find("<row ") + 1)
            if not first and second > 0 and text.find("</row>", second) > 0:
                first = text[second: text.find("</row>", second) + 6]
            carry = text[cut:]
        count += carry.count("<row ")
        tail = carry[: carry.find("</row>") + 6]
    number = re.match(r'<row r="(\d+)"', tail)
    return count, first, tail, number.group(1) if number else ""


def cells(row_xml: str) -> list[str]:
    """The values of a row's cells as text (numbers as written, inline strings unescaped)."""
    # Data cells carry no r= reference (optional in SpreadsheetML): "<c>", "<c s="1">", "<c/>"
    return [v or t for v, t in re.findall(
        r"<c(?: [^>]*?)?(?:/>|>(?:<v>([^<]*)</v>|<is><t[^>]*>([^<]*)</t></is>)</c>)", row_xml)]


def narrow_model(directory: Path, features: list[str]) -> Path:
    """A logistic regression on a few of the data set's columns."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer(as_frame=True)
    X, y = data.data[features], data.target.map(dict(enumerate(data.target_names))).astype(object)
    estimator = LogisticRegression(max_iter=1000).fit(X, y)
    return save_model(estimator, build_schema(estimator, X, "narrow-1"), directory)


@pytest.mark.slow
def test_rows_beyond_one_sheet_continue_on_the_next(tmp_path: Path) -> None:
    # The boundary is about rows: two feature columns (not thirty) make 1.1 million of them
    # quick to write, score and read back.
    rows = 1_100_000
    features = ["mean radius", "mean texture"]
    model_dir = narrow_model(tmp_path / "narrow-model", features)
    source = tmp_path / "big.csv"
    header, row = fast_csv(source, rows, columns=[*features, "diagnosis"])
    seen: list[int] = []
    out = prediction(source, tmp_path / "big.xlsx", model_dir=model_dir, progress=lambda done, total: seen.append(done))
    assert seen[-1] == rows and seen == sorted(seen)

    first_in, boundary_in, last_in = row(0), row(SHEET_ROWS - 1), row(rows - 1)
    with zipfile.ZipFile(out) as zf:
        book = zf.read("xl/workbook.xml").decode()
        assert re.findall(r'<sheet name="([^"]+)"', book) == ["predictions", "predictions_2", "summary", "quality"]
        n1, first1, last1, r1 = sheet_rows(zf, "xl/worksheets/sheet1.xml")
        n2, first2, last2, r2 = sheet_rows(zf, "xl/worksheets/sheet2.xml")
        summary = zf.read("xl/worksheets/sheet3.xml").decode()
    assert (n1, r1) == (xlsx.MAX_ROWS, str(xlsx.MAX_ROWS))  # header + 1,048,575 rows
    assert (n2, r2) == (1 + rows - SHEET_ROWS, str(1 + rows - SHEET_ROWS))
    n_in = len(header)
    for row_xml, expected in ((first1, first_in), (last1, boundary_in), (last2, last_in)):
        row_id, *got = cells(row_xml)  # row_id first, then the upload's columns
        assert re.fullmatch(r"(\d+-)?\d+", row_id), row_id  # the bare call: no job id
        assert len(got) in (n_in + 2, n_in + 3)  # row_status: an empty cell is not written
        assert got[0] == expected[0]
        assert [float(v) for v in got[1:n_in - 1]] == [float(v) for v in expected[1:n_in - 1]]
        assert got[n_in - 1] == expected[n_in - 1]  # diagnosis, passed through
        assert got[n_in] in ("benign", "malignant") and 0.5 <= float(got[n_in + 1]) <= 1
    assert cells(first2)[1] == row(SHEET_ROWS)[0]
    assert f"<v>{rows}</v>" in summary

    twin_lines = 0
    with open(out.with_suffix(".csv"), encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["row_id", *header, "prediction", "probability", "row_status"]
        first_csv = next(reader)
        twin_lines = 2
        last_csv = first_csv
        for last_csv in reader:  # noqa: B007 - the loop keeps the last row
            twin_lines += 1
    assert twin_lines == rows + 1
    for (_, *got), expected in ((first_csv, first_in), (last_csv, last_in)):  # row_id first
        assert got[0] == expected[0] and got[n_in - 1] == expected[n_in - 1]
        assert [float(v) for v in got[1:n_in - 1]] == [float(v) for v in expected[1:n_in - 1]]


def test_sheet_row_helpers() -> None:
    xml = '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row><row r="2"><c r="A2"><v>1.5</v></c><c r="B2"/></row></sheetData>'  # noqa: E501
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("s.xml", xml)
    with zipfile.ZipFile(zbuf) as zf:
        count, first, last, r = sheet_rows(zf, "s.xml")
    assert (count, r) == (2, "2") and cells(first) == ["1.5", ""] and cells(last) == ["1.5", ""]
