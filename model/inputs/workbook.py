"""Workbook (.xlsx, .xlsm, .ods) and Parquet uploads, turned into the canonical CSV at upload.

Design: a workbook or Parquet file is converted once, when it is uploaded, into the CSV that
`inputs.scan.inspect_csv` checks and the worker reads (UTF-8, ",", "."); the original is kept
beside it for download.  So the validation rules, the worker loop and the streaming writer
stay exactly as they are for CSV (other work changes the worker in parallel), every format
gets the same messages, and a job never depends on a spreadsheet library at run time.  The
price is one extra copy of the data on disk, which the result files need anyway.

How the conversion keeps the user's view of the sheet:

* Row numbers: every sheet row becomes one CSV line, and rows above the header (a title, blank
  rows) and empty rows become empty lines, which `inspect_csv` counts as rows but skips as
  data.  So "Row 7" in a message is row 7 as the spreadsheet numbers it; messages are then
  prefixed with the sheet's name.
* The sheet: the first worksheet (in workbook order, visible sheets before hidden ones) whose
  header row, found in its first `HEADER_SEARCH_ROWS` rows, has every required column of the
  model; failing that, the one with the most of them, so the messages name what is missing.
* Cell types are kept: numbers are written exactly (repr of the float, whole numbers without
  ".0"), booleans as true/false, date cells in the model's datetime format for a datetime
  feature (ISO 8601 elsewhere), text as written.  A date cell in a number column is therefore
  "not a number", as it should be.  Formulas are read as the value the spreadsheet saved with
  them (calamine never evaluates anything, and macros are never run); error values such as
  #DIV/0! arrive as their text and are refused in number columns, #N/A is a missing value.
* Merged cells: the value of a merged range is given to every cell of the range (what the
  user sees spanning them; .xlsx only, calamine does not report ranges for .ods).  Hidden
  rows and columns are data like any other: hiding is a view setting, not a deletion.
* Limits: at most `MAX_ROWS` (1,048,576) rows, the most a worksheet holds and so the most the
  .xlsx result can; at most `max_cells` cells in a sheet's grid and `max_output_bytes` bytes of
  CSV (`Limits`).  The reader builds a dense grid from the first to the last cell of a sheet,
  so one cell at XFD1048576 is a grid of 17 billion cells: the grid's size is read from the
  sheet XML first (an .xlsx sheet's <dimension> and the positions of the cells present, an
  .ods table's repeated rows and columns, a Parquet file's row and column counts) and a sheet
  over the limit is refused before anything is loaded; cells and bytes are counted again while
  writing.  A zip container whose entries would unpack to more than
  `max_unpacked` bytes (or to more than `MAX_RATIO` times their packed size) is refused before
  anything is unpacked (zip bombs).  An encrypted (password-protected) workbook and an old
  binary .xls get their own messages.

Parquet files are typed by their own schema and read in record batches with pyarrow.
model/inputs/isolated.py runs a conversion in a child process with a memory limit.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.inputs.report import Problem
from model.schema import DATETIME, FeatureSpec, feature_specs

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")
PARQUET_SUFFIXES = (".parquet", ".parq")
# A compressed CSV (model/inputs/compressed.py): the format each suffix names.
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zip": "zip"}
MAX_ROWS = 1_048_576  # rows of an .xlsx worksheet, header included
HEADER_SEARCH_ROWS = 20
MAX_UNPACKED = 2 * 1024**3  # default cap on a workbook's unpacked size (bytes)
MAX_RATIO = 200  # a workbook part packed more than this is a zip bomb, not a spreadsheet
MAX_ZIP_ENTRIES = 10_000
# Cells of one sheet's grid: a full worksheet (MAX_ROWS) of 33 columns.  Reading takes about 85
# bytes of address space a cell (the cells as read, then the grid at 32 bytes a cell): 3.6 GB
# here, within the default CONVERSION_MEMORY_MB (4096) of the child that converts.
MAX_CELLS = 35_000_000
MAX_OUTPUT_BYTES = 4 * 1024**3  # default cap on the canonical CSV


@dataclass(frozen=True)
class Limits:
    """How big a conversion may get: the zip's unpacked bytes, a sheet's grid, the CSV written."""

    max_unpacked: int = MAX_UNPACKED
    max_cells: int = MAX_CELLS
    max_output_bytes: int = MAX_OUTPUT_BYTES


class OutputLimit(Exception):
    """The canonical CSV reached `Limits.max_output_bytes` (raised while writing)."""


class _Counted:
    """A text file that counts the UTF-8 bytes written and stops at a limit."""

    def __init__(self, out: Any, limit: int) -> None:
        self.out, self.limit, self.written = out, limit, 0

    def write(self, text: str) -> int:
        self.written += len(text) if text.isascii() else len(text.encode("utf-8"))
        if self.written > self.limit:
            raise OutputLimit
        return int(self.out.write(text))

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_ENCRYPTED = ("The workbook is password-protected (encrypted), so it cannot be read. Open it, "
              "remove the password (Excel: File > Info > Protect Workbook > Encrypt with "
              "Password, clear it) and save it again, or save it as CSV.")


def input_kind(filename: str) -> str:
    """"workbook", "parquet", "compressed" (.csv.gz, .zip) or "csv" (anything else is read as
    CSV text, as before)."""
    suffix = Path(filename).suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return "workbook"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in COMPRESSED_SUFFIXES:
        return "compressed"
    return "csv"


@dataclass
class Conversion:
    """The outcome of converting one upload: problems (then nothing is usable), else the
    canonical CSV at the path given, read from `sheet` (None for Parquet)."""

    format: str  # "xlsx", "xlsm", "ods", "parquet"; "gzip", "zip" (a compressed CSV)
    problems: list[Problem] = field(default_factory=list)
    # "output": stopped at Limits.max_output_bytes (the caller may owe it to a storage quota)
    stopped: str | None = None
    sheet: str | None = None
    header_row: int | None = None  # as the spreadsheet numbers it
    rows: int = 0  # lines written, header included
    encoding: str | None = None  # a CSV's own encoding, when the canonical copy may differ

    @property
    def ok(self) -> bool:
        return not self.problems

    def located(self, problem: Problem) -> Problem:
        """A problem of the canonical CSV, told in the workbook's terms (its sheet)."""
        if self.sheet is None:
            return problem
        message = problem.message
        if message[:4] == "Row ":
            message = "row " + message[4:]
        elif message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
        return Problem(f"Sheet '{self.sheet}', {message}", problem.row, problem.column)


