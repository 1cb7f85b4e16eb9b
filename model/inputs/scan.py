"""Inspect an uploaded CSV against the model's feature columns (`inspect_csv`).

This is the one place that decides whether an uploaded CSV is usable (with the cell rules of
model/inputs/conversions.py; model/inputs/reader.py reads an accepted file back for the job).
The web panel, the JSON API, the CLI and the prediction code all show its `Problem` messages to
users, so every message is a full sentence naming the problem, the column and the row.

Rules (the tests in tests/model/test_csv_input.py and the corpus in tests/data/hostile/ pin them):

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
* The id column (`id_column`, a model's schema "id_column"), when the model has one, must be
  present (matched like a feature), and its cell in every data row non-empty (spaces alone
  are empty; a missing word such as "NA" is an id like any other) and unique within the file,
  compared without surrounding spaces.  Empty ids are problems of their row; the rows that
  repeat an earlier row's id are one problem naming the first few and counting them all.
  Neither is a cell problem: such a file is refused whatever MAX_BAD_ROWS_PERCENT allows.
* Quoting is RFC 4180: a quote inside a quoted value is doubled.  Text after a closing quote
  (`"ab"cd`) and a quote left open at the end of the file are rejected.
* Line breaks: LF, CRLF or a lone CR (old Mac).  One pandas quirk is refused rather than
  misread: a row starting with the delimiter right after a blank line ended by a lone CR.
* Every accepted file is read by pandas (`read_chunks` in model/inputs/reader.py) exactly as the
  csv module read it here, always with the options `read_csv_options` builds; a property test
  in tests/model/test_csv_input.py checks that.
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

import csv
import difflib
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from model.inputs.conversions import (
    NOT_A_NUMBER,
    cell_text,
    flag_cells,
    missing_flags,
    number_hint,
    show,
    to_floats,
    what,
)
from model.inputs.reader import read_csv_options
from model.inputs.report import CsvFormat, CsvReport, Problem, Problems
from model.inputs.sniff import (
    MAX_LINE_CHARS,
    Lines,
    PathLike,
    check_bytes,
    first_content_line,
    norm,
    pick_delimiter,
)
from model.schema import CATEGORY, NUMERIC_TYPES, FeatureSpec, feature_specs

SHOWN_DUPLICATES = 5  # rows named in the message about repeated ids
SCAN_LIMIT = 100_000  # stop scanning after this many problems; nobody reads more
BLOCK_ROWS = 50_000  # rows per pandas chunk in the cell check


def inspect_csv(path: str | os.PathLike, features: Sequence[str | FeatureSpec], *,
                max_problems: int = 20, max_columns: int = 16_000, id_column: str | None = None) -> CsvReport:
    """Check an uploaded CSV; never raises on bad content (OSError if the path is unreadable).

    features: the model's `FeatureSpec`s (Model.feature_specs); a bare name is a required
    number.  id_column: the model's id column (Model.id_column), or None."""
    problems = Problems(max_problems)
    report = CsvReport(ok=False, problems=problems.kept, total_problems=0, format=None,
                       header=[], feature_columns={}, rows=0)
    encoding = check_bytes(path, problems)
    if encoding is not None:
        _Scan(path, feature_specs(features), max_columns, encoding, report, problems, id_column).run()
    report.total_problems = problems.total
    report.ok = problems.total == 0
    return report


def header_fits(header: Sequence[str], features: Sequence[str | FeatureSpec]) -> bool:
    """Whether a header (as ``CsvReport.header`` holds it) has every required column of a
    model, matched as the check matches them (case, spaces and a stray BOM ignored)."""
    present = {norm(cell) for cell in header}
    return all(norm(spec.name) in present for spec in feature_specs(features) if spec.required)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


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


class _CellCheck:
    """Reads the feature columns with pandas' C parser, chunk by chunk, in step with the csv
    pass (both see the same non-blank records in the same order; with usecols pandas keeps
    rows with a wrong field count too, so the two stay aligned).  Number and integer columns
    are parsed as floats; the other types are read as their exact text."""

    def __init__(self, path: PathLike, fmt: CsvFormat, columns: dict[int, tuple[str, FeatureSpec]],
                 pandas_decimal: str, unseen: dict[str, int], ids: _IdCheck | None = None):
        self.ids = ids
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
        if ids is not None and ids.index not in columns:
            texts.append(ids.index)  # read as its exact text (a number feature's: as the model's float)
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
        if self.ids is not None:
            self.ids.check(chunk[self.ids.index], rows, skip)
        flags, texts = flag_cells(chunk, self.indices, self.specs, self.decimal_comma)
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
            value = cell_text(chunk, texts, i, j, self.indices)
            code = flags[i, j]
            message = f"Row {rows[i]:,}, column '{name.strip()}': {show(value)} {what(self.specs[j], code)}."
            if code == NOT_A_NUMBER:
                message += number_hint(value, self.decimal_comma)
            found.append((rows[i], self.indices[j], Problem(message, rows[i], name)))
        return count, found

    def _count_unseen(self, j: int, texts: np.ndarray, skip: list[int]) -> None:
        codes, uniques = pd.factorize(texts)
        known = self.categories[j]
        unseen = np.fromiter((u not in known for u in uniques), dtype=bool, count=len(uniques))
        unseen &= ~missing_flags(list(uniques))
        if unseen.any():
            hits = unseen[codes]
            if skip:
                hits[skip] = False
            name = self.specs[j].name
            self.unseen[name] = self.unseen.get(name, 0) + int(np.count_nonzero(hits))


