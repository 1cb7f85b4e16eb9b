"""What a job's page shows of its result: the first rows (prediction columns first) read from
the CSV twin, and the class counts the worker wrote on the workbook's summary sheet. Reads
only the first lines of the CSV and the one small summary sheet, so a page of a 1,000,000-row
job opens as fast as one of 20 rows."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from app.core.jobs.files import existing_file
from app.core.jobs.records import Job, Status
from app.core.settings import Settings
from model.predictions import PREDICTION_COLUMN, PROBABILITY_COLUMN
from model.quality import ROW_STATUS_COLUMN

PREVIEW_ROWS = 20
SUMMARY_SHEET = "summary"
PREDICTED_PREFIX = "predicted "  # the summary sheet's "predicted <class>" items (model/predictions.py)


@dataclass(frozen=True)
class ResultPreview:
    columns: list[str]  # the output columns first, then the input's
    rows: list[list[str]]
    output_columns: int  # how many of the leading columns the model wrote
    truncated: bool  # the result has more rows than shown


def output_column_names(header: list[str]) -> list[str]:
    """The columns the model added at the end: prediction, probability, probability_<class>,
    and the row_status that follows them."""
    outputs: list[str] = []
    for name in reversed(header):
        if (name in (PREDICTION_COLUMN, PROBABILITY_COLUMN, ROW_STATUS_COLUMN)
                or name.startswith(f"{PROBABILITY_COLUMN}_")):
            outputs.append(name)
        else:
            break
    return list(reversed(outputs))


def result_preview(settings: Settings, job: Job, limit: int = PREVIEW_ROWS) -> ResultPreview | None:
    """The first ``limit`` result rows, prediction columns first; None without a CSV result."""
    if job.status is not Status.PROCESS_OK:
        return None
    path = existing_file(settings.output_dir, job.path_result_csv)
    if path is None:
        return None
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            return None
        rows: list[list[str]] = []
        truncated = False
        for row in reader:
            if len(rows) == limit:
                truncated = True
                break
            rows.append(row)
    outputs = output_column_names(header)
    order = list(range(len(header) - len(outputs), len(header))) + list(range(len(header) - len(outputs)))
    return ResultPreview(
        columns=[header[i] for i in order],
        rows=[[row[i] if i < len(row) else "" for i in order] for row in rows],
        output_columns=len(outputs),
        truncated=truncated,
    )


def class_counts(settings: Settings, job: Job) -> list[tuple[str, int]]:
    """[(class, rows predicted)] from the workbook's summary sheet; [] for a regressor, an
    unfinished job or a workbook without one."""
    if job.status is not Status.PROCESS_OK:
        return []
    path = existing_file(settings.output_dir, job.path_result)
    if path is None:
        return []
    try:
        return _summary_counts(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return []  # a damaged file shows no counts; its download says the rest


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _summary_counts(path: Path) -> list[tuple[str, int]]:
    """The "predicted <class>" items of the summary sheet that model/results/xlsx.py writes (its
    sheets are xl/worksheets/sheetN.xml in workbook order, texts inline): only that small part
    of the archive is read."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        names = [sheet.get("name") for sheet in workbook.iterfind("m:sheets/m:sheet", _NS)]
        if SUMMARY_SHEET not in names:
            return []
        sheet = ElementTree.fromstring(archive.read(f"xl/worksheets/sheet{names.index(SUMMARY_SHEET) + 1}.xml"))
    counts = []
    for row in sheet.iterfind("m:sheetData/m:row", _NS):
        cells = row.findall("m:c", _NS)
        if len(cells) < 2:
            continue
        item = "".join(cells[0].itertext())
        value = cells[1].findtext("m:v", default="", namespaces=_NS)
        if item.startswith(PREDICTED_PREFIX) and value:
            counts.append((item[len(PREDICTED_PREFIX):], int(float(value))))
    return counts