# ---------------------------------------------------------------------------------------------
# Cells


def _number_text(value: float) -> str:
    if not math.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _cell_text(value: Any, spec: FeatureSpec | None) -> str:
    """One cell as the canonical CSV holds it (see the module docstring)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        if spec is not None and spec.type == DATETIME and spec.format:
            return value.strftime(spec.format)
        return value.isoformat(" ") if value.time() != dt.time(0) else value.date().isoformat()
    if isinstance(value, dt.date):
        if spec is not None and spec.type == DATETIME and spec.format:
            return dt.datetime(value.year, value.month, value.day).strftime(spec.format)
        return value.isoformat()
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return str(value)


def _norm(text: Any) -> str:
    return str(text).strip().lower()


def _matches(row: Sequence[Any], specs: Sequence[FeatureSpec]) -> tuple[int, int]:
    """(required features found, features found) among a row's cells."""
    names = {_norm(c) for c in row if isinstance(c, str) and c.strip()}
    found = [s for s in specs if _norm(s.name) in names]
    return sum(1 for s in found if s.required), len(found)


# ---------------------------------------------------------------------------------------------
# Containers: zip bombs, encryption, old .xls


def _container_problem(path: Path, fmt: str, max_unpacked: int) -> str | None:
    with open(path, "rb") as f:
        head = f.read(8)
        if head == _OLE2_MAGIC:
            f.seek(0)
            data = f.read(4 * 1024 * 1024)  # the directory of a small OLE2 file is near its start
            if _ENCRYPTED_STREAM in data:
                return _ENCRYPTED
            return (f"This is an old binary Excel workbook (.xls), not .{fmt}. Open it and save it "
                    "as .xlsx (Excel Workbook) or CSV, then upload that.")
    if head[:4] != b"PK\x03\x04":
        return f"This file is not a .{fmt} workbook (it is not a zip container). Save it from " \
               "the spreadsheet program again, or as CSV."
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                return f"The workbook holds {len(entries):,} parts; this is not a spreadsheet."
            unpacked = sum(e.file_size for e in entries)
            if unpacked > max_unpacked:
                return (f"The workbook would unpack to {unpacked / 1024**2:,.0f} MB, more than the "
                        f"{max_unpacked / 1024**2:,.0f} MB allowed. Split it, or save it as CSV.")
            for e in entries:
                if e.file_size > 1024 * 1024 and e.file_size > MAX_RATIO * max(e.compress_size, 1):
                    return (f"The workbook part '{e.filename}' is compressed more than "
                            f"{MAX_RATIO}:1, which spreadsheets never are (a zip bomb?); it was not "
                            "opened.")
            names = {e.filename for e in entries}
            if fmt == "ods" and "META-INF/manifest.xml" in names:
                if b"encryption-data" in archive.read("META-INF/manifest.xml"):
                    return _ENCRYPTED
    except zipfile.BadZipFile:
        return f"The .{fmt} workbook is damaged (its zip container cannot be read). Save it again."
    return None


