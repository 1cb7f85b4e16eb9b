"""Inspect an uploaded CSV against the model's feature columns, and read it back in chunks.

This is the one place that decides whether an uploaded CSV is usable.  The web panel, the
JSON API, the CLI and the prediction code all show its `Problem` messages to users, so every
message is a full sentence naming the problem, the column and the row.

Rules (the tests in tests/test_csv_input.py and the corpus in tests/data/hostile/ pin them):

* Row numbers are what a spreadsheet shows: the header is row 1 and every CSV record after it
  is one more row.  Blank lines count as rows (a spreadsheet shows them as empty rows) but are
  not data: they are skipped, exactly like pandas skips them.  A line holding only spaces/tabs
  (other than the delimiter) is blank too, again like pandas.  So without quoted multi-line
  values, row N is line N of the file in a text editor.
* Encoding: UTF-8 with or without BOM; if any byte of the file is not valid UTF-8, cp1252; if
  cp1252 cannot decode it either, latin-1 (which decodes anything).
* A NUL byte anywhere, or a lot of control characters in the first 64 KiB, means "binary" (with
  a hint when it is an Excel workbook).  UTF-16 (Excel's "Unicode Text") gets its own message.
* Delimiter: "," ";" or tab, chosen on the first non-blank line: the one whose fields match the
  most feature names, then the one giving the most fields, then that order (so a one-column
  file is read with ",").  Decimal commas ("17,99") are accepted only with ";" (then a cell may
  use either "." or ",").
* Feature columns match header cells ignoring case and surrounding spaces.  Extra columns are
  passed through untouched; extra columns may have an empty name.  Non-empty names must be
  unique (after the same normalisation).
* Feature cells must fit the feature's type (`FeatureSpec`; a feature given as a bare name
  is a number), or be empty or a missing word (see `MISSING_WORDS`, any case), which the model
  gets as a missing value for every type:
  - number: a number (surrounding spaces allowed); inf/Infinity is rejected.
  - integer: a number with no fraction ("3", "3.0", "3e2"; not "3.5"), at most
    `INTEGER_LIMIT` either way.
  - boolean: true/false, yes/no, 1/0, t/f, y/n (`TRUE_WORDS`, `FALSE_WORDS`), any case,
    surrounding spaces allowed.
  - datetime: the feature's strftime format (surrounding spaces allowed); with fractions of a
    second (".%f") whole seconds are accepted too.
  - category: any text.  Values not among the training categories are not problems (the
    pipeline decides, e.g. OneHotEncoder(handle_unknown="ignore")); `unseen_categories`
    counts them per feature.  Category and text cells reach the model exactly as written.
  - text: any text.
* A required feature's column must be present; an optional one may be absent (the model then
  gets it with every cell missing, see `model_values`).
* Quoting is RFC 4180: a quote inside a quoted value is doubled.  Text after a closing quote
  (`"ab"cd`) and a quote left open at the end of the file are rejected.
* Line breaks: LF, CRLF or a lone CR (old Mac).  One pandas quirk is refused rather than
  misread: a row starting with the delimiter right after a blank line ended by a lone CR.
* Every accepted file is read by pandas (`iter_chunks`, and the prediction code) exactly as the
  csv module read it here, always with the options `read_csv_options` builds; a property test
  in tests/test_csv_input.py checks that.
* Limits: a physical line longer than `MAX_LINE_CHARS` and a value longer than the csv
  module's field_size_limit (131,072 by default; we do not raise it because it is
  process-global) are problems, not exceptions.  After `SCAN_LIMIT` problems scanning stops
  and a last problem says so.  The report keeps only the first `max_problems` problems (in row
  order); `total_problems` counts them all.
* When the file is binary, empty, has too many columns, its first row looks like data, a line is
  too long or the quoting is broken, scanning stops there (rows then counts the rows read so far).

How it stays fast (100,000 rows x 30 features in about half a second, see the tests): one pass
over the raw bytes for binary/encoding checks; one pass with the csv module for the structure
(field counts, row numbers, quoting); and, in lockstep with it, pandas' C parser reads only the
feature columns in chunks and infers float columns natively (with `usecols` pandas keeps every
non-blank record, even one with a wrong field count, so the i-th pandas row is the i-th record
the csv module found).  Only a column chunk that pandas
could not read as numbers goes through `pd.to_numeric`, the same conversion `feature_matrix`
uses, to find the offending cells.  Columns of the other types are read as their text and
checked once per distinct value (`pd.factorize`) by the conversions the prediction uses
(`model_values`); number columns never take that path.  Nothing holds more than one chunk of
rows in memory.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import math
import os
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO, TypeAlias

import numpy as np
import pandas as pd

from model.schema import BOOLEAN, CATEGORY, DATETIME, INTEGER, NUMERIC_TYPES, FeatureSpec

PathLike: TypeAlias = str | os.PathLike[str]

DELIMITERS = (",", ";", "\t")
MAX_LINE_CHARS = 10_000_000  # a longer line is not a table row (and would cost memory)
SCAN_LIMIT = 100_000  # stop scanning after this many problems; nobody reads more
BLOCK_ROWS = 50_000  # rows per pandas chunk in the cell check
SNIFF_BYTES = 64 * 1024
TRUSTED_VERSION = 1  # the shape of CsvReport.trusted_json(); another one is not trusted

# Missing values in feature cells, compared after strip() and lower() (see _to_floats).
MISSING_WORDS = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})
# Their common spellings, as pandas' na_values (exact matches) for the feature columns: pandas
# reads those as NaN while it parses a column as floats.  A column holding any other spelling
# (" N/A ") stays text and goes through _to_floats, which knows every spelling.
_NA_SPELLINGS = sorted({variant for word in MISSING_WORDS
                        for variant in (word, word.upper(), word.title(), word.replace("nan", "NaN"))})
# Boolean cells, compared after strip() and lower() (see _to_booleans).
TRUE_WORDS = frozenset({"true", "yes", "1", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "f", "n"})
BOOLEAN_HINT = "true/false, yes/no, 1/0"  # the spellings a message suggests
# Integer cells go through float64, which holds every whole number up to 2**53 exactly.
INTEGER_LIMIT = 2**53
# Datetime units whose range is narrower than the years 1-9999 a format's %Y can give.
_DATETIME_RANGE = {"datetime64[ns]": (pd.Timestamp.min, pd.Timestamp.max)}
_FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS", "%f": "ffffff"}

# Control bytes that text files do not contain (tab, LF, VT, FF, CR are allowed; FileMaker
# writes VT for line breaks inside a value).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in b"\t\n\x0b\x0c\r") + b"\x7f"
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # bytes cp1252 cannot decode
_BINARY = "This does not look like a CSV text file (it contains binary data)."
_EXCEL_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (zip) and .xls (OLE2)
_EXCEL_HINT = (" It looks like an Excel workbook: upload it with its .xlsx name (workbooks are read "
               "as they are), or save it as \"CSV UTF-8\" and upload that.")


@dataclass(frozen=True)
class Problem:
    message: str  # a full sentence, e.g. "Row 7, column 'mean radius': 'abc' is not a number."
    row: int | None = None  # spreadsheet row: header = 1, first data row = 2
    column: str | None = None  # header cell as written (or the feature name if missing)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # "utf-8-sig", "cp1252" or "latin-1"
    delimiter: str  # "," ";" or "\t"
    decimal: str  # "," only with ";" (then both "." and "," are accepted), else "."


@dataclass
class CsvReport:
    ok: bool
    problems: list[Problem]
    total_problems: int
    format: CsvFormat | None
    header: list[str]
    feature_columns: dict[str, int]  # feature name -> file column index, for the columns present
    rows: int
    # category feature -> cells holding a value not seen in training (for a quality report)
    unseen_categories: dict[str, int] = field(default_factory=dict)
    # Of total_problems, those of single cells that do not fit their column's type (text in a
    # number column...), and the data rows holding them: such a file can still be read, those
    # cells becoming missing values (see `cell_problems`); every other problem is structural.
    cell_problems: int = 0
    bad_rows: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def trusted_json(self) -> str:
        """What reading the file needs, as JSON, for a worker to run it without scanning it
        again (job_inputs.checked_report, migration 012): the format, the header, where the
        features are, the counts. Not the problem messages: a file that is read on trust was
        accepted, so nothing shows them again; the counts keep `ok`, `readable` and
        `acceptable` as they were."""
        if self.format is None:
            raise ValueError("trusted_json() needs the report of a file that could be read.")
        return json.dumps({
            "version": TRUSTED_VERSION,
            "format": asdict(self.format), "header": self.header, "feature_columns": self.feature_columns,
            "rows": self.rows, "cell_problems": self.cell_problems, "bad_rows": self.bad_rows,
            "unseen_categories": self.unseen_categories, "total_problems": self.total_problems,
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_trusted_json(cls, text: str) -> CsvReport:
        """The report `trusted_json` stored (problems: none kept). ValueError for anything else,
        e.g. another version of the shape: the caller then checks the file again."""
        try:
            data = json.loads(text)
            if data.get("version") != TRUSTED_VERSION:
                raise ValueError(f"trusted report version {data.get('version')!r}, not {TRUSTED_VERSION}")
            fmt = data["format"]
            header = [str(h) for h in data["header"]]
            total = int(data["total_problems"])
            return cls(
                ok=total == 0, problems=[], total_problems=total,
                format=CsvFormat(str(fmt["encoding"]), str(fmt["delimiter"]), str(fmt["decimal"])),
                header=header, feature_columns={str(k): int(v) for k, v in data["feature_columns"].items()},
                rows=int(data["rows"]),
                unseen_categories={str(k): int(v) for k, v in data["unseen_categories"].items()},
                cell_problems=int(data["cell_problems"]), bad_rows=int(data["bad_rows"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a trusted report: {exc!r}") from exc

    @property
    def readable(self) -> bool:
        """Whether every problem is a cell problem: the file can be read and scored row by
        row, the rows with bad cells left unscored."""
        return self.format is not None and self.total_problems == self.cell_problems

    def acceptable(self, max_bad_rows_percent: float) -> bool:
        """ok, or only cell problems confined to at most `max_bad_rows_percent` % of the data
        rows (the setting MAX_BAD_ROWS_PERCENT; 0: no bad cell at all)."""
        if self.ok:
            return True
        return (max_bad_rows_percent > 0 and self.readable and self.rows > 0
                and self.bad_rows * 100 <= max_bad_rows_percent * self.rows)


# ---------------------------------------------------------------------------------------------
# Public API


def inspect_csv(path: str | os.PathLike, features: Sequence[str | FeatureSpec], *,
                max_problems: int = 20, max_columns: int = 16_000) -> CsvReport:
    """Check an uploaded CSV; never raises on bad content (OSError if the path is unreadable).

    features: the model's `FeatureSpec`s (Model.feature_specs); a bare name is a required
    number."""
    problems = _Problems(max_problems)
    report = CsvReport(ok=False, problems=problems.kept, total_problems=0, format=None,
                       header=[], feature_columns={}, rows=0)
    encoding = _check_bytes(path, problems)
    if encoding is not None:
        _Scan(path, feature_specs(features), max_columns, encoding, report, problems).run()
    report.total_problems = problems.total
    report.ok = problems.total == 0
    return report


def read_csv_options(fmt: CsvFormat, numbers: Collection[int] = (), texts: Collection[int] = (),
                     *, decimal: str | None = None) -> dict[str, Any]:
    """Keyword arguments for every ``pd.read_csv`` of an upload (the cell check here,
    `iter_chunks`, the prediction reader), so that pandas reads the records the csv pass
    found: the file's delimiter and encoding, RFC 4180 quotes, blank lines skipped, an
    iterator for ``get_chunk``.  header=None: the header is the first record pandas returns
    (skiprows would count physical lines, and blank lines before the header would shift it).

    numbers: positions of feature columns, parsed as floats where pandas can (the common
    missing-value spellings become NaN; decimal mark `decimal`, by default the file's); a
    column pandas cannot parse comes back as text, for `_to_floats`.  texts: positions read as
    their exact text ("" stays "", nothing becomes NaN): other columns, and features of the
    other types.  Only the listed columns are read; with neither, every column is read as text.
    """
    options: dict[str, Any] = {
        "sep": fmt.delimiter, "encoding": fmt.encoding, "header": None, "engine": "c",
        "quotechar": '"', "doublequote": True, "skip_blank_lines": True,
        "keep_default_na": False, "iterator": True, "low_memory": False,
    }
    if not numbers and not texts:
        return {**options, "dtype": str, "na_filter": False}
    return {
        **options,
        "usecols": sorted({*numbers, *texts}),
        "dtype": dict.fromkeys(texts, str),
        "na_values": dict.fromkeys(numbers, _NA_SPELLINGS),
        "decimal": decimal or fmt.decimal,
    }


def iter_chunks(path: str | os.PathLike, report: CsvReport,
                chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """Yield the data rows of an ok file as DataFrames of exact strings.

    Columns are the positional integers 0..n-1 (header names may be empty or odd), the index
    is the 0-based data row number, "" stays "" and nothing is stripped or converted.
    """
    fmt = report.format
    if not report.readable or fmt is None:
        raise ValueError("iter_chunks() needs the report of a file without structural problems.")
    with pd.read_csv(path, **read_csv_options(fmt)) as reader:
        start, size = 0, chunksize + 1
        while True:
            try:
                chunk = reader.get_chunk(size)
            except StopIteration:
                return
            if start == 0:
                chunk = chunk.iloc[1:]
            size = chunksize
            if len(chunk):
                chunk.index = pd.RangeIndex(start, start + len(chunk))
                start += len(chunk)
                yield chunk


def feature_matrix(chunk: pd.DataFrame, report: CsvReport,
                   features: Sequence[str]) -> np.ndarray:
    """float64 (rows x features) in the order of `features`; missing values become NaN, and
    so do cells that are not finite numbers (`cell_problems` says which)."""
    decimal_comma = report.format is not None and report.format.decimal == ","
    out = np.empty((len(chunk), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        if name not in report.feature_columns:
            raise ValueError(f"The report has no column for feature {name!r}.")
        texts = chunk[report.feature_columns[name]].to_numpy(dtype=object)
        nums = _to_floats(texts, decimal_comma)[0]
        nums[np.isinf(nums)] = np.nan
        out[:, j] = nums
    return out


@dataclass(frozen=True)
class CellProblem:
    """A cell of a data chunk that does not fit its feature's type (see `cell_problems`)."""

    position: int  # row position in the chunk
    feature: str  # the feature's name
    column: str  # the header cell as written
    text: str  # e.g. "'abc' is not a number in column 'mean radius'"


def cell_problems(chunk: pd.DataFrame, report: CsvReport,
                  features: Sequence[str | FeatureSpec]) -> list[CellProblem]:
    """The cells of `chunk` that do not fit their feature's type, in row order, judged exactly
    as `inspect_csv` judged them.  `chunk`: columns keyed by file column index, as any
    ``pd.read_csv(**read_csv_options(...))`` of the file gives them (number columns parsed as
    floats or left as text, other types as text).  Only the features present are checked."""
    specs = [s for s in feature_specs(features) if s.name in report.feature_columns]
    columns = {report.feature_columns[s.name]: (report.header[report.feature_columns[s.name]], s)
               for s in reversed(specs)}
    indices = sorted(columns)
    names = [columns[i][0] for i in indices]
    specs = [columns[i][1] for i in indices]
    decimal_comma = report.format is not None and report.format.decimal == ","
    flags, texts = _flag_cells(chunk, indices, specs, decimal_comma)
    found = []
    for i, j in zip(*np.nonzero(flags)):
        value = _cell_text(chunk, texts, int(i), int(j), indices)
        found.append(CellProblem(int(i), specs[j].name, names[j],
                                 f"{_show(value)} {_what(specs[j], int(flags[i, j]))} in column '{names[j].strip()}'"))
    return found


def header_fits(header: Sequence[str], features: Sequence[str | FeatureSpec]) -> bool:
    """Whether a header (as ``CsvReport.header`` holds it) has every required column of a
    model, matched as the check matches them (case, spaces and a stray BOM ignored)."""
    present = {_norm(cell) for cell in header}
    return all(_norm(spec.name) in present for spec in feature_specs(features) if spec.required)


def feature_specs(features: Sequence[str | FeatureSpec]) -> list[FeatureSpec]:
    """Specs for features given as specs or bare names (a required number)."""
    return [f if isinstance(f, FeatureSpec) else FeatureSpec(str(f)) for f in features]


def model_values(spec: FeatureSpec, values: np.ndarray | None, n: int) -> Any:
    """The column the model gets for feature `spec` (see `FeatureSpec`), from `values`:
    float64 numbers for number and integer (as `_to_floats` or pandas' parser read them), the
    cells' exact texts (object array) for the other types, or None for an optional column the
    file lacks (then `n` missing values).  The same conversions decide at upload whether a
    cell is accepted, so what is predicted is exactly what was accepted."""
    if spec.type in NUMERIC_TYPES:
        if values is None:
            return np.full(n, np.nan)
        if spec.type == INTEGER and not np.isnan(values).any():
            return values.astype(np.int64)
        return values
    texts = np.full(n, "", dtype=object) if values is None else values
    if spec.type == BOOLEAN:
        booleans, _ = _to_booleans(texts)
        return booleans if pd.isna(booleans).any() else booleans.astype(bool)
    if spec.type == DATETIME:
        return _to_datetimes(texts, spec)[0]
    return pd.array(_to_texts(texts), dtype="str")


def feature_frame(chunk: pd.DataFrame, report: CsvReport,
                  features: Sequence[str | FeatureSpec]) -> pd.DataFrame:
    """The model's input for a chunk from `iter_chunks`: one column per feature, in the order
    of `features`, typed by `model_values` (an optional feature the file lacks is missing)."""
    decimal_comma = report.format is not None and report.format.decimal == ","
    columns = {}
    for spec in feature_specs(features):
        index = report.feature_columns.get(spec.name)
        if index is None and spec.required:
            raise ValueError(f"The report has no column for feature {spec.name!r}.")
        values = None if index is None else chunk[index].to_numpy(dtype=object)
        if values is not None and spec.type in NUMERIC_TYPES:
            values = _to_floats(values, decimal_comma)[0]
        columns[spec.name] = model_values(spec, values, len(chunk))
    return pd.DataFrame(columns, index=chunk.index)


# ---------------------------------------------------------------------------------------------
# Helpers


class _Problems:
    """Keeps the first `keep` problems and counts all of them."""

    def __init__(self, keep: int):
        self.keep, self.total = max(keep, 0), 0
        self.kept: list[Problem] = []

    @property
    def room(self) -> int:
        return self.keep - len(self.kept)

    def add(self, message: str, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        if self.room > 0:
            self.kept.append(Problem(message, row, column))

    def add_batch(self, count: int, first: list[Problem]) -> None:
        """`count` problems of which `first` are the earliest ones, sorted."""
        self.total += count
        self.kept.extend(first[: self.room])

    def stop_notice(self, message: str, row: int) -> None:
        # Replace the last kept problem if necessary so the user always sees why we stopped.
        if self.keep and not self.room:
            self.kept.pop()
        self.add(message, row)


def _norm(name: str) -> str:
    # "\ufeff": a byte order mark left inside the file (e.g. by concatenating two CSV files)
    return name.strip().strip("\ufeff").strip().casefold()


def _show(value: str, limit: int = 40) -> str:
    """A cell value for a message: quoted, shortened, control characters made visible."""
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in value) + "'"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _to_floats(texts: np.ndarray, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (float64 numbers, bad) where bad marks cells that are neither a number nor a
    missing-value word.  Missing and bad cells are NaN.  The single definition of "a number",
    shared by inspect_csv and feature_matrix so what is accepted is exactly what is predicted.
    """
    nums = np.asarray(pd.to_numeric(texts, errors="coerce"), dtype=np.float64)
    bad = np.zeros(len(texts), dtype=bool)
    failed = np.flatnonzero(np.isnan(nums))  # usually few cells: per-cell Python is fine here
    if failed.size:
        if decimal_comma:
            retry = np.array([t.replace(",", ".") for t in texts[failed]], dtype=object)
            nums[failed] = pd.to_numeric(retry, errors="coerce")
            failed = failed[np.isnan(nums[failed])]
        grouped = _thousands_values(texts[failed], decimal_comma)
        if grouped is not None:
            nums[failed] = grouped
            failed = failed[np.isnan(grouped)]
        missing = np.fromiter((t.strip().lower() in MISSING_WORDS for t in texts[failed]),
                              dtype=bool, count=failed.size)
        bad[failed[~missing]] = True
    return nums, bad


# Thousands separators, accepted only where the file's convention leaves no doubt: in a file
# whose decimal mark is "." (comma or tab delimited) "1,865.5" and "1,865,000" (but not
# "1,865", which may be a decimal comma); in a ";" file, whose decimal mark is "," (a point
# is accepted there as a decimal mark too), "1.865,5" and "1.865.000" (but not "1.865").
_GROUPED_POINT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")  # 1,865.5 (groups of ",")
_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")  # 1.865,5 (groups of ".")


def _thousands_value(text: str, decimal_comma: bool) -> float:
    """The number a cell with thousands separators means in this file, else NaN."""
    text = text.strip()
    if decimal_comma:
        if _GROUPED_COMMA.fullmatch(text) and ("," in text or text.count(".") > 1):
            return float(text.replace(".", "").replace(",", "."))
    elif _GROUPED_POINT.fullmatch(text) and ("." in text or text.count(",") > 1):
        return float(text.replace(",", ""))
    return math.nan


def _thousands_values(texts: np.ndarray, decimal_comma: bool) -> np.ndarray | None:
    if not any(("," in t and "." in t) or t.count(",") > 1 or t.count(".") > 1 for t in texts):
        return None  # the common case: no cell has the shape
    return np.fromiter((_thousands_value(t, decimal_comma) for t in texts), dtype=np.float64,
                       count=len(texts))


_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:EUR|USD|GBP|CHF)\b")


def number_hint(value: str, decimal_comma: bool) -> str:
    """A short hint for a cell that is not a number, when it looks like a common mistake."""
    text = value.strip()
    if _GROUPED_POINT.fullmatch(text) or _GROUPED_COMMA.fullmatch(text):
        example = "1865,5, not 1.865,5" if decimal_comma else "1865.5, not 1,865.5"
        return f" Remove the thousands separators (write {example})."
    if text.endswith("%") or text.startswith("%"):
        return " Remove the percent sign: write the number alone (0.25 or 25, as the model was trained)."
    if _CURRENCY.search(text):
        return " Remove the currency symbol: write the amount alone."
    if not decimal_comma and _comma_number(text):
        return " Use a point (.) as the decimal separator."
    return ""


def _per_value(texts: np.ndarray, classify: Any) -> tuple[np.ndarray, ...]:
    """classify(distinct texts) -> arrays, one entry per distinct text; returns them spread
    back over `texts`.  Typed columns repeat few values, so the Python work stays small."""
    codes, uniques = pd.factorize(texts)
    return tuple(np.asarray(a)[codes] for a in classify(list(uniques)))


def _missing_flags(uniques: list[str]) -> np.ndarray:
    return np.fromiter((u.strip().lower() in MISSING_WORDS for u in uniques), dtype=bool, count=len(uniques))


def _to_booleans(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (object array of True/False, NaN where missing or bad; bad cells)."""
    def classify(uniques: list[str]) -> tuple[np.ndarray, np.ndarray]:
        keys = [u.strip().lower() for u in uniques]
        values = np.array([True if k in TRUE_WORDS else False if k in FALSE_WORDS else np.nan for k in keys],
                          dtype=object)
        return values, pd.isna(values) & ~_missing_flags(uniques)
    values, bad = _per_value(texts, classify)  # two arrays
    return values, bad


def _to_datetimes(texts: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strings -> (datetime64 in the unit the model was trained with, NaT where missing or
    not accepted; bad cells: not in the format; out: dates the unit cannot hold)."""
    fmt = spec.format or "%Y-%m-%d"
    dtype = spec.dtype if spec.dtype and spec.dtype.startswith("datetime64[") else "datetime64[us]"

    def classify(uniques: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stripped = np.array([u.strip() for u in uniques], dtype=object)
        parsed = pd.to_datetime(stripped, format=fmt, errors="coerce")
        if fmt.endswith(".%f") and parsed.isna().any():  # whole seconds, without a fraction
            parsed = parsed.where(~parsed.isna(), pd.to_datetime(stripped, format=fmt[:-3], errors="coerce"))
        failed = np.asarray(parsed.isna())
        out = np.zeros(len(uniques), dtype=bool)
        if dtype in _DATETIME_RANGE:
            low, high = _DATETIME_RANGE[dtype]
            out = ~failed & np.asarray((parsed < low) | (parsed > high))
            parsed = parsed.where(~out)
        return np.asarray(parsed.astype(dtype)), failed & ~_missing_flags(uniques), out
    if not len(texts):
        return np.array([], dtype=dtype), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    values, bad, out = _per_value(texts, classify)
    return values, bad, out


def _to_texts(texts: np.ndarray) -> np.ndarray:
    """Strings -> the same strings (object array), NaN where missing."""
    def classify(uniques: list[str]) -> tuple[np.ndarray]:
        return (np.array([np.nan if m else u for u, m in zip(uniques, _missing_flags(uniques))], dtype=object),)
    return _per_value(texts, classify)[0]


def _format_hint(spec: FeatureSpec) -> str:
    """'a date (YYYY-MM-DD)' or 'a date and time (YYYY-MM-DD HH:MM:SS)' for a message."""
    fmt = spec.format or "%Y-%m-%d"
    shown = re.sub("%[A-Za-z]", lambda m: _FORMAT_WORDS.get(m.group(), m.group()), fmt)
    return f"a date and time ({shown})" if re.search("%[HIMSfp]", fmt) else f"a date ({shown})"


def _column_texts(col: pd.Series) -> np.ndarray:
    """The cell texts of a column pandas could not read as numbers (na_values became NaN,
    "True"/"False" became bools)."""
    values = col.to_numpy(dtype=object, na_value="")
    return np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)


def _check_bytes(path: PathLike, problems: _Problems) -> str | None:
    """One streaming pass over the raw bytes: binary? empty? which encoding?  Returns the
    encoding, or None after adding the problem that ends the inspection."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = cp1252_ok = True
    content = False
    with open(path, "rb") as f:
        block = f.read(1 << 20)
        binary = _BINARY + (_EXCEL_HINT if block.startswith(_EXCEL_MAGIC) else "")
        if block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            problems.add("The file is UTF-16 text (Excel's \"Unicode Text\"); save it as "
                         "\"CSV UTF-8\" and upload that.")
            return None
        sample = block[:SNIFF_BYTES]
        control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if control >= 8 and control > len(sample) // 50:
            problems.add(binary)
            return None
        visible = block[3:] if block.startswith(codecs.BOM_UTF8) else block
        while block:
            if b"\0" in block:  # pandas and the csv module both mishandle NUL
                problems.add(binary)
                return None
            content = content or bool(visible.strip())
            if utf8_ok:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
            if cp1252_ok and any(b in block for b in _CP1252_UNDEFINED):
                cp1252_ok = False
            block = visible = f.read(1 << 20)
    if not content:
        problems.add("The file is empty.")
        return None
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends in the middle of a character
            utf8_ok = False
    return "utf-8-sig" if utf8_ok else "cp1252" if cp1252_ok else "latin-1"


class _Lines:
    """Physical lines (line break kept) with a length cap, so that one 30 MB line cannot
    exhaust memory.  `too_long` tells why iteration stopped early; `last` is the last line."""

    def __init__(self, f: TextIO, strip_bom: bool):
        self.f, self.strip_bom = f, strip_bom
        self.too_long, self.last, self.count = False, "", 0
        # (number, text) of the last line that followed a line of spaces/tabs ended by a lone CR
        self.after_cr_blank = (0, "")

    def __iter__(self) -> Iterator[str]:
        readline = self.f.readline
        line = readline(MAX_LINE_CHARS)
        if self.strip_bom and line.startswith("\ufeff"):
            line = line[1:]  # pandas drops a second BOM too; keep row numbers in step
        cr_blank = False
        while line:
            if len(line) >= MAX_LINE_CHARS and line[-1] not in "\r\n":
                self.too_long = True
                return
            self.count += 1
            if cr_blank:
                self.after_cr_blank = (self.count, line)
            cr_blank = line[-1] == "\r" and not line[:-1].strip(" \t")
            self.last = line
            yield line
            line = readline(MAX_LINE_CHARS)


def _first_content_line(path: PathLike, encoding: str) -> tuple[int, str | None]:
    """(row, line) of the first line with visible content; line None if it is too long."""
    with open(path, encoding=encoding, newline="") as f:
        lines = _Lines(f, encoding == "utf-8-sig")
        row = 0
        for row, line in enumerate(lines, 1):
            if line.strip():
                return row, line
        return row + 1 if lines.too_long else 0, None


def _pick_delimiter(line: str, wanted: set[str]) -> str:
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:  # e.g. a field over the size limit; the scan reports it
            cells = []
        score = (sum(_norm(c) in wanted for c in cells), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_error_message(error: csv.Error, row: int) -> str:
    text = str(error)
    if "field limit" in text:
        return (f"Row {row:,} has a value longer than {csv.field_size_limit():,} characters "
                "(is a closing quote \" missing?).")
    if "unexpected end of data" in text:
        return (f"Row {row:,}: a quoted value is never closed; the file ends inside quotes "
                "(a closing \" is missing).")
    if "expected after" in text:
        return (f"Row {row:,}: a quoted value has more text after its closing quote. Put the "
                "whole value inside quotes and write a quote inside it as two quotes (\"\").")
    return f"Row {row:,} could not be read as CSV ({text})."


# Problem codes of a cell in _CellCheck.check
_NOT_A_NUMBER, _INFINITE, _NOT_WHOLE, _TOO_LARGE, _WRONG, _OUT_OF_RANGE = range(1, 7)


def _flag_cells(chunk: pd.DataFrame, indices: list[int], specs: list[FeatureSpec],
                decimal_comma: bool) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The problem code of every feature cell of a chunk (0: fits), rows x len(indices), and
    the texts of the columns read as text ({position in indices: texts}).  Vectorised: number
    columns pandas parsed cost one isinf; other types are classified per distinct value."""
    flags = np.zeros((len(chunk), len(indices)), dtype=np.int8)
    texts = {}
    for j, index in enumerate(indices):
        col, kind = chunk[index], specs[j].type
        if kind in NUMERIC_TYPES:
            if col.dtype.kind in "fiu":  # pandas parsed every cell: only infinities are wrong
                nums = col.to_numpy(dtype=np.float64)
                flags[np.isinf(nums), j] = _INFINITE
            else:
                texts[j] = _column_texts(col)
                nums, bad = _to_floats(texts[j], decimal_comma)
                flags[np.isinf(nums), j] = _INFINITE
                flags[bad, j] = _NOT_A_NUMBER
            if kind == INTEGER:
                finite = np.isfinite(nums)
                flags[finite & (nums != np.floor(nums)), j] = _NOT_WHOLE
                flags[finite & (np.abs(nums) > INTEGER_LIMIT), j] = _TOO_LARGE
        elif kind == BOOLEAN:
            texts[j] = col.to_numpy(dtype=object)
            flags[_to_booleans(texts[j])[1], j] = _WRONG
        elif kind == DATETIME:
            texts[j] = col.to_numpy(dtype=object)
            _, bad, out = _to_datetimes(texts[j], specs[j])
            flags[bad, j] = _WRONG
            flags[out, j] = _OUT_OF_RANGE
    return flags, texts


def _cell_text(chunk: pd.DataFrame, texts: dict[int, np.ndarray], i: int, j: int, indices: list[int]) -> str:
    if j in texts:
        return str(texts[j][i])
    # pandas kept only the number; show it the way Python writes it
    cell = chunk[indices[j]].iat[i]
    return str(cell) if isinstance(cell, (int, np.integer)) else repr(float(cell))


def _what(spec: FeatureSpec, code: int) -> str:
    if code == _NOT_A_NUMBER:
        return "is not a number"
    if code == _INFINITE:
        return "is not a finite number"
    if code == _NOT_WHOLE:
        return "is not a whole number"
    if code == _TOO_LARGE:
        return f"is too large for a whole number (at most {INTEGER_LIMIT:,} either way)"
    if spec.type == BOOLEAN:
        return f"is not true/false ({BOOLEAN_HINT})"
    if code == _OUT_OF_RANGE:
        low, high = _DATETIME_RANGE[str(spec.dtype)]
        return f"is outside the dates the model takes ({low.date()} to {high.date()})"
    return f"is not {_format_hint(spec)}"


class _CellCheck:
    """Reads the feature columns with pandas' C parser, chunk by chunk, in step with the csv
    pass (both see the same non-blank records in the same order; with usecols pandas keeps
    rows with a wrong field count too, so the two stay aligned).  Number and integer columns
    are parsed as floats; the other types are read as their exact text."""

    def __init__(self, path: PathLike, fmt: CsvFormat, columns: dict[int, tuple[str, FeatureSpec]],
                 pandas_decimal: str, unseen: dict[str, int]):
        self.indices = sorted(columns)
        self.names = [columns[i][0] for i in self.indices]
        self.specs = [columns[i][1] for i in self.indices]
        self.decimal_comma = fmt.decimal == ","
        numbers = [i for i, spec in zip(self.indices, self.specs) if spec.type in NUMERIC_TYPES]
        texts = [i for i, spec in zip(self.indices, self.specs) if spec.type not in NUMERIC_TYPES]
        self.categories = {j: frozenset(spec.categories) for j, spec in enumerate(self.specs)
                           if spec.type == CATEGORY}
        self.unseen = unseen  # the report's counts, updated in place
        self.bad_rows = 0  # data rows with a cell problem so far
        self.reader = pd.read_csv(path, **read_csv_options(fmt, numbers, texts, decimal=pandas_decimal))
        # The header is the first record pandas sees (it skips blank lines like we do).  Read
        # it alone so its text does not spoil the float inference of the first chunk; not with
        # skiprows, which counts lines and mishandles a delimiter right after a "\r".
        self.reader.get_chunk(1)

    def close(self) -> None:
        self.reader.close()

    def check(self, rows: list[int], skip: list[int], room: int) -> tuple[int, list[tuple]]:
        """Check the next len(rows) records.  rows: their row numbers; skip: positions of
        records with a wrong field count (already reported).  Returns (count, earliest
        (row, column position, Problem) up to room)."""
        chunk = self.reader.get_chunk(len(rows))
        if len(chunk) != len(rows):
            raise ValueError("pandas and the csv module disagree on the number of rows")
        flags, texts = _flag_cells(chunk, self.indices, self.specs, self.decimal_comma)
        for j in self.categories:
            self._count_unseen(j, chunk[self.indices[j]].to_numpy(dtype=object), skip)
        if skip:
            flags[skip] = 0
        count = int(np.count_nonzero(flags))
        if count:
            self.bad_rows += int(np.count_nonzero(flags.any(axis=1)))
        found = []
        for i, j in zip(*(a[:room] for a in np.nonzero(flags))):  # row-major = row order
            name = self.names[j]
            value = _cell_text(chunk, texts, i, j, self.indices)
            code = flags[i, j]
            message = f"Row {rows[i]:,}, column '{name.strip()}': {_show(value)} {_what(self.specs[j], code)}."
            if code == _NOT_A_NUMBER:
                message += number_hint(value, self.decimal_comma)
            found.append((rows[i], self.indices[j], Problem(message, rows[i], name)))
        return count, found

    def _count_unseen(self, j: int, texts: np.ndarray, skip: list[int]) -> None:
        codes, uniques = pd.factorize(texts)
        known = self.categories[j]
        unseen = np.fromiter((u not in known for u in uniques), dtype=bool, count=len(uniques))
        unseen &= ~_missing_flags(list(uniques))
        if unseen.any():
            hits = unseen[codes]
            if skip:
                hits[skip] = False
            name = self.specs[j].name
            self.unseen[name] = self.unseen.get(name, 0) + int(np.count_nonzero(hits))


def _comma_number(value: str) -> bool:
    return "," in value and not _to_floats(np.array([value.replace(",", ".")], dtype=object),
                                           False)[1][0]


class _Scan:
    """The csv pass over the decoded text, with the cell check in lockstep."""

    def __init__(self, path: PathLike, specs: list[FeatureSpec], max_columns: int, encoding: str,
                 report: CsvReport, problems: _Problems):
        self.path, self.specs, self.max_columns = path, specs, max_columns
        self.features = [spec.name for spec in specs]
        self.encoding, self.report, self.problems = encoding, report, problems
        self.cells: _CellCheck | None = None
        # once the header is read: the format and {file column: (header cell, spec)}
        self.cells_args: tuple[CsvFormat, dict[int, tuple[str, FeatureSpec]]] | None = None
        self.first_good: list[str] | None = None  # the first well-formed data row
        self.flushed = False  # a block was flushed already (the cell check cannot start late)
        self.structure_problems = 0
        self.block_rows: list[int] = []  # row numbers of the records whose cells are not yet checked
        self.block_skip: list[int] = []  # their positions that have a wrong field count
        self.pending: list[tuple] = []  # earliest field-count problems of this block
        self.pending_count = 0

    def run(self) -> None:
        first_row, line = _first_content_line(self.path, self.encoding)
        if line is None:
            self._too_long(first_row) if first_row else self.problems.add("The file is empty.")
            return
        wanted = {_norm(f) for f in self.features}
        delimiter = _pick_delimiter(line, wanted)
        fmt = CsvFormat(self.encoding, delimiter, "," if delimiter == ";" else ".")
        self.report.format = fmt
        with open(self.path, encoding=self.encoding, newline="") as f:
            lines = _Lines(f, self.encoding == "utf-8-sig")
            records = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True,
                                 skipinitialspace=False, strict=True)
            try:
                self._scan(records, lines, fmt)
            finally:
                if self.cells is not None:
                    self.cells.close()

    def _too_long(self, row: int) -> None:
        self.problems.add(f"Row {row:,} is longer than {MAX_LINE_CHARS:,} characters without a "
                          "line break; this does not look like a CSV table.", row)

    def _scan(self, records: Iterator[list[str]], lines: _Lines, fmt: CsvFormat) -> None:
        blank_chars = " \t".replace(fmt.delimiter, "")
        cr_line = 0  # line number of the last blank line if it ended with a lone CR

        def blank(record: list[str]) -> bool:
            """pandas skips empty lines and unquoted lines of spaces/tabs, so we do too."""
            nonlocal cr_line
            if record and (len(record) > 1 or record[0] == "" or record[0].strip(blank_chars)
                           or '"' in lines.last):
                return False
            cr_line = lines.count if lines.last[-1] == "\r" else 0
            return True

        def cr_trap(row: int) -> str | None:
            """pandas drops a delimiter that starts the line after a blank line ended by a lone
            CR (old Mac line breaks), so it would read that row shifted."""
            number, text = lines.after_cr_blank
            if number == cr_line + 1 and text.startswith(fmt.delimiter):
                return (f"Row {row:,} starts with an empty value right after an empty line that "
                        "ends with a lone carriage return (old Mac line breaks); it cannot be "
                        "read reliably. Remove the empty line or save the file with Windows or "
                        "Unix line breaks.")
            return None

        row = 0  # row number of the last record read (blank records count)
        header: list[str] | None = None
        block = self.block_rows
        try:
            for record in records:  # the header: the first non-blank record
                row += 1
                if not blank(record):
                    header = record
                    break
            if header is None:
                return self._end(lines, row, "The file is empty.")
            ncols = len(header)
            if cr_line and (message := cr_trap(row)):
                self.structure_problems += 1
                self.problems.add(message, row)
            columns = self._check_header(header, row)
            if columns is None:
                return
            if columns:
                self.cells_args = (fmt, columns)
            rows = 0
            for record in records:
                row += 1
                # Hot path: a well-formed row costs a few comparisons and one append.
                if len(record) == ncols and not cr_line and (ncols > 1 or not blank(record)):
                    if self.first_good is None:
                        self.first_good = record
                    block.append(row)
                    if len(block) >= BLOCK_ROWS:
                        self.report.rows = rows + len(block)
                        self._flush()
                        if self._stop(row):
                            return
                        rows = self.report.rows
                    continue
                if blank(record):
                    continue
                if cr_line:
                    message = cr_trap(row)
                    cr_line = 0
                    if message is None and len(record) == ncols:
                        block.append(row)
                        continue
                else:
                    message = None
                self._row_problem(row, message or f"Row {row:,} has "
                                  f"{_plural(len(record), 'field')}; the header has {ncols:,}.")
                if self.pending_count + self.problems.total >= SCAN_LIMIT:
                    self.report.rows = rows + len(block)
                    self._flush()
                    self._stop(row)
                    return
            self.report.rows = rows + len(block)
            self._flush()
            self._end(lines, row, None if self.report.rows else
                      "The file has a header row but no data rows.")
        except csv.Error as error:
            self.report.rows += len(block)
            self.structure_problems += 1
            self._flush()
            self._end(lines, row, _csv_error_message(error, row + 1), row + 1)

    def _row_problem(self, row: int, message: str) -> None:
        """A data row whose fields cannot be trusted: reported, and its cells not checked."""
        self.structure_problems += 1
        self.pending_count += 1
        if len(self.pending) < self.problems.room:
            self.pending.append((row, -1, Problem(message, row)))
        self.block_skip.append(len(self.block_rows))
        self.block_rows.append(row)

    def _end(self, lines: _Lines, row: int, message: str | None, at: int | None = None) -> None:
        """The scan ended: a line that was too long explains it best, else `message`."""
        if lines.too_long:
            self._too_long(row + 1)
        elif message:
            self.problems.add(message, at)

    def _stop(self, row: int) -> bool:
        if self.problems.total < SCAN_LIMIT:
            return False
        self.problems.stop_notice(f"Stopped checking at row {row:,}: the file has more than "
                                  f"{SCAN_LIMIT:,} problems.", row)
        return True

    def _flush(self) -> None:
        """Check the cells of the buffered records and file their problems in row order."""
        count, found = 0, list[tuple[Any, ...]]()
        start = self.cells is None and self.cells_args is not None and not self.flushed
        if self.block_rows and (self.cells is not None or start):
            try:
                if self.cells is None:
                    # pandas parses decimal commas natively if the first row uses them (speed
                    # only: cells it cannot parse go through _to_floats, which accepts both).
                    assert self.cells_args is not None
                    fmt, columns = self.cells_args
                    comma = fmt.decimal == "," and self.first_good is not None and any(
                        "," in self.first_good[i] for i, (_, spec) in columns.items()
                        if spec.type in NUMERIC_TYPES)
                    self.cells = _CellCheck(self.path, fmt, columns, "," if comma else ".",
                                              self.report.unseen_categories)
                bad_before = self.cells.bad_rows
                count, found = self.cells.check(self.block_rows, self.block_skip,
                                                self.problems.room)
                self.report.cell_problems += count
                self.report.bad_rows += self.cells.bad_rows - bad_before
            except (ValueError, StopIteration) as error:
                # pandas cannot read what the csv module read.  After a structure problem that
                # is expected (the file is rejected anyway); otherwise iter_chunks would fail
                # or read something else, so the file must be refused.
                if not self.structure_problems:
                    first = self.block_rows[0]
                    self.problems.add(f"The rows from row {first:,} on could not be read "
                                      f"consistently as a table ({error}).", first)
                if self.cells is not None:
                    self.cells.close()
                self.cells_args = None
                self.cells = None
        self.flushed = True
        merged = sorted(self.pending + found, key=lambda p: p[:2])
        self.problems.add_batch(self.pending_count + count, [p[2] for p in merged])
        self.block_rows.clear()  # in place: _scan holds a reference
        self.block_skip, self.pending, self.pending_count = [], [], 0

    def _check_header(self, header: list[str], row: int) -> dict[int, tuple[str, FeatureSpec]] | None:
        """Header problems; returns {file column index: (header cell, spec)} of the features
        found, or None when the rest of the file cannot be checked."""
        add = self.problems.add
        self.report.header = header
        if len(header) > self.max_columns:
            add(f"The file has {len(header):,} columns; at most {self.max_columns:,} are "
                "supported.", row)
            return None
        normalized = [_norm(cell) for cell in header]
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(normalized):
            if name:
                positions.setdefault(name, []).append(index)
        found = {f: positions[_norm(f)][0] for f in self.features if _norm(f) in positions}
        if not found and self._looks_like_data(header):
            shown = ", ".join(f"'{f}'" for f in self.features[:3])
            more = f", ... ({len(self.features)} columns)" if len(self.features) > 3 else ""
            add(f"Row {row} looks like data, not column names. The file needs a header row "
                f"with the column names first: {shown}{more}.", row)
            return None
        for where in positions.values():
            if len(where) > 1:
                cols = [f"{i + 1:,}" for i in where[:5]]
                more = f" and {len(where) - 5:,} more" if len(where) > 5 else ""
                listed = (", ".join(cols[:-1]) + " and " + cols[-1]) if not more else (
                    ", ".join(cols) + more)
                add(f"Column '{header[where[0]].strip()}' appears more than once "
                    f"(columns {listed}).", row, header[where[0]])
        matched = {_norm(f) for f in found}
        unmatched = [n for n in positions if n not in matched]
        for spec in self.specs:
            feature = spec.name
            if feature not in found and spec.required:
                hint = self._hint(feature, unmatched, header, positions)
                add(f"Missing column '{feature}'." + (f" Did you mean '{hint}'?" if hint else ""),
                    row, feature)
        self.report.feature_columns = found
        self.report.unseen_categories = {s.name: 0 for s in self.specs if s.type == CATEGORY and s.name in found}
        # A column two features match (same name up to case) is checked as the first one.
        return {found[s.name]: (header[found[s.name]], s) for s in reversed(self.specs) if s.name in found}

    def _looks_like_data(self, header: list[str]) -> bool:
        cells = np.array([c for c in header if c.strip()], dtype=object)
        if not cells.size:
            return False
        decimal_comma = self.report.format is not None and self.report.format.decimal == ","
        nums, _ = _to_floats(cells, decimal_comma)
        return bool(np.count_nonzero(~np.isnan(nums)) * 2 > cells.size)

    @staticmethod
    def _hint(feature: str, unmatched: list[str], header: list[str],
              positions: dict[str, list[int]]) -> str | None:
        squash = lambda s: re.sub(r"[\W_]+", "", s)  # noqa: E731  "mean_radius" ~ "mean radius"
        target = squash(_norm(feature))
        close = [n for n in unmatched if squash(n) == target]
        if not close and len(unmatched) <= 2_000:  # difflib is too slow for huge headers
            close = difflib.get_close_matches(_norm(feature), unmatched, n=1, cutoff=0.75)
        return header[positions[close[0]][0]].strip() if close else None
