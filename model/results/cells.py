"""The cell rules both result files share (the .xlsx, model/results/xlsx.py, and its CSV twin,
model/results/files.py), and that the quality check and the model template use too: which
text a spreadsheet could take for a formula and how it is guarded (`needs_guard`,
`guard_text`), which text is a plain number (`is_plain_number`), numbers formatted once for
both files (`number_json`, `NumberColumns`), and a mostly empty text column (`SparseTexts`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

_PLAIN_NUMBER = re.compile(
    # At most 15 integer digits: Excel keeps 15 significant digits, so a longer
    # integer (an account or order id) would be silently changed as a number.
    r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
)
# A spreadsheet may read text starting with one of these as a formula (OWASP "CSV
# injection"), also after leading whitespace: LibreOffice's "Trim spaces" CSV import option
# removes it.  See needs_guard.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Invisible format characters (Unicode category Cf in the BMP: soft hyphen, the zero-width
# space, joiners and non-joiners, bidi marks and isolates, the word joiner, the BOM) are no
# whitespace to str.strip(), yet show nothing: "\ufeff=1+1" looks like a formula to the user
# and may be imported as one once a program drops the BOM.  They count as leading blanks.
INVISIBLE = "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e" \
            "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
_LEADING_BLANKS = re.compile("[\\s" + INVISIBLE + "]*")
# Finds a value that may need guard_text in values joined by NUL, the first one being preceded
# by a NUL too (a superset of needs_guard: the same leading blanks), so a column without one
# costs one C-level search: see maybe_formula.
_FORMULA_AFTER_NUL = re.compile("\x00\\s*[" + re.escape("".join(FORMULA_START)) + "]")
_FORMULA_AFTER_NUL_INVISIBLE = re.compile("\x00[\\s" + INVISIBLE + "]*[" + re.escape("".join(FORMULA_START)) + "]")


def is_blank_lead(c: str) -> bool:
    """Whether a value starting with the character `c` may hide a formula behind it
    (whitespace or an INVISIBLE character)."""
    return c.isspace() or c in INVISIBLE


def maybe_formula(joined: str) -> bool:
    """Whether a value of a column joined by NUL may need guard_text.  The pattern starts with
    a literal NUL, so the regex engine jumps from NUL to NUL instead of trying an alternation
    ("at the start or after a NUL") at every character: 6 to 15 times faster on ids and
    row_status texts."""
    # INVISIBLE is not ASCII, and str.isascii() is O(1): an ASCII column (ids, most texts)
    # keeps the plain pattern, which its narrower class makes about 30% faster.
    pattern = _FORMULA_AFTER_NUL if joined.isascii() else _FORMULA_AFTER_NUL_INVISIBLE
    return pattern.search("\x00" + joined) is not None


def needs_guard(s: str) -> bool:
    """True for text a spreadsheet could take for a formula: it starts with = + - @ tab or
    CR, or has = + - @ after leading whitespace or invisible characters (" =1+1",
    "\\u00a0@SUM(A1)", "\\ufeff=1+1", "\\u200b =1+1").  A plain number (`is_plain_number`),
    also after spaces ("-1.5", " -2"), is a number, not a formula."""
    if s.startswith(FORMULA_START):
        return not is_plain_number(s)
    if not s or not is_blank_lead(s[0]):
        return False
    head = s.lstrip()
    if head and head[0] in INVISIBLE:  # rare: the slower pattern only then
        match = _LEADING_BLANKS.match(s)
        head = s[match.end():] if match else s
    return head.startswith(FORMULA_START) and not is_plain_number(head)


def guard_text(s: str) -> str:
    """Defuse CSV/formula injection (OWASP): prefix "'" to text `needs_guard` flags, so no
    spreadsheet ever evaluates it as a formula; anything else is returned unchanged."""
    return "'" + s if needs_guard(s) else s


def is_plain_number(s: str) -> bool:
    """True for a plain decimal number a spreadsheet should store as a number:
    optional "-", digits, optional fraction, optional exponent ("0", "-1",
    "17.99", "1e-3").  False for leading zeros ("007": ids stay text), "+1",
    " 1", "1,5", "nan", "inf", hex, more than 15 integer digits (Excel would
    change the value) and values out of the normal double range ("1e999")."""
    if _PLAIN_NUMBER.fullmatch(s) is None:
        return False
    f = abs(float(s))
    if f == 0.0:  # a real zero, or an underflow such as "1e-999"?
        return s.lower().partition("e")[0].strip("-0.") == ""
    return 2.2250738585072014e-308 <= f <= 1.7976931348623157e308


class NumberColumns:
    """Adjacent number columns of a chunk as one rows x k array (float, or integer for whole
    numbers), for `StreamingXlsxWriter.write_chunk`: they take k of its columns.  ``json``:
    the array's `number_json`, when the caller formats it for another file as well (the CSV
    result), so the numbers are turned into text once.  Given the text alone, the numbers
    are read back from it if needed (exactly: it is the shortest round-trip text)."""

    def __init__(self, values: np.ndarray | None, json: bytes | None = None, kind: str = "f",
                 shape: tuple[int, int] | None = None) -> None:
        """With the text alone: kind "f" for floats, "i" for whole numbers; shape (rows,
        columns) when the caller knows it (else it is counted in the text)."""
        if values is None and json is None:
            raise ValueError("NumberColumns needs the values or their number_json")
        if values is not None and (values.ndim != 2 or values.dtype.kind not in "fiu"):
            raise ValueError(f"NumberColumns needs a 2-D number array, got {values.dtype} {values.shape}")
        self._values, self.json = values, json
        if values is not None:
            self.kind = "f" if values.dtype.kind == "f" else "i"
            self.rows, self.width = int(values.shape[0]), int(values.shape[1])
            return
        assert json is not None
        self.kind = kind
        self.rows = shape[0] if shape else 0 if json == b"[]" else json.count(b"],[") + 1
        first = json[:json.find(b"]") + 1].count(b",") + 1 if self.rows else 0  # the first row's width
        self.width = shape[1] if shape else first
        if first != self.width:  # a wrong width would corrupt every row
            raise ValueError(f"NumberColumns: the text has {first} columns, not {self.width}")

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            assert self.json is not None
            self._values = np.array(orjson.loads(self.json), dtype=np.float64 if self.kind == "f" else np.int64
                                    ).reshape(self.rows, self.width)
        return self._values

    def __len__(self) -> int:
        return self.rows


def number_json(values: np.ndarray) -> bytes:
    """A 2-D number array as orjson writes it, "[[17.99,null],[20.57,1e-7]]": the shortest text
    that reads back to each double, NaN and +-inf as null; one C call for the whole block."""
    return orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)


class SparseTexts:
    """A text column that is empty but in a few rows (row_status: a text only where a row has
    a problem), kept as its length, the rows that have a text (ascending) and their texts.
    Both result files make cells for those texts alone and share one empty cell for the
    rest, so nothing runs per row: for a million rows of which 4% are flagged, that is the
    difference between 40,000 and 1,000,000 Python steps per file."""

    __slots__ = ("rows", "at", "texts")

    def __init__(self, rows: int, at: Sequence[int] | np.ndarray = (), texts: Sequence[str] = ()) -> None:
        self.rows = rows
        self.at = np.asarray(at, dtype=np.int64)
        self.texts = list(texts)
        if len(self.at) != len(self.texts):
            raise ValueError(f"SparseTexts: {len(self.at)} rows but {len(self.texts)} texts")
        if len(self.at) and (self.at[0] < 0 or self.at[-1] >= rows or np.any(np.diff(self.at) <= 0)):
            raise ValueError("SparseTexts: the rows must be ascending, distinct and within the column")

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, rows: slice) -> SparseTexts:
        start, stop, step = rows.indices(self.rows)
        if step != 1:
            raise ValueError("SparseTexts takes slices of adjacent rows only")
        stop = max(start, stop)
        lo, hi = np.searchsorted(self.at, (start, stop)).tolist()
        return SparseTexts(stop - start, self.at[lo:hi] - start, self.texts[lo:hi])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SparseTexts) and self.tolist() == other.tolist()

    def __reduce__(self) -> tuple[Any, ...]:  # pickled for the workbook's own process
        return SparseTexts, (self.rows, self.at, self.texts)

    def tolist(self) -> list[str]:
        """Every row's text, "" where none."""
        out = [""] * self.rows
        for i, text in zip(self.at.tolist(), self.texts):
            out[i] = text
        return out

    def spread(self, empty: bytes, convert: Callable[[list[str]], list[bytes]]) -> list[bytes]:
        """A cell (or field) per row: `convert` of the texts, `empty` everywhere else."""
        out = [empty] * self.rows
        if self.texts:
            for i, encoded in zip(self.at.tolist(), convert(self.texts)):
                out[i] = encoded
        return out
