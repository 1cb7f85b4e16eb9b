"""A small, fast, streaming .xlsx writer for prediction output.

pandas ``to_excel`` (openpyxl) needs ~85 s and 1.4 GB for 100,000 rows x 32 columns, so
we write the SpreadsheetML ourselves: each worksheet is one deflated zip entry
that rows are appended to as they arrive, so memory stays flat whatever the
row count.  Only what the service needs is supported: numbers, inline strings,
a bold frozen header with an autofilter, a fill on the prediction columns, and
an optional "summary" sheet, and optional small table sheets after it (`add_table`: the
quality report, with its statuses coloured).

Cell values:
  * numeric ``np.ndarray``: numbers, written as the shortest text that reads
    back to the same double ("17.99", "0.30000000000000004", "1e-7"), formatted
    by orjson for a run of adjacent columns at once (see :func:`number_json` and
    :class:`NumberColumns`); NaN and +-inf become empty cells.
  * anything else (a sequence of str): "" -> empty cell; a plain decimal number
    (:func:`is_plain_number`) -> numeric cell; otherwise a text cell passed
    through :func:`guard_text`.  In a column listed in ``text_columns`` every
    value but "" is a text cell, numbers too (a category "10", a date
    "20240105"), still passed through :func:`guard_text`.
  * text cells: characters XML 1.0 forbids are replaced by U+FFFD and text is
    truncated to Excel's cell limit of 32,767 characters (UTF-16 code units,
    the unit Excel counts in).

Each sheet holds at most ``max_rows_per_sheet`` rows including its header
(Excel's limit by default); further rows go to ``<sheet_name>_2``, ``_3``, ...
A sheet also rolls over early if its XML would reach 2 GiB: larger zip entries
need zip64, which Excel handles badly.
"""

from __future__ import annotations

import math
import operator
import os
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import numpy as np

from model.results.cells import (
    FORMULA_START,
    NumberColumns,
    SparseTexts,
    guard_text,
    is_blank_lead,
    is_plain_number,
    maybe_formula,
    number_json,
)
from model.results.zip_stream import ZipEntry, ZipStream

MAX_ROWS = 1_048_576
MAX_COLS = 16_384
MAX_CELL_CHARS = 32_767
SUMMARY_SHEET = "summary"

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel decodes "_xHHHH_" in cell text as the character U+HHHH; a literal one is
# kept by escaping its underscore as "_x005F_".
_EXCEL_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
# str() of the missing-value objects (NaN, pd.NA, NaT) an object column may hold: such a value
# is an empty cell.  Not model/inputs/conversions.py's MISSING_WORDS: those are texts a user typed in a feature
# cell, while a str value here, "nan" or "N/A" included, is text and is written as it is.
_MISSING_REPRS = frozenset({"nan", "NaN", "<NA>", "NaT"})
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_ENTRY_LIMIT = (1 << 31) - 1 - (1 << 20)  # stay clear of zip64 (+ room for the tail)
_BLOCK_CELLS = 1 << 19  # rows are rendered in blocks of about this many cells (a worker's step fits one)
_MAX_PENDING = 2  # rendered blocks waiting for the compressor thread
_SEP = "\x00"  # joins a column's texts so one C-level pass escapes them all (see _text_tails)
# _ILLEGAL_XML without NUL: the separator; values holding a NUL take the per-value path.
_ILLEGAL_XML_BUT_SEP = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ILLEGAL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 13))  # as _ILLEGAL_XML, + NUL
# A value starting with one of these needs a per-value decision (number? formula?).
_CAREFUL_START = frozenset("0123456789").union(FORMULA_START)
_CAREFUL_TEXT_START = frozenset(FORMULA_START)  # the same in a text_columns column
_FIRST, _LAST = operator.itemgetter(0), operator.itemgetter(-1)

# Style ids into cellXfs in _STYLES.
_PLAIN, _FILLED, _HEADER, _HEADER_FILLED = 0, 1, 2, 3
_PERCENT, _PERCENT_FILLED = 4, 5  # built-in number format 10, "0.00%": the value stays a fraction
_STYLE_ATTR = {_PLAIN: "", _FILLED: ' s="1"', _HEADER: ' s="2"', _HEADER_FILLED: ' s="3"',
               _PERCENT: ' s="4"', _PERCENT_FILLED: ' s="5"'}
