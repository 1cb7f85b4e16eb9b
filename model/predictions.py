"""The article's contract: ``prediction(input_file) -> output_file``.

Reads the CSV in chunks, predicts each chunk, and writes its rows to the .xlsx (and a CSV
twin) before reading the next, so memory stays flat whatever the file size. The workbook holds
every input column unchanged and in order, then ``prediction`` and ``probability``.
"""

from __future__ import annotations

import csv
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from model.artifact import ROOT, Model, load_model
from model.csv_input import CsvReport, feature_matrix, inspect_csv, iter_chunks
from model.xlsx_writer import StreamingXlsxWriter, guard_text, is_plain_number

DEFAULT_OUTPUT_DIR = ROOT / "data" / "out"
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int, int], None]


class InvalidInput(ValueError):
    """The CSV does not fit the model; ``report.problems`` names each row and column."""

    def __init__(self, report: CsvReport) -> None:
        self.report = report
        shown = "; ".join(p.message for p in report.problems[:5])
        more = report.total_problems - min(5, len(report.problems))
        super().__init__(shown + (f" (and {more} more problems)" if more > 0 else ""))


def _guard_csv_column(values: list[str]) -> list[str]:
    # The CSV result is opened in spreadsheets too: neutralise formula-looking text the same
    # way the .xlsx does (numbers such as -1 stay numbers).
    return [
        guard_text(v) if v and v.startswith(FORMULA_START) and not is_plain_number(v) else v
        for v in values
    ]


def _temp_beside(path: Path) -> Path:
    # Same directory as the final file, so os.replace is an atomic rename; hidden and
    # suffixed so nothing lists or serves it as a result.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")


def prediction(
    input_file: str | os.PathLike,
    output_file: str | os.PathLike | None = None,
    *,
    csv_file: str | os.PathLike | None | bool = True,
    model: Model | None = None,
    model_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 50_000,
    report: CsvReport | None = None,
    source_name: str | None = None,
) -> Path:
    """Predict every row of ``input_file`` and write the .xlsx result; returns its path.

    ``output_file`` defaults to ``data/out/<input stem>.xlsx``; ``csv_file=True`` also writes
    ``<output stem>.csv`` (``False``/``None``: no CSV, or pass a path). ``progress(rows_done,
    rows_total)`` is called after each chunk; an exception it raises aborts the run and no
    output file is left behind. Raises ``InvalidInput`` when the CSV does not fit the model.
    """
    started = time.monotonic()
    input_path = Path(input_file)
    model = model or load_model(model_dir)
    features = model.features
    report = report or inspect_csv(input_path, features)
    if not report.ok:
        raise InvalidInput(report)

    xlsx_path = Path(output_file) if output_file else DEFAULT_OUTPUT_DIR / f"{input_path.stem}.xlsx"
    csv_path: Path | None
    if csv_file is True:
        csv_path = xlsx_path.with_suffix(".csv")
    elif csv_file:
        csv_path = Path(csv_file)
    else:
        csv_path = None
    xlsx_path.parent.mkdir(parents=True, exist_ok=True)

    out_columns = [PREDICTION_COLUMN] + ([PROBABILITY_COLUMN] if model.is_classifier else [])
    header = list(report.header) + out_columns
    n_in = len(report.header)
    feature_at = {index: k for k, index in enumerate(report.feature_columns[f] for f in features)}
    class_counts: Counter[str] = Counter()
    rows_done = 0

    xlsx_tmp = _temp_beside(xlsx_path)
    csv_tmp = _temp_beside(csv_path) if csv_path else None
    csv_handle = None
    try:
        with StreamingXlsxWriter(xlsx_tmp, header, highlight=range(n_in, len(header))) as book:
            if csv_tmp:
                # UTF-8 with BOM: Excel then reads accents right when the CSV is double-clicked.
                csv_handle = open(csv_tmp, "w", encoding="utf-8-sig", newline="")
                csv_out = csv.writer(csv_handle)
                csv_out.writerow(_guard_csv_column(header))
            for chunk in iter_chunks(input_path, report, chunksize=chunk_rows):
                X = feature_matrix(chunk, report, features)
                labels, probability = model.predict(pd.DataFrame(X, columns=features))
                label_text = [str(v) for v in labels.tolist()]
                class_counts.update(label_text)

                columns: list[np.ndarray | list[str]] = []
                text_columns: list[list[str]] = []
                for index in range(n_in):
                    raw = chunk[index].tolist()
                    text_columns.append(raw if index in feature_at else _guard_csv_column(raw))
                    # Features are numbers (decimal commas already converted); the other
                    # columns pass through as text, numbers where they are plain numbers.
                    columns.append(X[:, feature_at[index]] if index in feature_at else raw)
                if np.issubdtype(np.asarray(labels).dtype, np.number):
                    columns.append(np.asarray(labels, dtype=float))
                else:
                    columns.append(label_text)
                text_columns.append(label_text)
                if probability is not None:
                    columns.append(probability)
                    text_columns.append([repr(p) for p in probability.tolist()])
                book.write_chunk(columns)
                if csv_handle:
                    csv_out.writerows(zip(*text_columns))
                rows_done += len(chunk)
                if progress:
                    progress(rows_done, report.rows)

            summary: list[tuple[str, str | int | float]] = [
                ("input file", source_name or input_path.name),
                ("rows", rows_done),
            ]
            summary += [(f"predicted {label}", count) for label, count in sorted(class_counts.items())]
            summary += [
                ("model version", model.version),
                ("processing time (s)", round(time.monotonic() - started, 3)),
            ]
            book.set_summary(summary)
        if csv_handle:
            csv_handle.close()
            csv_handle = None
        os.replace(xlsx_tmp, xlsx_path)
        if csv_path and csv_tmp:
            os.replace(csv_tmp, csv_path)
    finally:
        if csv_handle:
            csv_handle.close()
        for leftover in (xlsx_tmp, csv_tmp):
            if leftover:
                leftover.unlink(missing_ok=True)
    return xlsx_path