# ---------------------------------------------------------------------------------------------
# Grids: how many cells the reader would hold for a sheet, read from the XML before loading it

_XLSX_TAG = re.compile(rb'<(?:\w+:)?(row|c)(?=[\s/>])([^>]*)>')
_CELL_TAG = re.compile(rb'<(?:\w+:)?c(?=[\s/>])')
_CELL_FIRST_PLACE = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
_CELL_PLACE = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br\s*=\s*"([A-Z]{1,3})([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s[^>]*?\bref\s*=\s*"([^"]*)"')
_ODS_TAG = re.compile(rb'<table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*)>')
_ATTRIBUTE = re.compile(rb'([\w:.-]+)\s*=\s*"([^"]*)"')
_REF = re.compile(rb"\$?([A-Z]{1,3})\$?([0-9]{1,7})")


def _attributes(text: bytes) -> dict[bytes, bytes]:
    return {k.split(b":")[-1]: v for k, v in _ATTRIBUTE.findall(text)}


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class _NotASheet(Exception):
    """The sheet XML is built to defeat the count (its message says how)."""


def _blocks(stream: Any) -> Iterable[bytes]:
    """An XML stream in blocks of about 1 MB, each cut before its last tag (so no tag is split)."""
    carry = b""
    while block := stream.read(1024 * 1024):
        data = carry + block
        cut = data.rfind(b"<")
        cut = len(data) if cut < 0 else cut
        yield data[:cut]
        carry = data[cut:]
        if len(carry) > 1024 * 1024:  # no spreadsheet writes a tag that long; it would hide a cell
            raise _NotASheet("The workbook's sheet XML holds a tag of more than 1 MB, which spreadsheets never "
                             "write, so it was not opened. Save it again from the spreadsheet program, or as CSV.")
    yield carry


def _tags(stream: Any, pattern: re.Pattern[bytes]) -> Iterable[tuple[bytes, bytes]]:
    """(name, attributes) of every tag of `pattern` in an XML stream."""
    for block in _blocks(stream):
        for match in pattern.finditer(block):
            yield match.group(1), match.group(2)


def _xlsx_sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """{worksheet part ("xl/worksheets/sheet1.xml"): its sheet's name}."""
    import html

    try:
        book = archive.read("xl/workbook.xml")[:16 * 1024 * 1024]
        rels = archive.read("xl/_rels/workbook.xml.rels")[:16 * 1024 * 1024]
    except KeyError:
        return {}
    targets = {}
    for text in re.findall(rb"<(?:\w+:)?Relationship\b([^>]*)>", rels):
        found = _attributes(text)
        target = found.get(b"Target", b"").decode("utf-8", "replace")
        targets[found.get(b"Id", b"")] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    names = {}
    for text in re.findall(rb"<(?:\w+:)?sheet\b([^>]*)>", book):
        found = _attributes(text)
        part = targets.get(found.get(b"id", b""))
        if part:
            names[part] = html.unescape(found.get(b"name", b"").decode("utf-8", "replace"))
    return names


def _declared_problem(sheet: str, head: bytes, max_cells: int) -> str | None:
    """The sheet's <dimension ref="A1:XFD1048576"/> (before its data), if it claims too much."""
    found = _DIMENSION.search(head)
    if found is None:
        return None
    refs = _REF.findall(found.group(1))
    if len(refs) != 2:
        return None
    rows = int(refs[1][1]) - int(refs[0][1]) + 1
    columns = _column_number(refs[1][0]) - _column_number(refs[0][0]) + 1
    if rows * columns <= max_cells:
        return None
    return (f"Sheet '{sheet}' declares the range {found.group(1).decode()}, {rows * columns:,} cells; at most "
            f"{max_cells:,} cells can be read from a sheet. Delete the empty rows and columns around the data (or "
            "save it as CSV) and upload it again.")


def _xlsx_extent(stream: Any) -> tuple[int, int, int, int] | None:
    """(first row, last row, first column, last column) of the cells in a sheet, 1-based: the
    grid the reader builds.  Cells name their place (r="B7"); a cell without one is counted
    where the reader puts it (after its left neighbour), tag by tag."""
    rows: set[int] = set()
    columns: set[bytes] = set()
    for block in _blocks(stream):
        if b":c" in block:  # prefixed tags (<x:c>): counted by the general pattern
            tags = len(_CELL_TAG.findall(block))
        else:
            tags = block.count(b"<c ") + block.count(b"<c>") + block.count(b"<c/") + block.count(b"<c\n")
        places = _CELL_FIRST_PLACE.findall(block)  # r first, as spreadsheet programs write it
        if len(places) != tags:
            places = _CELL_PLACE.findall(block)
        if len(places) != tags:
            return None  # cells without r="...": the slow walk
        if places:
            letters, digits = zip(*places, strict=True)
            columns.update(letters)
            numbers = list(map(int, digits))
            rows.update((min(numbers), max(numbers)))
    if not rows:
        return 0, 0, 0, 0
    numbers = [_column_number(c) for c in columns]
    return min(rows), max(rows), min(numbers), max(numbers)


def _xlsx_walk(stream: Any) -> tuple[int, int, int, int]:
    """`_xlsx_extent` for sheets whose cells do not all name their place."""
    first_row = first_col = 1 << 30
    last_row = last_col = 0
    row = column = 0
    for tag, text in _tags(stream, _XLSX_TAG):
        found = _attributes(text)
        if tag == b"row":
            row = int(found[b"r"]) if found.get(b"r", b"").isdigit() else row + 1
            column = 0
            continue
        ref = _REF.fullmatch(found.get(b"r", b""))
        if ref:
            column, row = _column_number(ref.group(1)), int(ref.group(2))
        else:
            column += 1
        first_row, last_row = min(first_row, row), max(last_row, row)
        first_col, last_col = min(first_col, column), max(last_col, column)
    return (first_row, last_row, first_col, last_col) if last_row else (0, 0, 0, 0)


def _xlsx_grid_problem(archive: zipfile.ZipFile, max_cells: int) -> str | None:
    names = _xlsx_sheet_names(archive)
    for info in archive.infolist():
        part = info.filename
        if not (part.startswith("xl/worksheets/") and part.endswith(".xml")):
            continue
        sheet = names.get(part, Path(part).stem)
        with archive.open(info) as stream:
            problem = _declared_problem(sheet, stream.read(64 * 1024), max_cells)
        if problem:
            return problem
        with archive.open(info) as stream:
            extent = _xlsx_extent(stream)
        if extent is None:
            with archive.open(info) as stream:
                extent = _xlsx_walk(stream)
        first_row, last_row, first_col, last_col = extent
        cells = (last_row - first_row + 1) * (last_col - first_col + 1) if last_row else 0
        if cells > max_cells:
            return (f"Sheet '{sheet}' has cells from {_column_letters(first_col)}{first_row} to "
                    f"{_column_letters(last_col)}{last_row}, a grid of {cells:,} cells; at most {max_cells:,} "
                    "cells can be read from a sheet. Delete the cells far from the data (or save it as CSV) "
                    "and upload it again.")
    return None


def _ods_grid_problem(archive: zipfile.ZipFile, max_cells: int) -> str | None:
    """Cells of every table, its repeated rows and columns counted out."""
    import html

    def repeat(found: dict[bytes, bytes], key: bytes) -> int:
        value = found.get(key, b"1")
        return int(value) if value.isdigit() else 1

    sheet, cells, rows, width = "", 0, 0, 0
    try:
        stream = archive.open("content.xml")
    except KeyError:
        return None
    with stream:
        for tag, text in _tags(stream, _ODS_TAG):
            found = _attributes(text)
            if tag in (b"table", b"table-row"):
                cells += rows * width
                if cells > max_cells:
                    break
                rows, width = 0, 0
                if tag == b"table":
                    sheet, cells = html.unescape(found.get(b"name", b"").decode("utf-8", "replace")), 0
                else:
                    rows = repeat(found, b"number-rows-repeated")
            else:
                width += repeat(found, b"number-columns-repeated")
        cells += rows * width
    if cells > max_cells:
        return (f"Sheet '{sheet}' repeats its rows and columns to more than {max_cells:,} cells, the most "
                "that can be read from a sheet. Delete the empty rows and columns around the data (or save "
                "it as CSV) and upload it again.")
    return None


def _grid_problem(path: Path, fmt: str, max_cells: int) -> str | None:
    with zipfile.ZipFile(path) as archive:
        if fmt == "ods":
            return _ods_grid_problem(archive, max_cells)
        return _xlsx_grid_problem(archive, max_cells)


# ---------------------------------------------------------------------------------------------
# Workbooks


def _sheet_order(workbook: Any) -> list[str]:
    import python_calamine as calamine

    visible: list[str] = []
    hidden: list[str] = []
    for meta in workbook.sheets_metadata:
        if meta.typ != calamine.SheetTypeEnum.WorkSheet:
            continue  # chart and macro sheets hold no table
        (visible if meta.visible == calamine.SheetVisibleEnum.Visible else hidden).append(meta.name)
    return visible + hidden


def _find_header(sheet: Any, specs: Sequence[FeatureSpec]) -> tuple[tuple[int, int], int | None]:
    """((required found, found), 0-based iter_rows index of the header) in the first rows."""
    start = sheet.start
    if start is None:
        return (0, 0), None
    best: tuple[tuple[int, int], int | None] = ((0, 0), None)
    first_nonblank: int | None = None
    for index, row in enumerate(sheet.iter_rows()):
        if start[0] + index >= HEADER_SEARCH_ROWS:
            break
        if first_nonblank is None and any(c not in ("", None) for c in row):
            first_nonblank = index
        score = _matches(row, specs)
        if score > best[0]:
            best = (score, index)
    if best[1] is None:
        return (0, 0), first_nonblank
    return best


def convert_workbook(path: str | os.PathLike[str], out_csv: str | os.PathLike[str],
                     features: Sequence[str | FeatureSpec], fmt: str,
                     max_unpacked: int = MAX_UNPACKED, limits: Limits | None = None) -> Conversion:
    """Convert the chosen sheet of a workbook to the canonical CSV `out_csv`; never raises on
    bad content (the problems say what is wrong)."""
    import python_calamine as calamine

    limits = limits or Limits(max_unpacked=max_unpacked)
    specs = feature_specs(features)
    conversion = Conversion(fmt)
    problem = _container_problem(Path(path), fmt, limits.max_unpacked)
    if not problem:
        try:
            problem = _grid_problem(Path(path), fmt, limits.max_cells)
        except _NotASheet as exc:
            problem = str(exc)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):  # a damaged part: the reader says more
            problem = None
    if problem:
        conversion.problems.append(Problem(problem))
        return conversion
    try:
        workbook = calamine.CalamineWorkbook.from_path(os.fspath(path))
    except calamine.PasswordError:
        conversion.problems.append(Problem(_ENCRYPTED))
        return conversion
    except Exception as exc:  # calamine's errors for a damaged file: XmlError, ZipError, ...
        conversion.problems.append(Problem(f"The .{fmt} workbook could not be read ({exc}). Save it "
                                           "again from the spreadsheet program, or as CSV."))
        return conversion
    with workbook:
        try:
            names = _sheet_order(workbook)
            if not names:
                conversion.problems.append(Problem("The workbook has no worksheet."))
                return conversion
            need = sum(1 for s in specs if s.required)
            chosen: tuple[tuple[int, int], str, int | None] | None = None
            sheet: Any = None
            for loaded in names:
                sheet = None  # one grid in memory at a time
                sheet = workbook.get_sheet_by_name(loaded)
                score, header = _find_header(sheet, specs)
                if chosen is None or score > chosen[0]:
                    chosen = (score, loaded, header)
                if score[0] >= need and score[1] > 0:
                    break
            assert chosen is not None
            _, name, header = chosen
            conversion.sheet = name
            if name != loaded:
                sheet = None
                sheet = workbook.get_sheet_by_name(name)
            if sheet.start is None or header is None:
                conversion.problems.append(Problem(f"Sheet '{name}' is empty."))
                return conversion
            if sheet.start[0] + sheet.height > MAX_ROWS:
                conversion.problems.append(Problem(
                    f"Sheet '{name}' has {sheet.start[0] + sheet.height:,} rows; at most "
                    f"{MAX_ROWS:,} fit in a worksheet (and in the result). Split the file."))
                return conversion
            _write_sheet(sheet, header, specs, out_csv, conversion, limits)
        except OutputLimit:
            conversion.stopped = "output"
            conversion.problems.append(Problem(
                f"Sheet '{conversion.sheet}' makes a CSV of more than {_megabytes(limits.max_output_bytes)}, "
                "the most a converted file may take here. Split the file and upload the parts."))
        except Exception as exc:  # a cell calamine cannot decode: the file, not the service
            conversion.problems.append(Problem(f"The .{fmt} workbook could not be read ({exc}). "
                                               "Save it again, or as CSV."))
    return conversion


def _merged_fill(sheet: Any) -> dict[tuple[int, int], tuple[int, int]]:
    """{(row, col) of a covered cell: (row, col) of its range's top-left}, absolute 0-based."""
    ranges = sheet.merged_cell_ranges or []
    covered: dict[tuple[int, int], tuple[int, int]] = {}
    for (r0, c0), (r1, c1) in ranges:
        if (r1 - r0 + 1) * (c1 - c0 + 1) > 100_000:
            continue  # a huge merge is formatting, not data
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    covered[(r, c)] = (r0, c0)
    return covered


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB" if size >= 1024**2 else f"{size:,} bytes"


def _write_sheet(sheet: Any, header: int, specs: Sequence[FeatureSpec],
                 out_csv: str | os.PathLike[str], conversion: Conversion, limits: Limits) -> None:
    start_row, start_col = sheet.start
    if sheet.height * sheet.width > limits.max_cells:  # checked in the XML already; the grid itself
        raise ValueError(f"sheet '{conversion.sheet}' holds {sheet.height * sheet.width:,} cells, more than "
                         f"the {limits.max_cells:,} allowed")
    covered = _merged_fill(sheet)
    tops = {top: None for top in covered.values()}  # values of the ranges' top-left cells
    by_name = {_norm(s.name): s for s in specs}
    column_specs: list[FeatureSpec | None] = []
    with open(out_csv, "w", encoding="utf-8", newline="") as file:
        out = _Counted(file, limits.max_output_bytes)
        writer = csv.writer(out, lineterminator="\r\n")
        out.write("\r\n" * (start_row + header))  # rows above the header, as empty lines
        lines = start_row + header
        for index, row in enumerate(sheet.iter_rows()):
            if index < header:
                continue
            absolute = start_row + index
            if tops or covered:
                row = list(row)
                for c in range(len(row)):
                    key = (absolute, start_col + c)
                    if key in tops:
                        tops[key] = row[c]
                    elif key in covered:
                        row[c] = tops.get(covered[key])
            if index == header:
                column_specs = [by_name.get(_norm(c)) if isinstance(c, str) else None for c in row]
                writer.writerow([_cell_text(c, None) for c in row])
            elif all(c in ("", None) for c in row):
                out.write("\r\n")  # an empty row: counted as a row, skipped as data
            else:
                writer.writerow([_cell_text(c, s) for c, s in zip(row, column_specs, strict=False)])
            lines += 1
    conversion.header_row = start_row + header + 1
    conversion.rows = lines


# ---------------------------------------------------------------------------------------------
# Parquet


def _arrow_texts(column: Any, spec: FeatureSpec | None) -> Iterable[str]:
    import pyarrow as pa

    kind = column.type
    values = column.to_pylist()
    if pa.types.is_floating(kind):
        return ("" if v is None or (isinstance(v, float) and math.isnan(v)) else _number_text(v)
                for v in values)
    return ("" if v is None else _cell_text(v, spec) for v in values)


def convert_parquet(path: str | os.PathLike[str], out_csv: str | os.PathLike[str],
                    features: Sequence[str | FeatureSpec], limits: Limits | None = None) -> Conversion:
    """Convert a Parquet file to the canonical CSV, typed by the file's own schema."""
    import pyarrow.parquet as pq

    limits = limits or Limits()
    specs = feature_specs(features)
    by_name = {_norm(s.name): s for s in specs}
    conversion = Conversion("parquet")
    try:
        source = pq.ParquetFile(os.fspath(path))
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a Parquet file
        conversion.problems.append(Problem(f"The file could not be read as Parquet ({exc})."))
        return conversion
    with source:
        rows = source.metadata.num_rows
        if rows + 1 > MAX_ROWS:
            conversion.problems.append(Problem(
                f"The Parquet file has {rows:,} rows; at most {MAX_ROWS - 1:,} fit in the result "
                "workbook. Split the file."))
            return conversion
        names = list(source.schema_arrow.names)
        if rows * len(names) > limits.max_cells:
            conversion.problems.append(Problem(
                f"The Parquet file has {rows:,} rows of {len(names):,} columns, {rows * len(names):,} cells; at "
                f"most {limits.max_cells:,} can be converted. Split the file, or keep only the model's columns."))
            return conversion
        column_specs = [by_name.get(_norm(n)) for n in names]
        try:
            with open(out_csv, "w", encoding="utf-8", newline="") as file:
                writer = csv.writer(_Counted(file, limits.max_output_bytes), lineterminator="\r\n")
                writer.writerow(names)
                lines = 1
                for batch in source.iter_batches(batch_size=50_000):
                    columns = [_arrow_texts(batch.column(i), s) for i, s in enumerate(column_specs)]
                    for record in zip(*columns, strict=True):
                        writer.writerow(record)
                    lines += batch.num_rows
        except OutputLimit:
            conversion.stopped = "output"
            conversion.problems.append(Problem(
                f"The Parquet file makes a CSV of more than {_megabytes(limits.max_output_bytes)}, the most a "
                "converted file may take here. Split the file and upload the parts."))
            return conversion
        except Exception as exc:  # a damaged row group or an unsupported type
            conversion.problems.append(Problem(f"The Parquet file could not be read ({exc})."))
            return conversion
    conversion.header_row, conversion.rows = 1, lines
    return conversion


def convert(path: str | os.PathLike[str], out_csv: str | os.PathLike[str], filename: str,
            features: Sequence[str | FeatureSpec], max_unpacked: int = MAX_UNPACKED,
            limits: Limits | None = None) -> Conversion:
    """The conversion for a workbook or Parquet upload named `filename` (`limits`, when given,
    includes its own max_unpacked)."""
    limits = limits or Limits(max_unpacked=max_unpacked)
    suffix = Path(filename).suffix.lower().lstrip(".")
    if input_kind(filename) == "parquet":
        return convert_parquet(path, out_csv, features, limits)
    return convert_workbook(path, out_csv, features, suffix, limits=limits)

