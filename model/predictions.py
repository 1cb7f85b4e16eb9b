"""The article's contract: ``prediction(input_file) -> output_file``.

Reads the CSV in chunks, predicts each chunk, and writes its rows to the .xlsx (and a CSV
twin) before reading the next, so memory stays flat whatever the file size. The model gets one
column per feature with the dtype it was trained with (``inputs.conversions.model_values``). The
workbook holds every input column in order, then ``prediction`` (and, for classifiers,
``probability``: that of the predicted class): number and integer features as the numbers the
model saw (integers without a fraction; a cell it could not take, "abc", as the user sent it,
not empty), features of the other types (boolean, category,
datetime, text) as text cells holding what the user wrote, other columns as their text
(numbers where they are plain numbers); formula-like text is guarded by
``results.cells.guard_text``; then a "summary" sheet. The CSV twin holds the same rows and
values.

Reading is model/inputs/ (`read_chunks`, `model_frame`); writing is model/results/.

Where the time goes (bench/RESULTS.md, `STAGES`): pandas' C parser, with the check's
``read_csv_options``, reads the feature columns straight into floats (a column it cannot read
falls back to `feature_matrix`, the check's own conversion, so what is predicted is
exactly what was accepted); a run of adjacent number features is turned into text once per
block, by one orjson call, for both files (model/results/files.py), and no Python code runs per
row or per cell.  The worker passes the upload check's report (`report`), so the file is not
scanned twice.  From PARALLEL_MIN_ROWS rows the workbook is written by a process of its own
(model/results/process.py) while this one reads, predicts, checks and writes the CSV.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.artifact import ROOT, Model
from model.inputs.reader import model_frame, read_chunks
from model.inputs.report import CsvReport
from model.inputs.scan import inspect_csv
from model.inputs.sniff import norm
from model.loading import load_model
from model.messages import ERROR_CHARS, error_text
from model.quality import ROW_STATUS_COLUMN, STATUS_ORDER, QualityCheck, predict_rows
from model.results.cells import SparseTexts, number_json
from model.results.files import Block, ResultFiles, ResultWriter, Segment, csv_texts, layout, sent_texts
from model.results.process import ResultFilesProcess
from model.schema import INTEGER, NUMBER, NUMERIC_TYPES, ROW_ID_COLUMN

DEFAULT_OUTPUT_DIR = ROOT / "data" / "out"
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
PROBABILITY_CHOICES = ("best", "all")  # PROBABILITY_COLUMNS: the predicted class's only, or every class's

Progress = Callable[[int, int], None]
# The stages of a job that `prediction(stages=...)` times, in the order they happen per chunk.
# "numbers": formatting the number features once for both files; "xlsx_text": making the
# sheet XML; "csv": making and writing the CSV; "compress": the deflate thread's own time (it
# overlaps the others); "compress_wait": the XML's waits for that thread; "handoff": with the
# files in a process of their own (`parallel`), the job's time handing blocks over (sending
# them, and waiting when that process is behind), the files' stages then running beside the
# job's; "finish": opening and closing, the summary and quality sheets, the progress calls.
# Without that process the stages but "compress" add up to the job's time.
STAGES = ("validate", "read", "predict", "quality", "numbers", "xlsx_text", "csv", "compress", "compress_wait",
          "handoff", "finish")
# Jobs of at least this many rows write their result files in a process of their own (see
# model/results/process.py): below it, starting one costs more than it saves.
PARALLEL_MIN_ROWS = 50_000
# A job's files are named job-<id>-<claim> in OUTPUT_DIR (scheduler/worker.py result_stem); a
# bare prediction() of a file named that way takes its job id from the name.
JOB_FILE = re.compile(r"job-(\d+)(?:-|$)")
# When a whole chunk fails, this many of its rows (spread over it) are tried one by one: if all
# fail with the same error the model fails on every row, and the chunk is not split further.
FAIL_FAST_SAMPLE = 5


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


class _Stages:
    """Adds the seconds since the previous lap to a stage (nothing when not asked for)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        if into is not None:
            for name in STAGES:
                into.setdefault(name, 0.0)
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.into is not None:
            now = time.perf_counter()
            self.into[stage] += now - self.last
            self.last = now


