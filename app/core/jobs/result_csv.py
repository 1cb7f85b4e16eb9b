"""The CSV result in the user's own convention.

The worker writes one CSV twin per job, always the same way (UTF-8 with BOM, ",", ".", CRLF:
RFC 4180, what `model/predictions.py` writes). A user whose Excel expects ";" and a decimal
comma (a Spanish or German locale) opens that as one column, so the download is converted on
the fly into the upload's convention: its delimiter, its decimal mark (in the number columns:
the model's number features and the prediction columns) and its encoding when that is UTF-8
or Windows-1252. Two dialects can be asked for:

* ``excel`` (the default): the upload's convention, as its Excel will open it.
* ``rfc4180``: the file as stored (",", ".", UTF-8).

Jobs from before migration 009 have no recorded convention and get the stored file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.core.jobs.inputs import UploadInput
from app.core.jobs.records import Job
from app.core.registry.models import Registry
from model.schema import NUMERIC_TYPES

DIALECTS = ("excel", "rfc4180")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_OUTPUT_PREFIXES = ("prediction", "probability")


@dataclass(frozen=True)
class Convention:
    delimiter: str
    decimal: str
    encoding: str  # "utf-8-sig" or "cp1252"


def convention_for(info: UploadInput | None, dialect: str) -> Convention | None:
    """The convention to convert to, or None when the stored file is already it."""
    if info is None or dialect == "rfc4180":
        return None
    encoding = "cp1252" if info.encoding == "cp1252" else "utf-8-sig"
    convention = Convention(info.delimiter, info.decimal_mark, encoding)
    return None if convention == Convention(",", ".", "utf-8-sig") else convention


def _number_columns(header: list[str], number_features: Iterable[str]) -> set[int]:
    wanted = {n.strip().lower() for n in number_features}
    return {i for i, name in enumerate(header)
            if name.strip().lower() in wanted or name.strip().lower().startswith(_OUTPUT_PREFIXES)}


def _encodable(path: Path, encoding: str) -> bool:
    with open(path, encoding="utf-8-sig", newline="") as f:
        while block := f.read(1024 * 1024):
            try:
                block.encode(encoding)
            except UnicodeEncodeError:
                return False
    return True


def converted(path: Path, convention: Convention, number_features: Iterable[str],
              rows_per_block: int = 5_000) -> Iterator[bytes]:
    """The stored CSV twin at `path`, re-written in `convention`, as byte blocks. A file
    holding characters Windows-1252 lacks is sent as UTF-8 (with BOM) instead, never lossy."""
    encoding = convention.encoding
    if encoding == "cp1252" and not _encodable(path, encoding):
        encoding = "utf-8-sig"
    comma = convention.decimal == ","
    with open(path, encoding="utf-8-sig", newline="") as source:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            return
        numbers = sorted(_number_columns(header, number_features)) if comma else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=convention.delimiter, lineterminator="\r\n")
        writer.writerow(header)
        first = True
        count = 0
        for record in reader:
            for i in numbers:
                if i < len(record) and _PLAIN_NUMBER.fullmatch(record[i]):
                    record[i] = record[i].replace(".", ",")
            writer.writerow(record)
            count += 1
            if count >= rows_per_block:
                yield _encoded(buffer, encoding, first)
                first, count = False, 0
        yield _encoded(buffer, encoding, first)


def _encoded(buffer: io.StringIO, encoding: str, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    if encoding == "utf-8-sig":
        return (("\ufeff" if first else "") + text).encode("utf-8")
    return text.encode(encoding)


def media_type(convention: Convention | None, path: Path) -> str:
    if convention is None:
        return "text/csv; charset=utf-8"
    charset = "windows-1252" if convention.encoding == "cp1252" and _encodable(path, "cp1252") else "utf-8"
    return f"text/csv; charset={charset}"


def number_features(registry: Registry, job: Job) -> list[str]:
    """The number and integer features of the model version the job ran with (the default
    model for jobs from before the registry)."""
    record = None
    try:
        if job.model_name and job.model_version:
            record = registry.get(job.model_name, job.model_version)
        if record is None:
            record = registry.resolve(job.model_name)
    except Exception:  # no model to ask: only the prediction columns are converted
        return []
    return [s.name for s in record.feature_specs if s.type in NUMERIC_TYPES]