class _IdCheck:
    """The id column's cells, block by block: empty ones, and those repeating an earlier row's
    id.  Memory: the set of ids seen, about 90 bytes per id of up to 16 characters (the text
    and its slot), so some 90 MB for 1,000,000 rows: the one thing the check holds for the
    whole file; a file without an id column holds nothing."""

    def __init__(self, index: int, name: str) -> None:
        self.index, self.name = index, name
        self.seen: set[str] = set()
        self.empty: list[int] = []  # the rows of the block checked last with an empty id
        self.repeated = 0  # rows repeating an earlier row's id
        self.first_repeated: list[tuple[int, str]] = []  # (row, id) of the first SHOWN_DUPLICATES of them

    def check(self, column: pd.Series, rows: list[int], skip: list[int]) -> None:
        if column.dtype.kind in "fiu":  # a number feature's column comes as floats: NaN is an empty id
            column = column.astype(object).where(column.notna(), "").astype(str)
        ids = column.str.strip()
        values = ids.to_numpy(dtype=object)
        usable = np.ones(len(values), dtype=bool)
        usable[skip] = False  # rows with a wrong field count: their cells are not what they seem
        empty = usable & (values == "")
        at = np.flatnonzero(usable & ~empty)
        # Repeats: seen in an earlier block, or earlier in this one (pandas' hash table, in C).
        known = np.fromiter(map(self.seen.__contains__, values[at]), dtype=bool, count=len(at))
        kept = ids if len(at) == len(ids) else ids.iloc[at]
        repeated = at[known | kept.duplicated().to_numpy()]
        self.seen.update(values[at])
        self.empty = [rows[i] for i in np.flatnonzero(empty)]
        self.repeated += len(repeated)
        for i in repeated[: SHOWN_DUPLICATES - len(self.first_repeated)]:
            self.first_repeated.append((rows[i], str(values[i])))

    def take(self, room: int) -> tuple[int, list[tuple]]:
        """The empty-id problems of the block checked last: their count, and the first `room`
        as (row, column position, Problem)."""
        found = [(row, self.index, Problem(f"Row {row:,}, column '{self.name}': the id is empty; every row "
                                           "needs its own id in this column.", row, self.name))
                 for row in self.empty[:max(room, 0)]]
        count, self.empty = len(self.empty), []
        return count, found

    def repeats(self) -> Problem | None:
        """The one problem naming the rows that repeat an earlier row's id, or None."""
        if not self.repeated:
            return None
        shown = [f"{row:,} ({show(value)})" for row, value in self.first_repeated]
        listed = ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]
        more = f", {self.repeated:,} rows in all" if self.repeated > len(shown) else ""
        word = "Rows" if len(shown) > 1 else "Row"
        verb = "repeat" if len(shown) > 1 else "repeats"
        return Problem(f"{word} {listed} {verb} the id of an earlier row in column '{self.name}'{more}; "
                       "every row needs its own id.", self.first_repeated[0][0], self.name)


