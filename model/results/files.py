"""A job's two result files, written block by block: the .xlsx (model/results/xlsx.py) and
its CSV twin, from the same formatted numbers.

A row of the result is made of *segments* (`layout`): a run of adjacent number feature
columns, formatted together by the job (one orjson call per block, `number_json`:
"[[17.99,10.38],[20.57,17.77]]", whose text both files use); an integer feature; any other
input column, its text as read; then the prediction columns.  `ResultFiles.write` takes one
block of rows in that form (`Block`), so it can run in the job's process or in a process of
its own (model/results/process.py) alike: both are a `ResultWriter`.

The CSV result: UTF-8 with BOM (Excel then reads accents right when the file is
double-clicked), comma-separated, CRLF line ends, QUOTE_MINIMAL, like csv.writer's defaults;
formula-looking text guarded as in the .xlsx.  No Python code runs per row or per cell: each
column's fields are made for the whole block and interleaved by list slicing.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import numpy as np
import orjson

from model.results.cells import NumberColumns, SparseTexts, guard_text, maybe_formula
from model.results.xlsx import StreamingXlsxWriter

_CSV_SPECIAL = re.compile('[,"\r\n]')  # a CSV field holding one of these is quoted

# ("x", [X columns]) a run of number features; ("i", X column) an integer feature; ("t", file
# column) another input column.
Segment = tuple[str, Any]


@dataclass
class Block:
    """One block of rows as the job hands it over.  runs: `number_json` of each "x" segment's
    columns, in order; columns: per other segment (by its index in the layout), an integer
    feature's floats (NaN where missing) or a column's texts; outputs: the prediction
    columns (label, probabilities, row_status as `SparseTexts`) as the workbook takes them;
    csv_labels: a classifier's labels as CSV fields (None: numeric labels); rows: how many
    rows; sent: for an "x" or "i" segment (by its index) with a cell the model could not take
    ("abc" in a number column), the texts of each of its columns, those cells as sent
    (`sent_texts`): written as text columns instead, in this block only."""

    runs: list[bytes]
    columns: dict[int, np.ndarray | list[str]]
    outputs: list[np.ndarray | list[str] | SparseTexts]
    csv_labels: list[str] | None
    rows: int
    sent: dict[int, list[list[str]]] = field(default_factory=dict)


def sent_texts(values: np.ndarray, integer: bool, cells: dict[int, str]) -> list[str]:
    """A number feature's column as the texts both files write for it: each number as the
    normal path writes it (the shortest round-trip text, integers whole), "" where missing,
    and at the rows in `cells` the cell as the user sent it."""
    if integer:
        texts = _integer_texts(values)
    else:
        texts = [b.decode("ascii") for b in _csv_numbers(values)]
    for row, text in cells.items():
        texts[row] = text
    return texts


def _guard_csv_column(values: list[str]) -> list[str]:
    # The CSV result is opened in spreadsheets too: neutralise formula-looking text the same
    # way the .xlsx does (numbers such as -1 stay numbers).
    return list(map(guard_text, values))


def _integer_texts(values: np.ndarray) -> list[str]:
    """Whole numbers as "3" (not "3.0"), "" where missing. One C call for the column."""
    missing = np.isnan(values)
    raw = orjson.dumps(np.where(missing, 0, values).astype(np.int64), option=orjson.OPT_SERIALIZE_NUMPY)
    texts = raw[1:-1].decode("ascii").split(",")
    if missing.any():
        for i in np.flatnonzero(missing):
            texts[i] = ""
    return texts


def _needs_quotes(value: str) -> bool:
    """_CSV_SPECIAL.search(value), as four substring searches: ten times faster per value."""
    return "," in value or '"' in value or "\n" in value or "\r" in value


def csv_texts(values: list[str], joined: str | None = None) -> list[str]:
    """Pass-through text as CSV fields: formula-looking text guarded like the .xlsx does,
    quoted as the csv module would (QUOTE_MINIMAL). Checked on the joined column first
    (`joined`: the values joined by NUL, when the caller has it): most columns need neither,
    and then nothing runs per cell and `values` itself is returned."""
    if joined is None:
        joined = "\x00".join(values)
    if maybe_formula(joined):
        values = _guard_csv_column(values)
        joined = "\x00".join(values)
    if _CSV_SPECIAL.search(joined):  # quote those that need it (empty cells, most of a row_status, never)
        values = [f'"{v.replace(chr(34), chr(34) * 2)}"' if v and _needs_quotes(v) else v for v in values]
    return values


def _encoded(texts: list[str]) -> list[bytes]:
    """A column's texts as UTF-8, one join, encode and split for the whole column (none of
    them holds a NUL: the upload check refuses control characters)."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return [t.encode() for t in texts]
    return joined.encode().split(b"\x00")


