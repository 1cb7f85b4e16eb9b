"""Reading an accepted upload back in tests: every cell as its exact text (the reference the
job's reader is compared with), and the frames the model gets, read as a job reads them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pandas as pd

from model.inputs.reader import model_frame, read_chunks, read_csv_options
from model.inputs.report import CsvReport
from model.schema import NUMERIC_TYPES, FeatureSpec


def text_chunks(path: str | os.PathLike, report: CsvReport, chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """The data rows of a readable file as DataFrames of exact strings, with the options every
    reader of an upload uses: columns are the positional integers 0..n-1, the index is the
    0-based data row number, "" stays "" and nothing is stripped or converted."""
    fmt = report.format
    if not report.readable or fmt is None:
        raise ValueError("text_chunks() needs the report of a file without structural problems.")
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


def job_frame(path: str | os.PathLike, report: CsvReport, specs: Sequence[FeatureSpec],
              chunk_rows: int = 50_000) -> pd.DataFrame:
    """What the model gets for the whole file (one column per feature, typed by model_values),
    read in chunks of `chunk_rows` by the job's reader."""
    numeric = [s.name for s in specs if s.type in NUMERIC_TYPES and s.name in report.feature_columns]
    frames = [model_frame(specs, report, X, numeric, texts)
              for X, texts, _ in read_chunks(path, report, numeric, chunk_rows, specs)]
    return pd.concat(frames, ignore_index=True)