# add_table: cells of its status column holding one of these words get the fill (cellXfs 6-8).
STATUS_STYLES = {"ok": 6, "warning": 7, "alert": 8}
_FILL_RGB = "FFDDEBF7"  # light blue
_HIGHLIGHT_WIDTH = 16

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"

_STYLES = (
    f"{_XML_DECL}<styleSheet {_NS}>"
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="6"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    f'<fill><patternFill patternType="solid"><fgColor rgb="{_FILL_RGB}"/>'
    '<bgColor indexed="64"/></patternFill></fill>'
    # ok green, warning amber, alert red (Excel's "Good", "Neutral", "Bad" cell colours)
    '<fill><patternFill patternType="solid"><fgColor rgb="FFC6EFCE"/><bgColor indexed="64"/></patternFill></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFFFEB9C"/><bgColor indexed="64"/></patternFill></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/><bgColor indexed="64"/></patternFill></fill>'
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="9"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="2" borderId="0" xfId="0" applyFill="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="10" fontId="0" fillId="2" borderId="0" xfId="0" applyNumberFormat="1" applyFill="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="3" borderId="0" xfId="0" applyFill="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="4" borderId="0" xfId="0" applyFill="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="5" borderId="0" xfId="0" applyFill="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)














def _run_cells(json: bytes, style: str) -> list[bytes]:
    """Per row of a 2-D number block given as its `number_json`, the row's cells:
    `<c s="1"><v>17.99</v></c><c s="1"/>...` (null: an empty cell).  The cell tags are put in
    by replacing the separators (bytes throughout: each step is one pass over the block's text,
    which is what costs)."""
    opening, closing = f"<c{style}><v>".encode(), b"</v></c>"
    gaps = b"null" in json
    # The brackets at both ends stay on the first and last rows until those are fixed up:
    # cheaper than copying the whole text to cut them off first.
    text = json.replace(b"],[", closing + b"\x00" + opening).replace(b",", closing + opening)
    null, empty = opening + b"null" + closing, f"<c{style}/>".encode()
    if gaps:
        text = text.replace(null, empty)
    rows = text.split(b"\x00")
    rows[0] = opening + rows[0][2:]
    rows[-1] = rows[-1][:-2] + closing
    if gaps:  # the first and last cells had no tags around them yet
        rows[0] = rows[0].replace(null, empty)
        rows[-1] = rows[-1].replace(null, empty)
    return rows




def _text_column_cells(values: Sequence[Any] | SparseTexts, style: str, as_text: bool) -> list[bytes]:
    """A text column's cells, encoded (a `SparseTexts` one: only its texts are made)."""
    def cells(texts: Sequence[Any]) -> list[bytes]:
        return _text_cells(_text_tails(texts, style, as_text))

    if isinstance(values, SparseTexts):
        return values.spread(f"<c{style}/>".encode(), cells)
    return cells(values)


def _text_cells(tails: list[str]) -> list[bytes]:
    """`_text_tails` as whole cells, encoded: one join, encode and split for the column."""
    return ("<c" + "\x00<c".join(tails)).encode().split(b"\x00")


def _col_letter(i: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA", 16383 -> "XFD"."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _escape(s: str) -> str:
    # "\r" as a character reference: XML parsers turn a literal CR into LF.
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _escape_attr(s: str) -> str:
    return _escape(s).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _truncate(s: str) -> str:
    if len(s) <= MAX_CELL_CHARS // 2:  # cannot exceed the limit even if all astral
        return s
    b = s.encode("utf-16-le", "surrogatepass")
    if len(b) <= 2 * MAX_CELL_CHARS:
        return s
    # "ignore" drops half a surrogate pair left at the cut.
    return b[: 2 * MAX_CELL_CHARS].decode("utf-16-le", "ignore")


def _inline_str(text: str) -> str:
    """The `<is>` element for an (already guarded) text value."""
    text = _truncate(_ILLEGAL_XML.sub("\ufffd", text))
    if "_x" in text:
        text = _EXCEL_ESCAPE.sub("_x005F_", text)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<is><t{space}>{_escape(text)}</t></is>"


def _text_cell_tail(value: Any, style: str, as_text: bool = False) -> str | None:
    """What follows `<c r="A1"` for one auto-policy value (as_text: a value of a
    text_columns column); None for an empty cell."""
    if isinstance(value, str):
        s = value
    else:  # None, NaN, pd.NA, NaT in object columns are missing values, not text
        s = "" if value is None else str(value)
        if s in _MISSING_REPRS:
            s = ""
    if not s:
        return None
    if not as_text and is_plain_number(s):
        return f"{style}><v>{s}</v></c>"
    return f'{style} t="inlineStr">{_inline_str(guard_text(s))}</c>'


def _text_tails(values: Sequence[Any], style: str, as_text: bool = False) -> list[str]:
    """What follows `<c r="A1"` for each auto-policy value, as `_text_cell_tail` says, with
    `{style}/>` (an empty cell) where it says None.

    Each distinct value is classified once (labels repeat a lot).  A column of plain text (no
    value empty or starting with a digit or a formula character, also after whitespace) is
    escaped as one joined string: 50,000 distinct ids cost a few C calls, not 50,000
    `_inline_str` calls.
    """
    head = values[:256]
    if len(set(head)) == len(head):  # looks all distinct (ids): hashing them all buys nothing
        keys, tails = values if isinstance(values, list) else list(values), None
    else:
        tails = dict.fromkeys(values, "")
        # Empty cells aside, so a column of mostly empty cells and distinct texts (row_status)
        # still takes the joined path for its texts.
        empty = tails.pop("", None) is not None
        keys = list(tails)
        if empty:
            tails[""] = f"{style}/>"
    out = _plain_text_tails(keys, style, _CAREFUL_TEXT_START if as_text else _CAREFUL_START)
    if out is None:
        out = [_text_cell_tail(v, style, as_text) or f"{style}/>" for v in keys]
    if tails is None or len(keys) == len(values) and "" not in tails:  # keys are the values, in order
        return out
    for k, t in zip(keys, out):
        tails[k] = t
    return list(map(tails.__getitem__, values))


def _plain_text_tails(texts: list[Any], style: str, careful: frozenset[str] = _CAREFUL_START) -> list[str] | None:
    """`_text_tails` for values that are all plain text, or None if any is not (empty, or
    starting with a character of `careful`, which needs a per-value decision)."""
    try:
        joined = _SEP.join(texts)
    except TypeError:  # not all str
        return None
    if (
        joined.count(_SEP) != len(texts) - 1  # a NUL inside a value
        or not joined  # an empty value: first, last or in between
        or joined[0] == _SEP
        or joined[-1] == _SEP
        or _SEP + _SEP in joined
        or len(joined) > MAX_CELL_CHARS // 2 and max(map(len, texts)) > MAX_CELL_CHARS // 2
    ):
        return None
    firsts = set(map(_FIRST, texts))
    if not firsts.isdisjoint(careful):
        return None
    if any(map(is_blank_lead, firsts)) and maybe_formula(joined):  # " =1+1", "\ufeff=1+1"
        return None
    # Now every value needs exactly what _inline_str does, and each step works on the
    # joined string the same as on each value (no pattern can match across a NUL).
    if joined.isascii():  # O(1) in CPython
        raw = joined.encode("ascii")
        illegal = len(raw) - len(raw.translate(None, _ILLEGAL_BYTES)) > len(texts) - 1
    else:
        illegal = _ILLEGAL_XML_BUT_SEP.search(joined) is not None
    if illegal:
        joined = _ILLEGAL_XML_BUT_SEP.sub("\ufffd", joined)
    if "_x" in joined:
        joined = _EXCEL_ESCAPE.sub("_x005F_", joined)
    # t != t.strip() exactly when t's first or last character is a space (one that was
    # illegal became U+FFFD above, which is not).
    ends = firsts | set(map(_LAST, texts))
    spaced = any(c.isspace() and not _ILLEGAL_XML.match(c) for c in ends)
    head, tail = f'{style} t="inlineStr"><is><t>', "</t></is></c>"
    out = (head + _escape(joined).replace(_SEP, tail + _SEP + head) + tail).split(_SEP)
    if spaced:
        keep = f'{style} t="inlineStr"><is><t xml:space="preserve">'
        for k, t in enumerate(joined.split(_SEP)):
            if t != t.strip():
                out[k] = keep + out[k][len(head):]
    return out


def _sheet_head(*, selected: bool, frozen: bool, widths: dict[int, float], dimension: str | None = None) -> str:
    """A worksheet up to and including `<sheetData>` (schema order matters)."""
    view = ' tabSelected="1"' if selected else ""
    pane = (
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        if frozen else ""
    )
    cols = "".join(
        f'<col min="{j + 1}" max="{j + 1}" width="{w}" customWidth="1"/>' for j, w in sorted(widths.items())
    )
    return (
        f'{_XML_DECL}<worksheet {_NS} {_NS_R}>'
        + (f'<dimension ref="{dimension}"/>' if dimension else "")
        + f'<sheetViews><sheetView{view} workbookViewId="0">{pane}'
        '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + "<sheetData>"
    )


def _quote_sheet(name: str) -> str:
    """A sheet name as used in a formula reference: 'it''s'."""
    return "'" + name.replace("'", "''") + "'"


def _numbers(a: np.ndarray) -> np.ndarray:
    """A number array as orjson formats it: booleans as 0/1, floats as float64 (float32 etc.
    are exact in it, and the checks need it), integers in native byte order."""
    if a.dtype.kind == "b":
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        return a.astype(np.float64, copy=False)
    return a.astype(a.dtype.newbyteorder("="), copy=False)


def _as_column(c: np.ndarray | Sequence[Any] | SparseTexts) -> np.ndarray | Sequence[Any] | SparseTexts:
    """Numeric arrays stay arrays (fast path), `SparseTexts` stay as they are; anything else
    is auto-policy values."""
    if isinstance(c, SparseTexts):
        return c
    if isinstance(c, np.ndarray):
        if c.ndim != 1:
            raise ValueError(f"columns must be 1-D, got shape {c.shape}")
        return _numbers(c) if c.dtype.kind in "biuf" else c.tolist()
    return c if isinstance(c, (list, tuple)) else list(c)


class StreamingXlsxWriter:
    """Write rows to an .xlsx file chunk by chunk; see the module docstring.

    Use as a context manager: on an exception inside the with-block the partial
    file is deleted.  XML rendering runs in the calling thread while a helper
    thread deflates and writes the previous block (zlib releases the GIL), so
    both cores are used.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: Sequence[str],
        *,
        highlight: Collection[int] = (),
        text_columns: Collection[int] = (),
        sheet_name: str = "predictions",
        max_rows_per_sheet: int = MAX_ROWS,
        compresslevel: int = 1,
        expected_rows: int | None = None,
        percent_columns: Collection[int] = (),
        deflate_thread: bool = True,
    ) -> None:
        """percent_columns: number columns shown as percentages (0.873 as 87.30%).
        deflate_thread: deflate in a helper thread while the next block is rendered (False:
        in the calling thread, for a process that does nothing else: see
        model/results/process.py; handing each block to the thread costs GIL waits that only
        pay off when the other core would otherwise be idle)."""
        ncols = len(header)
        if not 1 <= ncols <= MAX_COLS:
            raise ValueError(f"an .xlsx sheet holds 1 to {MAX_COLS:,} columns, got {ncols:,}")
        if not 2 <= max_rows_per_sheet <= MAX_ROWS:
            raise ValueError(f"max_rows_per_sheet must be 2..{MAX_ROWS:,}, got {max_rows_per_sheet}")
        if (
            not sheet_name
            or len(sheet_name) > 31
            or _BAD_SHEET_CHARS.search(sheet_name)
            or _ILLEGAL_XML.search(sheet_name)
            or sheet_name[0] == "'"
            or sheet_name[-1] == "'"
            or sheet_name.lower() in (SUMMARY_SHEET, "history")
        ):
            raise ValueError(f"invalid sheet name {sheet_name!r}")
        for what, indices in (("highlight", highlight), ("text_columns", text_columns),
                              ("percent_columns", percent_columns)):
            bad = [j for j in indices if not 0 <= j < ncols]
            if bad:
                raise ValueError(f"{what} column index out of range: {bad}")

        self.path = os.fspath(path)
        self.rows_written = 0
        self._ncols = ncols
        self._letters = [_col_letter(j) for j in range(ncols)]
        self._highlight = frozenset(highlight)
        self._text_columns = frozenset(text_columns)
        self._styles = [_STYLE_ATTR[_FILLED if j in self._highlight else _PLAIN] for j in range(ncols)]
        for j in percent_columns:
            self._styles[j] = _STYLE_ATTR[_PERCENT_FILLED if j in self._highlight else _PERCENT]
        self._header_row = self._render_header(header)
        self._sheet_name = sheet_name
        self._max_data_rows = max_rows_per_sheet - 1
        # With the row count known in advance each sheet starts with a <dimension> record.
        # Readers use it as the sheet's size: openpyxl's read-only mode (and so pandas) must
        # otherwise scan the whole sheet just to open it (8 s for 100,000 rows). It must
        # never understate (openpyxl stops reading at it), so a sheet is also cut at it.
        self._expected = expected_rows
        self._sheet_cap = self._max_data_rows
        self._block_rows = max(1, _BLOCK_CELLS // ncols)
        self._sheets: list[tuple[str, int]] = []  # (name, data rows) of finished data sheets
        self._sheet_rows = -1  # data rows in the open sheet; -1: no sheet open
        self._sheet_bytes = 0
        self._summary: list[tuple[str, str | int | float]] | None = None
        self._tables: list[tuple[str, bytes]] = []  # (name, sheet XML) of add_table sheets
        self._closed = False
        self.deflate_seconds = 0.0  # spent by the pool thread in zip calls (deflate and writes)
        self.wait_seconds = 0.0  # spent by the caller waiting for the pool thread
        self.render_seconds = 0.0  # spent by write_chunk making the XML (waits not included)
        self._pending: deque[Future[Any]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-deflate") if deflate_thread else None
        self._stream: ZipEntry | None = None  # the open sheet entry; only touched by the pool thread
        self._zip = ZipStream(self.path, compresslevel)

    # -- public API ---------------------------------------------------------

    @property
    def block_rows(self) -> int:
        """Rows rendered at a time: a caller that writes chunks of at most this many rows has
        each rendered as one block (a `NumberColumns`' ready text is then used as it is)."""
        return self._block_rows

    def write_chunk(self, columns: Sequence[np.ndarray | Sequence[str] | NumberColumns | SparseTexts]) -> None:
        """Append rows given column by column (all columns the same length); a `NumberColumns`
        stands for as many adjacent columns as it is wide; a `SparseTexts` is a text column."""
        if self._closed:
            raise ValueError("write_chunk() on a closed StreamingXlsxWriter")
        given = sum(c.width if isinstance(c, NumberColumns) else 1 for c in columns)
        if given != self._ncols:
            raise ValueError(f"expected {self._ncols} columns, got {given}")
        cols: list[Any] = []
        for c in columns:
            at = len(cols)
            if isinstance(c, NumberColumns):
                if c.json is None:  # the numbers will be formatted here
                    c = NumberColumns(_numbers(c.values))
                if len(set(self._styles[at:at + c.width])) == 1 and not self._text_columns.intersection(
                        range(at, at + c.width)):
                    cols.append(c)
                    cols += [None] * (c.width - 1)  # keeps the column positions; skipped when rendering
                else:  # columns of different styles: one at a time
                    cols += [_as_column(np.ascontiguousarray(c.values[:, k])) for k in range(c.width)]
            else:
                cols.append(_as_column(c))
        n = len(cols[0])
        if any(c is not None and len(c) != n for c in cols):
            raise ValueError(f"all columns of a chunk must have the same length, got {sorted({len(c) for c in cols})}")
        started = time.perf_counter()
        waited, deflated = self.wait_seconds, self.deflate_seconds
        start = 0
        while start < n:
            if self._sheet_rows in (-1, self._sheet_cap):
                self._next_sheet()
            stop = min(n, start + self._block_rows, start + self._sheet_cap - self._sheet_rows)
            start = self._write_block(cols, start, stop)
        spent = time.perf_counter() - started - (self.wait_seconds - waited)
        if self._pool is None:  # deflated in this thread: not part of the rendering
            spent -= self.deflate_seconds - deflated
        self.render_seconds += spent

    def set_summary(self, items: Sequence[tuple[str, str | int | float]]) -> None:
        """Items for a "summary" sheet (item / value) written after the data sheets."""
        self._summary = [(str(k), v) for k, v in items]

    def add_table(self, name: str, header: Sequence[str], rows: Sequence[Sequence[str | int | float | None]],
                  status_column: int | None = None) -> None:
        """A small sheet (a few hundred rows at most: it is held in memory) written after the
        summary: a bold header, then `rows` (text, numbers; None or NaN: empty).  In column
        `status_column`, the words of `STATUS_STYLES` are filled green / amber / red."""
        if not name or len(name) > 31 or _BAD_SHEET_CHARS.search(name) or name.lower() in (
                SUMMARY_SHEET, self._sheet_name.lower(), *(n.lower() for n, _ in self._tables)):
            raise ValueError(f"invalid or duplicate sheet name {name!r}")
        bold = _STYLE_ATTR[_HEADER]
        letters = [_col_letter(j) for j in range(len(header))]
        out = ['<row r="1">' + "".join(f'<c r="{letters[j]}1"{bold} t="inlineStr">{_inline_str(guard_text(str(h)))}</c>'
                                       for j, h in enumerate(header)) + "</row>"]
        for r, row in enumerate(rows, start=2):
            cells = []
            for j, value in enumerate(row):
                ref = f"{letters[j]}{r}"
                if value is None or (isinstance(value, float) and not math.isfinite(value)):
                    continue
                if isinstance(value, bool):
                    cells.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
                elif isinstance(value, (int, float, np.integer, np.floating)):
                    cells.append(f'<c r="{ref}"><v>{float(value)!r}</v></c>' if isinstance(value, (float, np.floating))
                                 else f'<c r="{ref}"><v>{int(value)}</v></c>')
                else:
                    style = f' s="{STATUS_STYLES[value]}"' if j == status_column and value in STATUS_STYLES else ""
                    cells.append(f'<c r="{ref}"{style} t="inlineStr">{_inline_str(guard_text(str(value)))}</c>')
            out.append(f'<row r="{r}">{"".join(cells)}</row>')
        widths = {j: 14.0 for j in range(len(header))}
        widths[0] = 28.0
        xml = _sheet_head(selected=False, frozen=True, widths=widths) + "".join(out) + "</sheetData></worksheet>"
        self._tables.append((name, xml.encode()))

    def close(self) -> None:
        """Finish all sheets and the package; the file is deleted if this fails."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._sheet_rows == -1:
                self._next_sheet()  # no rows at all: still write a sheet with the header
            self._end_sheet()
            extra = len(self._sheets) + 1
            if self._summary is not None:
                self._submit(self._w_writestr, f"xl/worksheets/sheet{extra}.xml", self._summary_xml())
                extra += 1
            for offset, (_, xml) in enumerate(self._tables):
                self._submit(self._w_writestr, f"xl/worksheets/sheet{extra + offset}.xml", xml)
            for name, data in self._package_parts():
                self._submit(self._w_writestr, name, data)
            self._drain()
            self._zip.close()
        except BaseException:
            self._abort()
            raise
        finally:
            if self._pool is not None:
                self._pool.shutdown()

    def __enter__(self) -> StreamingXlsxWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._closed = True
            self._abort()
            if self._pool is not None:
                self._pool.shutdown()

    # -- rendering (calling thread) -------------------------------------------

    def _render_header(self, header: Sequence[str]) -> str:
        cells = "".join(
            f'<c r="{letter}1"{_STYLE_ATTR[_HEADER_FILLED if j in self._highlight else _HEADER]}'
            f' t="inlineStr">{_inline_str(guard_text(str(name)))}</c>'
            for j, (letter, name) in enumerate(zip(self._letters, header))
        )
        return f'<row r="1">{cells}</row>'

    def _write_block(self, cols: list[Any], start: int, stop: int) -> int:
        """Render rows [start, stop) into the open sheet; return the next row to write."""
        first = self._sheet_rows + 2  # sheet row number of `start` (row 1 is the header)
        # Each row is a few *segments*, not one piece per cell: a run of adjacent number
        # columns of the same style and kind is one segment, its cells for all the block's
        # rows made by one orjson call and a few replaces over the whole text (`_run_cells`);
        # a text column is a segment of its own (`_text_tails`).  Cells carry no r="B7"
        # reference: it is optional (ECMA-376 Part 1, 18.3.1.4); a reader counts cells from
        # the row's start, which is why an empty cell is written as <c/> rather than left
        # out.  So no Python code runs per cell, and none per row.
        n = stop - start
        heads = ('<row r="' + '">\x00<row r="'.join(map(str, range(first, first + n))) + '">').encode().split(b"\x00")
        segments: list[list[bytes]] = [heads]
        ends = [b"</row>"] * n
        last = cols[-1][start:stop] if isinstance(cols[-1], SparseTexts) else None
        if last is not None:  # row_status: its cells ride on the row ends, one piece per row fewer
            style, as_text = self._styles[len(cols) - 1], len(cols) - 1 in self._text_columns
            ends = last.spread(f"<c{style}/></row>".encode(),
                               lambda texts: [c + b"</row>" for c in _text_column_cells(texts, style, as_text)])
        j = 0
        while j < len(cols) - (last is not None):
            column = cols[j]
            if isinstance(column, NumberColumns):  # already a block, and its text for a whole chunk
                whole = start == 0 and stop == len(column)
                json = column.json if column.json is not None and whole else number_json(column.values[start:stop])
                segments.append(_run_cells(json, self._styles[j]))
                j += column.width
                continue
            part = column[start:stop]
            if isinstance(part, np.ndarray):
                style, kind = self._styles[j], part.dtype.kind == "f"
                run = [part]
                while (j + len(run) < len(cols) and isinstance(cols[j + len(run)], np.ndarray)
                       and self._styles[j + len(run)] == style and (cols[j + len(run)].dtype.kind == "f") == kind):
                    run.append(cols[j + len(run)][start:stop])
                segments.append(_run_cells(number_json(run[0][:, None] if len(run) == 1 else np.column_stack(run)),
                                           style))
                j += len(run)
            else:
                segments.append(_text_column_cells(part, self._styles[j], j in self._text_columns))
                j += 1
        segments.append(ends)
        # The rows' pieces interleaved by list slicing, then one join: C-level throughout.
        width = len(segments)
        pieces: list[bytes] = [b""] * (n * width)
        for k, segment in enumerate(segments):
            pieces[k::width] = segment
        data = b"".join(pieces)

        if self._sheet_bytes + len(data) > _ENTRY_LIMIT:
            # Rare (~>1M rows of very wide or text-heavy data): cut at a row
            # boundary, finish this sheet and render the rest on the next one.
            cut = data.rfind(b"<row ", 0, _ENTRY_LIMIT - self._sheet_bytes + 1)
            done = data.count(b"<row ", 0, cut) if cut > 0 else 0
            if done == 0 and self._sheet_rows == 0:
                raise ValueError("a single row is too large for an .xlsx sheet")
            self._emit(data[:cut] if done else b"", done)
            self._next_sheet()
            return start + done
        self._emit(data, stop - start)
        return stop

    def _emit(self, data: bytes, nrows: int) -> None:
        if data:
            self._submit(self._w_write, data)
        self._sheet_bytes += len(data)
        self._sheet_rows += nrows
        self.rows_written += nrows

    def _next_sheet(self) -> None:
        if self._sheet_rows != -1:
            self._end_sheet()
        n = len(self._sheets) + 1
        suffix = f"_{n}" if n > 1 else ""
        name = self._sheet_name[: 31 - len(suffix)] + suffix
        self._sheets.append((name, 0))
        remaining = (self._expected or 0) - self.rows_written
        # More rows than announced (a wrong hint) continue on a sheet without a size record.
        self._sheet_cap = min(self._max_data_rows, remaining) if remaining > 0 else self._max_data_rows
        dimension = f"A1:{self._letters[-1]}{self._sheet_cap + 1}" if remaining > 0 else None
        head = _sheet_head(
            selected=n == 1, frozen=True, widths={j: _HIGHLIGHT_WIDTH for j in self._highlight},
            dimension=dimension,
        ) + self._header_row
        data = head.encode()
        self._submit(self._w_open, f"xl/worksheets/sheet{n}.xml", data)
        self._sheet_rows, self._sheet_bytes = 0, len(data)

    def _end_sheet(self) -> None:
        name, _ = self._sheets[-1]
        self._sheets[-1] = (name, self._sheet_rows)
        ref = f"A1:{self._letters[-1]}{self._sheet_rows + 1}"
        self._submit(self._w_close, f'</sheetData><autoFilter ref="{ref}"/></worksheet>'.encode())
        self._sheet_rows = -1

    def _summary_xml(self) -> bytes:
        bold = _STYLE_ATTR[_HEADER]
        rows = [
            f'<row r="1"><c r="A1"{bold} t="inlineStr"><is><t>item</t></is></c>'
            f'<c r="B1"{bold} t="inlineStr"><is><t>value</t></is></c></row>'
        ]
        for r, (item, value) in enumerate(self._summary or (), start=2):
            if isinstance(value, bool):
                v = f'<c r="B{r}" t="b"><v>{int(value)}</v></c>'
            elif isinstance(value, (int, np.integer)):
                v = f'<c r="B{r}"><v>{int(value)}</v></c>'
            elif isinstance(value, (float, np.floating)):
                v = f'<c r="B{r}"><v>{float(value)!r}</v></c>' if math.isfinite(value) else ""
            else:
                v = f'<c r="B{r}" t="inlineStr">{_inline_str(guard_text(str(value)))}</c>'
            rows.append(f'<row r="{r}"><c r="A{r}" t="inlineStr">{_inline_str(guard_text(item))}</c>{v}</row>')
        return (
            _sheet_head(selected=False, frozen=False, widths={0: 30, 1: 20}) + "".join(rows) + "</sheetData></worksheet>"
        ).encode()

    def _package_parts(self) -> list[tuple[str, bytes]]:
        names = [name for name, _ in self._sheets]
        if self._summary is not None:
            names.append(SUMMARY_SHEET)
        names += [name for name, _ in self._tables]
        sheets = "".join(
            f'<sheet name="{_escape_attr(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(names, 1)
        )
        last = self._letters[-1]
        filters = "".join(  # Excel expects a hidden defined name for each autofilter
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"{_escape(_quote_sheet(name))}!$A$1:${last}${rows + 1}</definedName>"
            for i, (name, rows) in enumerate(self._sheets)
        )
        workbook = (
            f'{_XML_DECL}<workbook {_NS} {_NS_R}><bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{sheets}</sheets><definedNames>{filters}</definedNames></workbook>"
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(names) + 1)
        )
        n = len(names)
        workbook_rels = (
            f'{_XML_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'{rels}<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
        )
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        content_types = (
            f'{_XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/>'
            f"{overrides}</Types>"
        )
        root_rels = (
            f'{_XML_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'  # noqa: E501
            f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>"
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        core = (
            f"{_XML_DECL}<cp:coreProperties"
            ' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Beyond</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified></cp:coreProperties>'
        )
        app = (
            f"{_XML_DECL}<Properties"
            ' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>Beyond</Application></Properties>"
        )
        parts = {
            "[Content_Types].xml": content_types,
            "_rels/.rels": root_rels,
            "docProps/core.xml": core,
            "docProps/app.xml": app,
            "xl/workbook.xml": workbook,
            "xl/_rels/workbook.xml.rels": workbook_rels,
            "xl/styles.xml": _STYLES,
        }
        return [(name, text.encode()) for name, text in parts.items()]

    # -- zip output (pool thread) ---------------------------------------------
    # Every zip operation goes through the single pool thread, in order, so the
    # deflate of one block overlaps the rendering of the next.

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            self._timed(fn, *args)
            return
        self._pending.append(self._pool.submit(self._timed, fn, *args))
        if len(self._pending) > _MAX_PENDING:  # bounds memory; re-raises worker errors
            started = time.perf_counter()
            while len(self._pending) > _MAX_PENDING:
                self._pending.popleft().result()
            self.wait_seconds += time.perf_counter() - started

    def _timed(self, fn: Callable[..., None], *args: Any) -> None:
        started = time.perf_counter()
        try:
            fn(*args)
        finally:
            self.deflate_seconds += time.perf_counter() - started

    def _drain(self) -> None:
        started = time.perf_counter()
        while self._pending:
            self._pending.popleft().result()
        self.wait_seconds += time.perf_counter() - started

    def _w_open(self, name: str, head: bytes) -> None:
        self._stream = self._zip.open(name)
        self._stream.write(head)

    def _w_write(self, data: bytes) -> None:
        assert self._stream is not None
        self._stream.write(data)

    def _w_close(self, tail: bytes) -> None:
        assert self._stream is not None
        self._stream.write(tail)
        self._stream.close()
        self._stream = None

    def _w_writestr(self, name: str, data: bytes) -> None:
        self._zip.writestr(name, data)

    def _abort(self) -> None:
        """Stop writing and delete the partial file (errors here are secondary)."""
        for future in self._pending:
            future.cancel()
        for future in self._pending:
            try:
                future.result()
            except BaseException:  # already failing: the first error is the one to report
                pass
        self._pending.clear()
        self._zip.abort()