class _Scan:
    """The csv pass over the decoded text, with the cell check in lockstep."""

    def __init__(self, path: PathLike, specs: list[FeatureSpec], max_columns: int, encoding: str,
                 report: CsvReport, problems: Problems, id_column: str | None = None):
        self.path, self.specs, self.max_columns = path, specs, max_columns
        self.id_column = id_column
        self.ids: _IdCheck | None = None  # once the header has the id column
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
        self.records = 0  # data records (the rows pandas reads) before this block

    def run(self) -> None:
        first_row, line = first_content_line(self.path, self.encoding)
        if line is None:
            self._too_long(first_row) if first_row else self.problems.add("The file is empty.")
            return
        wanted = {norm(f) for f in self.features}
        delimiter = pick_delimiter(line, wanted)
        fmt = CsvFormat(self.encoding, delimiter, "," if delimiter == ";" else ".")
        self.report.format = fmt
        with open(self.path, encoding=self.encoding, newline="") as f:
            lines = Lines(f, self.encoding == "utf-8-sig")
            records = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True,
                                 skipinitialspace=False, strict=True)
            try:
                self._scan(records, lines, fmt)
            finally:
                if self.cells is not None:
                    self.cells.close()
        repeats = self.ids.repeats() if self.ids is not None else None
        if repeats is not None:
            self.problems.add(repeats.message, repeats.row, repeats.column)

    def _too_long(self, row: int) -> None:
        self.problems.add(f"Row {row:,} is longer than {MAX_LINE_CHARS:,} characters without a "
                          "line break; this does not look like a CSV table.", row)

    def _scan(self, records: Iterator[list[str]], lines: Lines, fmt: CsvFormat) -> None:
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
            if columns or self.ids is not None:
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

    def _end(self, lines: Lines, row: int, message: str | None, at: int | None = None) -> None:
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

    def _runs(self) -> None:
        """Record in report.row_starts where the block's rows stop being consecutive (after a
        blank line), so the results can name each data row as the messages do."""
        if not self.block_rows:
            return
        rows = np.asarray(self.block_rows, dtype=np.int64)
        offsets = rows - np.arange(self.records, self.records + len(rows))
        starts = self.report.row_starts
        before = starts[-1][1] - starts[-1][0] if starts else 2  # the offset of the rows so far
        new = np.flatnonzero(np.diff(offsets, prepend=before))
        starts += [(self.records + int(i), int(rows[i])) for i in new]
        self.records += len(rows)

    def _flush(self) -> None:
        """Check the cells of the buffered records and file their problems in row order."""
        self._runs()
        count, found = 0, list[tuple[Any, ...]]()
        start = self.cells is None and self.cells_args is not None and not self.flushed
        if self.block_rows and (self.cells is not None or start):
            try:
                if self.cells is None:
                    # pandas parses decimal commas natively if the first row uses them (speed
                    # only: cells it cannot parse go through to_floats, which accepts both).
                    assert self.cells_args is not None
                    fmt, columns = self.cells_args
                    comma = fmt.decimal == "," and self.first_good is not None and any(
                        "," in self.first_good[i] for i, (_, spec) in columns.items()
                        if spec.type in NUMERIC_TYPES)
                    self.cells = _CellCheck(self.path, fmt, columns, "," if comma else ".",
                                              self.report.unseen_categories, self.ids)
                bad_before = self.cells.bad_rows
                count, found = self.cells.check(self.block_rows, self.block_skip,
                                                self.problems.room)
                self.report.cell_problems += count
                self.report.bad_rows += self.cells.bad_rows - bad_before
                if self.ids is not None:  # not cell problems: no setting lets a row go without its id
                    empty, earliest = self.ids.take(self.problems.room)
                    self.structure_problems += empty
                    count, found = count + empty, found + earliest
            except (ValueError, StopIteration) as error:
                # pandas cannot read what the csv module read.  After a structure problem that
                # is expected (the file is rejected anyway); otherwise the job's reader would fail
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
        normalized = [norm(cell) for cell in header]
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(normalized):
            if name:
                positions.setdefault(name, []).append(index)
        found = {f: positions[norm(f)][0] for f in self.features if norm(f) in positions}
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
        matched = {norm(f) for f in found}
        unmatched = [n for n in positions if n not in matched]
        for spec in self.specs:
            feature = spec.name
            if feature not in found and spec.required:
                hint = self._hint(feature, unmatched, header, positions)
                add(f"Missing column '{feature}'." + (f" Did you mean '{hint}'?" if hint else ""),
                    row, feature)
        if self.id_column is not None:
            if norm(self.id_column) in positions:
                at = positions[norm(self.id_column)][0]
                self.ids = _IdCheck(at, header[at].strip())
            else:
                hint = self._hint(self.id_column, unmatched, header, positions)
                add(f"Missing column '{self.id_column}', the id of each row." + (
                    f" Did you mean '{hint}'?" if hint else ""), row, self.id_column)
        self.report.feature_columns = found
        self.report.unseen_categories = {s.name: 0 for s in self.specs if s.type == CATEGORY and s.name in found}
        # A column two features match (same name up to case) is checked as the first one.
        return {found[s.name]: (header[found[s.name]], s) for s in reversed(self.specs) if s.name in found}

    def _looks_like_data(self, header: list[str]) -> bool:
        cells = np.array([c for c in header if c.strip()], dtype=object)
        if not cells.size:
            return False
        decimal_comma = self.report.format is not None and self.report.format.decimal == ","
        nums, _ = to_floats(cells, decimal_comma)
        return bool(np.count_nonzero(~np.isnan(nums)) * 2 > cells.size)

    @staticmethod
    def _hint(feature: str, unmatched: list[str], header: list[str],
              positions: dict[str, list[int]]) -> str | None:
        squash = lambda s: re.sub(r"[\W_]+", "", s)  # noqa: E731  "mean_radius" ~ "mean radius"
        target = squash(norm(feature))
        close = [n for n in unmatched if squash(n) == target]
        if not close and len(unmatched) <= 2_000:  # difflib is too slow for huge headers
            close = difflib.get_close_matches(norm(feature), unmatched, n=1, cutoff=0.75)
        return header[positions[close[0]][0]].strip() if close else None