def _text_fields(values: list[str]) -> list[bytes]:
    """`csv_texts` of a column, encoded: for a column with nothing to guard or quote (most),
    the one joined text is searched and encoded as it is."""
    joined = "\x00".join(values)
    if joined.count("\x00") != len(values) - 1:  # a NUL in a value: no joined shortcuts
        return [t.encode() for t in csv_texts(values)]
    texts = csv_texts(values, joined)
    return joined.encode().split(b"\x00") if texts is values else _encoded(texts)


def _split_json(json: bytes, separator: bytes, brackets: int) -> list[bytes]:
    """orjson's text of an array split into its rows (or values), null as "" (an empty field);
    the brackets are cut off the first and last pieces only, not by copying the text."""
    if json == b"[]":  # no rows
        return []
    pieces = (json.replace(b"null", b"") if b"null" in json else json).split(separator)
    pieces[0] = pieces[0][brackets:]
    pieces[-1] = pieces[-1][:-brackets]
    return pieces


def _csv_numbers(values: np.ndarray) -> list[bytes]:
    """A 1-D number column as CSV fields: the shortest round-trip text, "" where NaN/inf."""
    return _split_json(orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY), b",", 1)


def _csv_run(json: bytes) -> list[bytes]:
    """Per row of a 2-D number block given as its `number_json` ("[[17.99,null],[2.5,1.0]]"),
    its CSV fields: "17.99," and "2.5,1.0"."""
    return _split_json(json, b"],[", 2)


class CsvResult:
    """The CSV result (see the module).  Each block of rows is written from its columns'
    fields (lists of bytes, one per row, a run of number columns being one field list
    "17.99,10.38"), interleaved with the commas and line ends by list slicing and joined once."""

    def __init__(self, path: str | os.PathLike, header: Sequence[str]) -> None:
        self.handle = open(path, "wb")
        line = io.StringIO()
        csv.writer(line).writerow(_guard_csv_column(list(header)))
        self.handle.write(("\ufeff" + line.getvalue()).encode("utf-8"))

    def write(self, fields: Sequence[list[bytes]], ends: list[bytes] | None = None) -> None:
        """One block of rows; ends: each row's line end, when it carries a last field of its
        own (`csv_fields`), else CRLF."""
        n = len(fields[0])
        width = 2 * len(fields)
        pieces: list[bytes] = [b","] * (n * width)
        for k, column in enumerate(fields):
            pieces[2 * k::width] = column
        pieces[width - 1::width] = ends if ends is not None else [b"\r\n"] * n
        self.handle.write(b"".join(pieces))

    def close(self) -> None:
        self.handle.close()


def csv_fields(segments: list[Segment], block: Block) -> tuple[list[list[bytes]], list[bytes] | None]:
    """The CSV fields of a block, per column (a run of number columns being one), and the
    rows' line ends when the last column is row_status (a `SparseTexts`): it then rides on
    the line end, ",\r\n" for most rows, so the mostly empty column costs no piece per row
    when the block's line is joined (`CsvResult.write`)."""
    fields: list[list[bytes]] = []
    ends = None
    runs = iter(block.runs)
    for k, (kind, _) in enumerate(segments):
        column = block.columns.get(k)
        if k in block.sent:
            if kind == "x":
                next(runs)
            fields += [_text_fields(texts) for texts in block.sent[k]]
        elif kind == "x":
            fields.append(_csv_run(next(runs)))
        elif kind == "i":
            fields.append(_encoded(_integer_texts(np.asarray(column))))
        else:
            assert isinstance(column, list)
            fields.append(_text_fields(column))
    for k, output in enumerate(block.outputs):
        if k == 0 and block.csv_labels is not None:
            fields.append(_encoded(block.csv_labels))
        elif isinstance(output, np.ndarray):
            fields.append(_csv_numbers(output))
        elif isinstance(output, SparseTexts) and k == len(block.outputs) - 1:  # row_status: only its texts
            ends = output.spread(b",\r\n", lambda texts: [b"," + f + b"\r\n" for f in _text_fields(texts)])
        elif isinstance(output, SparseTexts):
            fields.append(output.spread(b"", _text_fields))
        else:
            fields.append(_encoded(output))
    return fields, ends


