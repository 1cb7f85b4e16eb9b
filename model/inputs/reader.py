"""The one reader a job uses: an accepted upload read back in chunks by pandas' C parser with
the options the check used (`read_csv_options`), number features as floats, the other columns
as their exact text, cells that do not fit their type found again (`cell_problems`), and the
frame the model gets (`model_frame`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from model.inputs.conversions import NA_SPELLINGS, cell_text, flag_cells, model_values, show, to_floats, what
from model.inputs.report import CsvFormat, CsvReport
from model.schema import FeatureSpec, feature_specs


def read_csv_options(fmt: CsvFormat, numbers: Collection[int] = (), texts: Collection[int] = (),
                     *, decimal: str | None = None) -> dict[str, Any]:
    """Keyword arguments for every ``pd.read_csv`` of an upload (the cell check in
    model/inputs/scan.py, and `read_chunks`, the job's reader), so that pandas reads the records the csv pass
    found: the file's delimiter and encoding, RFC 4180 quotes, blank lines skipped, an
    iterator for ``get_chunk``.  header=None: the header is the first record pandas returns
    (skiprows would count physical lines, and blank lines before the header would shift it).

    numbers: positions of feature columns, parsed as floats where pandas can (the common
    missing-value spellings become NaN; decimal mark `decimal`, by default the file's); a
    column pandas cannot parse comes back as text, for `to_floats`.  texts: positions read as
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
        "na_values": dict.fromkeys(numbers, NA_SPELLINGS),
        "decimal": decimal or fmt.decimal,
    }


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
        nums = to_floats(texts, decimal_comma)[0]
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
    value: str = ""  # the cell as sent ("abc"); as pandas read it when it read a number ("3.5")


class BadRow(NamedTuple):
    """A row with cells the model cannot take: its row_status text, the features at fault and
    each one's cell as sent (the result files write that back, not the empty value the model
    gets)."""

    status: str
    features: frozenset[str]
    cells: dict[str, str]


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
    flags, texts = flag_cells(chunk, indices, specs, decimal_comma)
    found = []
    for i, j in zip(*np.nonzero(flags)):
        value = cell_text(chunk, texts, int(i), int(j), indices)
        found.append(CellProblem(int(i), specs[j].name, names[j],
                                 f"{show(value)} {what(specs[j], int(flags[i, j]))} in column '{names[j].strip()}'",
                                 value))
    return found


def read_chunks(
    path: Path, report: CsvReport, features: Sequence[str], chunk_rows: int,
    specs: Sequence[FeatureSpec] = (),
) -> Iterator[tuple[np.ndarray, dict[int, list[str]], dict[int, BadRow] | None]]:
    """(X, texts, bad) per chunk of rows: X is float64 rows x features (missing -> NaN), texts
    maps each other column's index to its cells' exact text.  `features` are numeric (number or
    integer) features; those of the other types are other columns here.  bad: when the report
    found cells that do not fit their type (`specs`: the model's features), {row position:
    `BadRow`} for this chunk, those cells NaN in X (the other types become missing in
    model_values); None for a file without such cells, which then costs nothing more."""
    fmt = report.format
    if not report.readable or fmt is None:
        raise ValueError("read_chunks() needs the report of a file without structural problems.")
    x_of = {name: k for k, name in enumerate(features)}
    feature_at = [report.feature_columns[f] for f in features]
    others = [i for i in range(len(report.header)) if i not in set(feature_at)]
    with pd.read_csv(path, **read_csv_options(fmt, feature_at, others)) as reader:
        # The header alone first, so its names do not spoil the float inference of the
        # first chunk (header=None rather than skiprows: blank lines before it are skipped).
        reader.get_chunk(1)
        while True:
            try:
                chunk = reader.get_chunk(chunk_rows)
            except StopIteration:
                return
            if not len(chunk):
                return
            # Column-major: the writer takes X[:, k] column by column without copying it.
            X = np.empty((len(chunk), len(features)), dtype=np.float64, order="F")
            for k, (name, index) in enumerate(zip(features, feature_at)):
                column = chunk[index]
                if column.dtype.kind in "fiu":
                    X[:, k] = column.to_numpy(dtype=np.float64)
                else:  # some cell pandas could not read as a number (" N/A ", "17,99"...)
                    texts = [v if isinstance(v, str) else "" if pd.isna(v) else str(v)
                             for v in column.to_numpy(dtype=object)]
                    frame = pd.DataFrame({index: np.array(texts, dtype=object)})
                    X[:, k] = feature_matrix(frame, report, [name])[:, 0]
            bad = None
            if report.cell_problems:
                bad = _bad_rows(cell_problems(chunk, report, specs), X, x_of)
            yield X, {i: chunk[i].tolist() for i in others}, bad


def _bad_rows(found: Sequence[CellProblem], X: np.ndarray, x_of: dict[str, int]) -> dict[int, BadRow]:
    """The row_status of each row with cells the model cannot take (few rows: the upload
    check accepted at most MAX_BAD_ROWS_PERCENT of them); their number cells become NaN."""
    by_row: dict[int, list[CellProblem]] = {}
    for problem in found:
        by_row.setdefault(problem.position, []).append(problem)
        if problem.feature in x_of:
            X[problem.position, x_of[problem.feature]] = np.nan
    return {i: BadRow("not scored: " + " and ".join(p.text for p in cells), frozenset(p.feature for p in cells),
                      {p.feature: p.value for p in cells})
            for i, cells in by_row.items()}


def model_frame(specs: Sequence[FeatureSpec], report: CsvReport, X: np.ndarray, features: list[str],
                 texts: dict[int, list[str]]) -> pd.DataFrame:
    """The model's input for a chunk: every feature in training order, typed by model_values
    from its numbers (X, columns `features`), its texts, or nothing (an absent optional one)."""
    x_of = {name: k for k, name in enumerate(features)}
    columns = {}
    for spec in specs:
        if spec.name in x_of:
            values = X[:, x_of[spec.name]]
        elif spec.name in report.feature_columns:
            values = np.array(texts[report.feature_columns[spec.name]], dtype=object)
        else:
            values = None
        columns[spec.name] = model_values(spec, values, len(X))
    return pd.DataFrame(columns)