class ModelFailed(Exception):
    """The model raised on every row it was given: no row of the job could be scored.  The
    message is the model's own error, naming the first row it failed on."""


def score_rows(model: Model, frame: pd.DataFrame) -> tuple[
        np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, dict[int, str]]:
    """`predict_rows` (model/quality.py), failing fast: when the whole frame fails, a sample
    of FAIL_FAST_SAMPLE single rows is tried; if every one fails with the same error, every
    row of the frame gets that error without splitting it down to single rows (10,000 rows
    of a model that fails on all of them: 6 calls instead of 19,999).  Otherwise the frame is
    split as `predict_rows` does.  The price: in a frame where nearly every row fails the
    same way, the few rows that would have passed are reported failed with the others."""
    n = len(frame)
    if n == 0:  # every row of the chunk without data: nothing to ask (predict_rows would recurse)
        return np.zeros(0, dtype=bool), np.asarray([]), (np.asarray([]) if model.is_classifier else None), None, {}
    try:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            labels, best, per_class = model.predict_classes(frame)
        return np.ones(n, dtype=bool), np.asarray(labels), best, per_class, {}
    except Exception as exc:  # any model failure is one row's (or more) problem
        if n == 1:
            return np.zeros(1, dtype=bool), np.asarray([]), None, None, {0: error_text(exc, ERROR_CHARS)}
    errors = set()
    for i in np.unique(np.linspace(0, n - 1, min(n, FAIL_FAST_SAMPLE)).round().astype(int)):
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
                model.predict_classes(frame.iloc[[int(i)]])
        except Exception as exc:
            errors.add(error_text(exc, ERROR_CHARS))
            if len(errors) == 1:
                continue
        break  # a row passed, or two failed differently: find the failing rows one by one
    else:
        error = errors.pop()
        return np.zeros(n, dtype=bool), np.asarray([]), (np.asarray([]) if model.is_classifier else None), None, \
            {i: error for i in range(n)}
    return predict_rows(model, frame)


class InvalidInput(ValueError):
    """The CSV does not fit the model; ``report.problems`` names each row and column."""

    def __init__(self, report: CsvReport) -> None:
        self.report = report
        shown = "; ".join(p.message for p in report.problems[:5])
        more = report.total_problems - min(5, len(report.problems))
        super().__init__(shown + (f" (and {more} more problems)" if more > 0 else ""))


def job_id_of(input_path: Path) -> int | None:
    """The job id in a file named like a job's files (job-17-ab12cd34.csv: 17), else None.
    Uploads are stored as upload-<uuid>.csv, which names no job: the worker passes its job id."""
    found = JOB_FILE.match(input_path.stem)
    return int(found.group(1)) if found else None


def row_ids(job_id: int | None, rows: np.ndarray) -> list[str]:
    """The generated row_id of each row: "<job id>-<row number>", the row number as the
    spreadsheet shows it (header = row 1); the row number alone without a job id."""
    numbers = rows.astype(str).tolist()
    return numbers if job_id is None else [f"{job_id}-{n}" for n in numbers]


def _temp_beside(path: Path) -> Path:
    # Same directory as the final file, so os.replace is an atomic rename; hidden and
    # suffixed so nothing lists or serves it as a result.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")


# -- the prediction columns and the quality sheet ----------------------------------------------


