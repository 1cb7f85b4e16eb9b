"""Formula injection: text that starts like a formula, also after spaces or tabs, is stored as
text with a leading apostrophe in both results (the .xlsx and its CSV twin), cell by cell, and
LibreOffice reads it as text, also with its "Trim spaces" CSV import option; plain numbers
stay numbers."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import openpyxl
import pytest

from model.predictions import prediction
from model.results import files, xlsx
from model.results.cells import FORMULA_START, guard_text, is_plain_number, needs_guard
from model.results.xlsx import StreamingXlsxWriter
from tests.conftest import NEEDS_LIBREOFFICE, breast_cancer_frame

# Whitespace, then a formula character: LibreOffice's "Trim spaces" import option removes the
# whitespace and then evaluates the rest.
SPACED_FORMULAS = [
    " =1+1", "   =HYPERLINK(\"http://evil.example\",\"x\")", " +1+1", " -1+1", " @SUM(1)", " -x",
    "\t=1+1", "\t @SUM(1)", "\u00a0=1+1", "\u3000=1+1", "\n=1+1", " \t =1+1", " -2+3", " =",
]
# Invisible characters before the formula: the BOM (alone, with spaces after it, twice), the
# zero-width space, the word joiner, a bidi mark, a soft hyphen.  They show nothing, and a
# program that drops them (as most do with a BOM) leaves the formula.
INVISIBLE_FORMULAS = ["\ufeff=1+1", "\ufeff  =1+1", "\ufeff\ufeff@SUM(1)", " \ufeff=1+1", "\u200b=1+1",
                      "\u200b +1+1", "\u2060=1+1", "\u200e-x", "\u00ad=1+1", "\ufeff\t=1"]
FORMULAS = ["=1+1", "+1", "@SUM(1)", "-x", "\tx", "\rx", "-", "--1", "-2 ", "\t-2", *SPACED_FORMULAS,
            *INVISIBLE_FORMULAS]
# Numbers (also after spaces) and harmless text pass through unchanged.
UNCHANGED = ["-1.5", " -2", "  -1e3", " 1", "-0", "a=b", " a", "'=1+1", " ", "plain", "\ufeffplain",
             "\u200bx=1", "\ufeff-1.5"]
LIBREOFFICE = NEEDS_LIBREOFFICE


def test_one_formula_start_set() -> None:
    assert FORMULA_START == ("=", "+", "-", "@", "\t", "\r")
    assert not hasattr(files, "FORMULA_START")  # the CSV twin uses the shared rule (results/cells.py)
    assert files.guard_text is guard_text


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_text_is_guarded(text: str) -> None:
    assert needs_guard(text)
    assert guard_text(text) == "'" + text


@pytest.mark.parametrize("text", UNCHANGED)
def test_numbers_and_harmless_text_are_not_guarded(text: str) -> None:
    assert not needs_guard(text)
    assert guard_text(text) == text


@pytest.mark.parametrize("text", SPACED_FORMULAS)
def test_xlsx_cells_after_spaces_are_guarded(tmp_path: Path, text: str) -> None:
    path = tmp_path / "g.xlsx"
    with StreamingXlsxWriter(path, [text, "b"]) as w:
        w.write_chunk([[text], ["x"]])
    ws = openpyxl.load_workbook(path).active
    for cell in (ws["A1"], ws["A2"]):  # header and data
        assert (cell.data_type, cell.value) == ("s", "'" + text)


def test_the_batch_text_path_sees_a_spaced_formula_among_plain_text(tmp_path: Path) -> None:
    """Plain text columns are escaped in one joined string; one " =1+1" among 300 ids must
    still be guarded (the batch path hands the column to the per-value rule)."""
    ids = [f" id {i}" for i in range(300)]  # leading spaces, but no formula
    values = [*ids[:150], " =1+1", *ids[150:]]
    assert xlsx._plain_text_tails(ids, "") is not None  # spaces alone keep the fast path
    assert xlsx._plain_text_tails(values, "") is None
    path = tmp_path / "b.xlsx"
    with StreamingXlsxWriter(path, ["note"]) as w:
        w.write_chunk([values])
    got = [c.value for c in openpyxl.load_workbook(path).active["A"][1:]]
    assert got == [*ids[:150], "' =1+1", *ids[150:]]


@pytest.mark.parametrize("text", INVISIBLE_FORMULAS)
def test_the_batch_paths_see_an_invisible_prefixed_formula_among_plain_text(tmp_path: Path, text: str) -> None:
    """Both result writers screen a column at once before going value by value: a formula
    behind a BOM or a zero-width space among 300 plain ids must reach the per-value guard."""
    ids = [f"id{i}" for i in range(300)]
    values = [*ids[:150], text, *ids[150:]]
    assert xlsx._plain_text_tails(values, "") is None
    path = tmp_path / "b.xlsx"
    with StreamingXlsxWriter(path, ["note"]) as w:
        w.write_chunk([values])
    got = [c.value for c in openpyxl.load_workbook(path).active["A"][1:]]
    assert got == [*ids[:150], "'" + text, *ids[150:]]
    assert files.csv_texts(values) == [*ids[:150], "'" + text, *ids[150:]]


def test_the_csv_batch_path_sees_a_spaced_formula_among_plain_text() -> None:
    values = [f"id{i}" for i in range(300)] + [" =1+1", " -2", "-1.5", "\u00a0@x"]
    assert files.csv_texts(values) == [*values[:300], "' =1+1", " -2", "-1.5", "'\u00a0@x"]
    assert files.csv_texts(["a", " b", " -2"]) == ["a", " b", " -2"]


def predict_notes(tmp_path: Path, model_dir: Path, notes: list[str]) -> tuple[Path, Path, list[str]]:
    """prediction() of a CSV with a "note" column holding `notes` (and a spaced formula as a
    header).  Returns (xlsx, csv, header)."""
    frame = breast_cancer_frame(len(notes))
    frame.insert(1, "note", notes)
    frame[" =1+1"] = ["x"] * len(notes)
    source = tmp_path / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:  # the csv module quotes "\rx"
        csv.writer(f).writerows([list(frame.columns), *frame.astype(str).values.tolist()])
    out = prediction(source, tmp_path / "out.xlsx", model_dir=model_dir)
    return out, out.with_suffix(".csv"), list(frame.columns)


def expected(text: str) -> str:
    return "'" + text if needs_guard(text) else text


def test_results_guard_spaced_formulas_cell_by_cell(tmp_path: Path, model_dir: Path) -> None:
    notes = FORMULAS + UNCHANGED
    xlsx, twin, header = predict_notes(tmp_path, model_dir, notes)

    book = openpyxl.load_workbook(xlsx)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
                if isinstance(cell.value, str):
                    assert not needs_guard(cell.value), (sheet.title, cell.coordinate, cell.value)
    sheet = book["predictions"]
    assert sheet.cell(row=1, column=1 + len(header)).value == "' =1+1"  # after row_id
    for r, text in enumerate(notes, start=2):
        cell = sheet.cell(row=r, column=3)
        if is_plain_number(text):  # "-1.5", "-0": numbers
            assert (cell.data_type, cell.value) == ("n", float(text)), text
        else:
            assert (cell.data_type, cell.value) == ("s", expected(text)), text
    assert sheet.cell(row=2 + notes.index(" =1+1"), column=3).value == "' =1+1"
    assert sheet.cell(row=2 + notes.index(" -2"), column=3).value == " -2"

    with open(twin, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][len(header)] == "' =1+1"
    assert [r[2] for r in rows[1:]] == [expected(t) for t in notes]
    for row in rows:
        for value in row:
            assert not needs_guard(value), value


def libreoffice_to_csv(source: Path, out_dir: Path, profile: Path, infilter: str | None = None) -> list[list[str]]:
    command = ["libreoffice", f"-env:UserInstallation={profile.as_uri()}", "--headless"]
    if infilter:
        command.append(f"--infilter={infilter}")
    # comma, double quote, UTF-8, from line 1, ..., full precision rather than as shown
    command += ["--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false",
                "--outdir", str(out_dir), str(source)]
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    with open(out_dir / f"{source.stem}.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.slow
@LIBREOFFICE
def test_libreoffice_reads_spaced_formulas_as_text(tmp_path: Path, model_dir: Path) -> None:
    notes = [" =1+1", "   +1+1", " -1+1", " @SUM(1)", "\t=1+1", " -2+3", " -2", "-1.5", "plain"]
    xlsx, twin, header = predict_notes(tmp_path, model_dir, notes)
    profile = tmp_path / "lo-profile"  # private, so parallel runs do not fight over ~/.config

    (tmp_path / "from-xlsx").mkdir()
    rows = libreoffice_to_csv(xlsx, tmp_path / "from-xlsx", profile)
    assert rows[0][len(header)] == "' =1+1"  # the result's columns: row_id first, then the upload's
    assert [r[2] for r in rows[1:]] == [
        "' =1+1", "'   +1+1", "' -1+1", "' @SUM(1)", "'\t=1+1", "' -2+3", " -2", "-1.5", "plain"]

    # The CSV twin imported with "Trim spaces" (token 11) and "Evaluate formulas" (token 13):
    # without the guard " =1+1" arrives as 2.
    (tmp_path / "from-csv").mkdir()
    rows = libreoffice_to_csv(twin, tmp_path / "from-csv", profile,
                              infilter="CSV:44,34,76,1,,0,false,true,false,false,true,,true")
    assert rows[0][len(header)] == "' =1+1"
    assert [r[2] for r in rows[1:]] == [
        "' =1+1", "'   +1+1", "' -1+1", "' @SUM(1)", "'\t=1+1", "' -2+3", "-2", "-1.5", "plain"]


def test_maybe_formula_finds_every_column_with_a_value_that_may_need_the_guard() -> None:
    """The column-level screen (one regex search over the values joined by NUL) says yes
    exactly when some value, its leading whitespace removed, starts with a formula character,
    (tab and CR being formula characters too), so it never lets a value that needs_guard
    through; checked per value here on random
    columns of the characters that matter."""
    import random

    from model.results.cells import maybe_formula

    rng = random.Random(3)
    alphabet = ["a", "1", " ", "\t", "=", "+", "-", "@", "\r", "\n", "\x1c", "\u3000", "\u00a0", "x"]
    for _ in range(20_000):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 4))]
        joined = "\x00".join(values)
        # whitespace, then a formula character; tab and CR are both
        leads = [(v[:len(v) - len(v.lstrip())], v.lstrip()[:1]) for v in values]
        expected = any("\t" in lead or "\r" in lead or (first and first in FORMULA_START) for lead, first in leads)
        assert maybe_formula(joined) == expected, values
        if any(needs_guard(v) for v in values):
            assert maybe_formula(joined), values
    for text in FORMULAS:
        assert maybe_formula("ok\x00" + text) and maybe_formula(text)


def test_maybe_formula_sees_formulas_behind_invisible_characters_on_random_columns() -> None:
    """The column screen with invisible characters among the blanks (the non-ASCII pattern):
    never lets a value that needs_guard through, checked per value on random columns."""
    import random

    from model.results.cells import INVISIBLE, maybe_formula

    rng = random.Random(5)
    alphabet = ["a", "1", " ", "\t", "=", "+", "-", "@", "\ufeff", "\u200b", "\u2060", "\u00a0", "x"]
    for _ in range(20_000):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 4))]
        joined = "\x00".join(values)
        blanks = [len(v) - len(v.lstrip("".join(c for c in alphabet if c.isspace()) + INVISIBLE)) for v in values]
        leads = [(v[:n], v[n:n + 1]) for v, n in zip(values, blanks)]
        expected = any("\t" in lead or (first and first in FORMULA_START) for lead, first in leads)
        assert maybe_formula(joined) == expected, values
        if any(needs_guard(v) for v in values):
            assert maybe_formula(joined), values