def layout(n_in: int, feature_of: dict[int, int], integers: Collection[int]) -> list[Segment]:
    """The segments of the input columns: feature_of maps a file column to its X column;
    integers: the X columns of integer features."""
    segments: list[Segment] = []
    for i in range(n_in):
        if i in feature_of and feature_of[i] in integers:
            segments.append(("i", feature_of[i]))
        elif i in feature_of:
            if segments and segments[-1][0] == "x":
                segments[-1][1].append(feature_of[i])
            else:
                segments.append(("x", [feature_of[i]]))
        else:
            segments.append(("t", i))
    return segments


def _integer_column(values: np.ndarray) -> np.ndarray | list[str]:
    """An integer feature for the workbook: int64 numbers, or texts ("3", "") with gaps."""
    return _integer_texts(values) if np.isnan(values).any() else values.astype(np.int64)


class ResultWriter(Protocol):
    """What a job writes its result files through: `ResultFiles` in the job's process, or
    `ResultFilesProcess` (model/results/process.py) in a process of its own.  Use as a context
    manager: on an error the writing stops and the partial files are deleted."""

    @property
    def block_rows(self) -> int:
        """Rows per `Block` the job hands to `write`."""
        ...

    def figures(self) -> dict[str, float]:
        """Seconds per stage of the files' own work (see model.predictions.STAGES)."""
        ...

    def write(self, block: Block) -> None: ...

    def set_summary(self, items: Sequence[tuple[str, str | int | float]]) -> None: ...

    def add_table(self, *args: Any, **kwargs: Any) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class ResultFiles:
    """The .xlsx (`StreamingXlsxWriter(xlsx_path, header, **workbook)`) and, with a csv_path,
    its CSV twin; `segments` as `layout` gives them.  Use as a context manager: on an error
    the writing stops and both partial files are deleted."""

    def __init__(self, xlsx_path: str | os.PathLike, csv_path: str | os.PathLike | None, header: Sequence[str],
                 segments: list[Segment], **workbook: Any) -> None:
        self.segments = segments
        self.csv_seconds = 0.0  # making and writing the CSV (the workbook measures its own)
        self.book = StreamingXlsxWriter(xlsx_path, header, **workbook)
        try:
            self.twin = CsvResult(csv_path, header) if csv_path else None
        except BaseException:
            self.book.__exit__(OSError, None, None)
            raise

    @property
    def block_rows(self) -> int:
        """Rows per block: each is rendered in one piece, so its ready number text is used."""
        return self.book.block_rows

    def figures(self) -> dict[str, float]:
        """Where the time went (see model.predictions.STAGES)."""
        return {"xlsx_text": self.book.render_seconds, "csv": self.csv_seconds,
                "compress": self.book.deflate_seconds, "compress_wait": self.book.wait_seconds}

    def write(self, block: Block) -> None:
        """Number features are numbers (missing -> empty), integers whole numbers; the other
        input columns pass through as text, which the workbook stores as numbers where they
        are plain numbers (not in text_columns: text cells there)."""
        cells: list[np.ndarray | list[str] | NumberColumns | SparseTexts] = []
        runs = iter(block.runs)
        for k, (kind, what) in enumerate(self.segments):
            if k in block.sent:  # plain numbers among them are still stored as numbers
                if kind == "x":
                    next(runs)
                cells += block.sent[k]
            elif kind == "x":
                cells.append(NumberColumns(None, next(runs), shape=(block.rows, len(what))))
            elif kind == "i":
                cells.append(_integer_column(np.asarray(block.columns[k])))
            else:
                cells.append(block.columns[k])
        cells += block.outputs
        self.book.write_chunk(cells)
        if self.twin:
            started = time.perf_counter()
            self.twin.write(*csv_fields(self.segments, block))
            self.csv_seconds += time.perf_counter() - started

    def set_summary(self, items: Sequence[tuple[str, str | int | float]]) -> None:
        self.book.set_summary(items)

    def add_table(self, *args: Any, **kwargs: Any) -> None:
        self.book.add_table(*args, **kwargs)

    def close(self) -> None:
        if self.twin:
            self.twin.close()
        self.book.close()

    def __enter__(self) -> ResultFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
            return
        if self.twin:
            self.twin.close()
            Path(self.twin.handle.name).unlink(missing_ok=True)
        self.book.__exit__(exc_type, exc, tb)