def _spread(n: int, scored: np.ndarray, labels: np.ndarray, probability: np.ndarray | None,
            per_class: np.ndarray | None, classifier: bool, n_classes: int
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Full-chunk prediction columns from those of the scored rows: unscored rows get an empty
    label ("" for class labels, NaN for numbers: an empty cell either way) and probability."""
    if not classifier and np.issubdtype(np.asarray(labels).dtype, np.number):
        full = np.full(n, np.nan)
        full[scored] = labels
    else:  # class labels as text: "" where unscored ("1" is still written as a number)
        full = np.full(n, "", dtype=object)
        full[scored] = [str(v) for v in np.asarray(labels).tolist()]
    best = every = None
    if classifier:
        best = np.full(n, np.nan)
        if probability is not None and len(probability):
            best[scored] = probability
        every = np.full((n, n_classes), np.nan)
        if per_class is not None and len(per_class):
            every[scored] = per_class
    return full, best, every


def _sent(segments: list[Segment], cells: dict[int, dict[int, str]], X: np.ndarray, start: int,
          stop: int) -> dict[int, list[list[str]]]:
    """Block.sent for the rows start:stop: the number segments holding a cell sent as
    something the model could not take, as texts (`sent_texts`)."""
    out: dict[int, list[list[str]]] = {}
    for k, (kind, what) in enumerate(segments):
        columns = [what] if kind == "i" else what if kind == "x" else []
        here = {c: {r - start: t for r, t in cells.get(c, {}).items() if start <= r < stop} for c in columns}
        if any(here.values()):
            out[k] = [sent_texts(X[start:stop, c], kind == "i", here[c]) for c in columns]
    return out


def _quality_table(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The "quality" sheet: one row per feature, then the predictions and the job."""
    header = ["feature", "type", "status", "missing rate", "training missing rate", "outside training range",
              "unseen categories", "PSI", "reasons"]
    rows: list[list[Any]] = [
        [f["name"], f["type"], f["status"], f["missing_rate"] if f.get("sent", True) else None,
         f.get("training_missing_rate"), f["out_of_range"],
         f["unseen"], f["psi"], "; ".join(f["reasons"])]
        for f in report["features"]
    ]
    predictions = report["predictions"]
    rows.append(["(predictions)", predictions.get("type") or "", predictions["status"], None, None, None, None,
                 predictions["psi"], ""])
    rows.append(["(job)", "", report["status"], None, None, None, None, None, report["reason"]])
    rows.append(["rows", "", "", report["rows"], None, None, None, None, ""])
    rows.append(["rows flagged", "", "", report["rows_flagged"], None, None, None, None, ""])
    rows.append(["rows not scored", "", "", report["rows_not_scored"], None, None, None, None, ""])
    assert all(r[2] in STATUS_ORDER or r[2] == "" for r in rows)
    return header, rows


# -- the job ------------------------------------------------------------------------------------


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
    probability_columns: str = "best",
    model_name: str | None = None,
    model_sha256: str | None = None,
    quality: Callable[[dict[str, Any]], None] | None = None,
    row_status: bool = True,
    max_bad_rows_percent: float = 0.0,
    stages: dict[str, float] | None = None,
    parallel: bool | None = None,
    job_id: int | None = None,
    id_column: str | None = None,
) -> Path:
    """Predict every row of ``input_file`` and write the .xlsx result; returns its path.

    ``output_file`` defaults to ``data/out/<input stem>.xlsx``; ``csv_file=True`` also writes
    ``<output stem>.csv`` (``False``/``None``: no CSV, or pass a path). ``progress(rows_done,
    rows_total)`` is called after each chunk; an exception it raises aborts the run and no
    output file is left behind. Raises ``InvalidInput`` when the CSV does not fit the model,
    ``ModelFailed`` when the model scored none of the rows it was given (see `score_rows`).
    ``probability_columns="all"`` adds, for a classifier, one ``probability_<class>`` column
    per class after ``probability`` (the setting PROBABILITY_COLUMNS). ``model_name`` and
    ``model_sha256`` (the registry's name and artifact hash) are shown on the summary sheet.

    Every row gets a ``row_status`` (after the prediction columns; model/quality.py): empty
    when clean, else what is wrong with it; rows with no feature present, or that the model
    raises on, get no prediction.  The job's quality report (model/quality.py) goes on a
    "quality" sheet and, when given, to ``quality(report)`` before the files are published.
    ``row_status=False`` leaves all of that out (the bench's "without" measurement).

    ``max_bad_rows_percent`` (the setting MAX_BAD_ROWS_PERCENT; 0: refuse, as before): a file
    whose only problems are cells that do not fit their column's type, in at most that share
    of its rows, is scored; those rows get no prediction and a row_status naming each bad
    cell ("not scored: 'abc' is not a number in column 'mean radius'").  The worker passes
    100: the upload check already applied the setting when it accepted the file.

    ``stages``, when given, receives the seconds spent per stage (`STAGES`): where a job's
    time goes, measured in the job itself.  ``parallel``: write the result files in a process
    of their own (model/results/process.py), so the job uses two cores; None (the default): for files of
    at least PARALLEL_MIN_ROWS rows on a machine with more than one core.

    Row identity: for a model with an id column (``id_column``, default: the model's own,
    Model.id_column) the result carries that column as sent, as text, and nothing else.  Without
    one, the result's first column is ``row_id``: "<job id>-<row number>", the row number as the
    spreadsheet shows it and the upload check names it (header = row 1, first data row = 2; a
    workbook's: the row of its sheet).  ``job_id``: the worker's job; None: taken from a file
    named like a job's (`job_id_of`), else left out (row_id is then the row number alone).
    """
    if probability_columns not in PROBABILITY_CHOICES:
        raise ValueError(f"probability_columns must be one of {PROBABILITY_CHOICES}, not {probability_columns!r}")
    started = time.monotonic()
    clock = _Stages(stages)
    input_path = Path(input_file)
    model = model or load_model(Path(model_dir) if model_dir is not None else None)
    specs = model.feature_specs
    id_column = id_column or model.id_column
    if job_id is None:
        job_id = job_id_of(input_path)
    if report is None:
        report = inspect_csv(input_path, specs, id_column=id_column)
        clock.lap("validate")
    # Without row_status nothing would tell which rows were left unscored: refuse as before.
    if not report.acceptable(max_bad_rows_percent if row_status else 0.0):
        raise InvalidInput(report)
    # Number and integer features are read as floats (X); the others as text, like the other
    # columns, and converted for the model by model_values.  An optional feature the file
    # lacks is not read at all.
    present = [s for s in specs if s.name in report.feature_columns]
    numeric = [s for s in present if s.type in NUMERIC_TYPES]
    features = [s.name for s in numeric]
    integers = {k for k, s in enumerate(numeric) if s.type == INTEGER}  # their X columns
    typed = {report.feature_columns[s.name] for s in present if s.type not in NUMERIC_TYPES}
    all_numbers = len(features) == len(specs) and all(s.type == NUMBER for s in specs)

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
    every_class = probability_columns == "all" and model.is_classifier
    if every_class:
        out_columns += [f"{PROBABILITY_COLUMN}_{label}" for label in model.classes]
    checker = None
    if row_status:
        out_columns.append(ROW_STATUS_COLUMN)
        checker = QualityCheck(model, features, [s.name for s in specs if s.name not in report.feature_columns],
                               background=_cores() > 1)
    # The id column as sent (text cells: "007" stays "007"), or a generated row_id first.
    id_at = next((i for i, cell in enumerate(report.header) if norm(cell) == norm(id_column)), None) \
        if id_column else None
    generated = 1 if id_at is None else 0  # the row_id column before the input columns
    header = [ROW_ID_COLUMN] * generated + list(report.header) + out_columns
    n_in = len(report.header) + generated
    feature_of = {report.feature_columns[f]: k for k, f in enumerate(features)}  # column -> X column
    x_at = {f: k for k, f in enumerate(features)}
    if id_at is not None and id_at not in feature_of:  # a number feature's stays the number the model saw
        typed.add(id_at)
    class_counts: Counter[str] = Counter()
    rows_done = 0
    tried = scored = 0  # rows given to the model, rows it scored
    first_failure: tuple[int, str] | None = None  # (data row, the model's error)

    xlsx_tmp = _temp_beside(xlsx_path)
    csv_tmp = _temp_beside(csv_path) if csv_path else None
    try:
        # probability columns shown as percentages in Excel; the cells keep the fraction
        percent = [j for j in range(n_in, len(header)) if header[j].startswith(PROBABILITY_COLUMN)]
        text_columns = {i + generated for i in typed} | set(range(generated))
        if parallel is None:
            parallel = report.rows >= PARALLEL_MIN_ROWS and _cores() > 1 and os.name == "posix"
        files_in: Callable[..., ResultWriter] = ResultFilesProcess if parallel else ResultFiles
        segments: list[Segment] = [("t", None)] * generated + layout(len(report.header), feature_of, integers)
        # Each run of number features' X columns: a slice when adjacent in X (a view, no copy).
        runs = [slice(what[0], what[-1] + 1) if what == list(range(what[0], what[-1] + 1)) else what
                for kind, what in segments if kind == "x"]
        with files_in(xlsx_tmp, csv_tmp, header, segments, highlight=range(n_in, len(header)), text_columns=text_columns,
                      expected_rows=report.rows, percent_columns=percent) as files:
            clock.lap("finish")  # opening the files
            for X, texts, bad in read_chunks(input_path, report, features, chunk_rows, specs):
                if generated:
                    texts[-1] = row_ids(job_id, report.row_numbers(rows_done, len(X)))  # the row_id segment
                if all_numbers:  # the common case: one float64 block, no per-column work
                    frame = pd.DataFrame(X, columns=features)
                else:
                    frame = model_frame(specs, report, X, features, texts)
                clock.lap("read")
                statuses = None
                if checker is None:
                    labels, probability, per_class = model.predict_classes(frame)
                    clock.lap("predict")
                else:
                    check = checker.check(X, None if all_numbers else frame, bad)
                    clock.lap("quality")
                    where = np.arange(len(X)) if check.scorable is None else np.flatnonzero(check.scorable)
                    ok, labels, probability, per_class, failed_at = score_rows(
                        model, frame if check.scorable is None else frame.iloc[where])
                    clock.lap("predict")
                    failed = {int(where[i]): error for i, error in failed_at.items()}
                    tried += len(where)
                    scored += int(np.count_nonzero(ok))
                    if first_failure is None and failed:
                        at = min(failed)
                        first_failure = (rows_done + at + 1, failed[at])
                    statuses = checker.statuses(check, failed)
                    clock.lap("quality")
                    if len(labels) != len(X):  # some rows unscored: spread the scored ones out
                        labels, probability, per_class = _spread(
                            len(X), where[ok], labels, probability, per_class, model.is_classifier,
                            len(model.classes))
                class_columns = [np.ascontiguousarray(per_class[:, k]) for k in range(per_class.shape[1])] \
                    if every_class and per_class is not None else []
                numeric_labels = np.issubdtype(np.asarray(labels).dtype, np.number)
                label_values = labels.tolist()
                classes = model.is_classifier or not numeric_labels  # a regressor's are not
                scored_counts = None  # a classifier's predictions per class, unscored rows ("") aside
                if classes:
                    counts = Counter(label_values)
                    scored_counts = {str(label): count for label, count in counts.items() if label != ""}
                    class_counts.update(scored_counts)
                    label_text = {label: str(label) for label in counts}
                if checker is not None:  # the scored rows' predictions, for the report
                    checker.predictions(labels, scored_counts)
                status_column = statuses if statuses is not None else SparseTexts(len(X))

                # The prediction columns, as the workbook takes them
                outputs: list[np.ndarray | list[str] | SparseTexts] = [
                    np.asarray(labels, dtype=float) if numeric_labels
                    else list(map(label_text.__getitem__, label_values))]
                if probability is not None:
                    outputs.append(probability)
                outputs += class_columns
                if checker is not None:
                    outputs.append(status_column)
                csv_labels = None
                if csv_tmp and classes:  # "1" for class 1, not "1.0"
                    csv_label = dict(zip(label_text, csv_texts(list(label_text.values()))))
                    csv_labels = list(map(csv_label.__getitem__, label_values))
                clock.lap("predict")  # the prediction columns, as the files take them
                # Number cells the model could not take ("abc", "3.5" in an integer column) are
                # NaN in X; the files write them back as sent, so no input cell comes back empty.
                sent_cells: dict[int, dict[int, str]] = {}  # X column -> {row: the cell as sent}
                for i, row in (bad or {}).items():
                    for name, text in row.cells.items():
                        if name in x_at:
                            sent_cells.setdefault(x_at[name], {})[i] = text
                for start in range(0, len(X), files.block_rows):
                    rows = slice(start, start + files.block_rows)
                    stop = min(len(X), start + files.block_rows)
                    # A run of number features is formatted here, once, for both files.
                    block = Block(
                        [number_json(X[rows][:, run]) for run in runs],
                        {k: X[rows, what] if kind == "i" else texts[-1 if what is None else what][rows]
                         for k, (kind, what) in enumerate(segments) if kind != "x"},
                        [c[rows] for c in outputs], None if csv_labels is None else csv_labels[rows],
                        stop - start, _sent(segments, sent_cells, X, start, stop) if sent_cells else {})
                    clock.lap("numbers")
                    files.write(block)
                    clock.lap("handoff")
                rows_done += len(X)
                if progress:
                    progress(rows_done, report.rows)
                clock.lap("finish")  # the progress callback: the worker's heartbeat

            if tried and not scored and first_failure is not None:
                # Not a result with every row empty: the model is broken, not the file.
                raise ModelFailed(f"it could not score any of the {tried:,} rows it was given; the first, "
                                  f"data row {first_failure[0]:,}: {first_failure[1]}")
            summary: list[tuple[str, str | int | float]] = [
                ("input file", source_name or input_path.name),
                ("rows", rows_done),
            ]
            summary += [(f"predicted {label}", count) for label, count in sorted(class_counts.items())]
            summary += [("model", model_name)] if model_name else []
            summary += [
                ("model version", model.version),
                ("processing time (s)", round(time.monotonic() - started, 3)),
            ]
            summary += [("model SHA-256", model_sha256)] if model_sha256 else []
            job_quality = checker.report() if checker is not None else None
            if job_quality is not None:
                summary += [("data quality", job_quality["status"]), ("rows flagged", job_quality["rows_flagged"]),
                            ("rows not scored", job_quality["rows_not_scored"])]
                summary += [("data quality reason", job_quality["reason"])] if job_quality["reason"] else []
            files.set_summary(summary)
            if job_quality is not None:
                files.add_table("quality", *_quality_table(job_quality), status_column=2)
                if quality:
                    quality(job_quality)
        clock.lap("finish")
        if stages is not None:  # the files' own figures
            figures = files.figures()
            for stage, seconds in figures.items():
                stages[stage] += seconds
            if isinstance(files, ResultFilesProcess):
                stages["handoff"] = max(0.0, stages["handoff"] - figures["csv"])  # the CSV is made in write()
                stages["writer_peak_rss_mb"] = files.peak_rss_mb  # not a stage: the bench reports it
            else:  # the "handoff" laps were the files' work
                stages["handoff"] = max(0.0, stages["handoff"] - sum(v for k, v in figures.items() if k != "compress"))
        os.replace(xlsx_tmp, xlsx_path)
        if csv_path and csv_tmp:
            os.replace(csv_tmp, csv_path)
    finally:
        if checker is not None:
            checker.close(quiet=True)  # its thread, when the job stopped before the report
        for leftover in (xlsx_tmp, csv_tmp):
            if leftover:
                leftover.unlink(missing_ok=True)
    return xlsx_path
