"""Compressed CSV uploads: a .csv.gz, or a .zip holding exactly one CSV, decompressed at
upload into the CSV that `inputs.scan.inspect_csv` checks and the worker reads.

The CSV comes out byte for byte as it was compressed (its own delimiter, decimal mark and
encoding, which the check finds as for any CSV), so the result follows the user's convention.
Like a workbook conversion it runs in the child process of model/inputs/isolated.py (a memory
limit, a time limit, one of MAX_CONCURRENT_CONVERSIONS slots) and is bounded the same way:
the bytes are counted as they are decompressed, never taken from the archive's headers, and
the copy stops at `Limits.max_unpacked` (a gzip or zip bomb) or at `Limits.max_output_bytes`
(the room the user's storage quota leaves: ``stopped="output"``).  A .zip with several files,
none, or a file that is not a CSV is refused naming what it holds.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from model.inputs.report import Problem
from model.inputs.workbook import COMPRESSED_SUFFIXES, PARQUET_SUFFIXES, WORKBOOK_SUFFIXES, Conversion, Limits

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an entry first, or the end record of an empty zip
COPY_BLOCK = 1024 * 1024
SHOWN_NAMES = 5


def compressed_format(filename: str) -> str | None:
    """"gzip" or "zip" by the upload's name (".csv.gz", ".zip"), else None."""
    return COMPRESSED_SUFFIXES.get(Path(filename).suffix.lower())


def _size(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB" if n >= 1024**2 else f"{n:,} bytes"


def _junk(name: str) -> bool:
    """Entries zip tools add beside the file (macOS resource forks, Finder's .DS_Store)."""
    path = PurePosixPath(name)
    return (bool(path.parts) and path.parts[0] == "__MACOSX") or path.name.startswith("._") \
        or path.name in (".DS_Store", "Thumbs.db", "desktop.ini")


def _zip_member(filename: str, conversion: Conversion, bundle: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """The one CSV inside the .zip, or None after adding the problem that says what it holds."""
    files = [i for i in bundle.infolist() if not i.is_dir() and not _junk(i.filename)]
    if len(files) != 1:
        names = ", ".join(f"'{i.filename}'" for i in files[:SHOWN_NAMES])
        more = f" and {len(files) - SHOWN_NAMES:,} more" if len(files) > SHOWN_NAMES else ""
        found = f"{len(files):,} files ({names}{more})" if files else "no file"
        conversion.problems.append(Problem(
            f"'{filename}' holds {found}; a .zip upload must hold exactly one CSV file. "
            "Zip one CSV, or upload each file on its own."))
        return None
    member = files[0]
    suffix = PurePosixPath(member.filename).suffix.lower()
    if suffix not in CSV_SUFFIXES:
        if suffix in WORKBOOK_SUFFIXES or suffix in PARQUET_SUFFIXES:
            hint = f" Upload the {suffix} file itself, not zipped: it is read as it is."
        else:
            hint = " A .zip upload must hold one CSV file (.csv, .tsv or .txt)."
        conversion.problems.append(Problem(f"'{filename}' holds '{member.filename}', which is not a CSV file.{hint}"))
        return None
    if member.flag_bits & 0x1:
        conversion.problems.append(Problem(f"'{member.filename}' in '{filename}' is encrypted; "
                                           "zip it again without a password."))
        return None
    return member


def decompress_csv(path: str | os.PathLike[str], out_csv: str | os.PathLike[str], filename: str,
                   limits: Limits) -> Conversion:
    """The CSV inside a .csv.gz or .zip upload named `filename`, written to `out_csv`."""
    fmt = compressed_format(filename) or "gzip"
    conversion = Conversion(fmt)
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic.startswith(GZIP_MAGIC if fmt == "gzip" else ZIP_MAGIC):
        kind = "gzip-compressed" if fmt == "gzip" else "a .zip archive"
        conversion.problems.append(Problem(f"'{filename}' is not {kind}, though its name says so. "
                                           "Compress the CSV again, or upload it as it is."))
        return conversion
    written = 0
    try:
        bundle = zipfile.ZipFile(path) if fmt == "zip" else None
        try:
            source: IO[bytes] | gzip.GzipFile
            if bundle is not None:
                member = _zip_member(filename, conversion, bundle)
                if member is None:
                    return conversion
                source = bundle.open(member)
            else:
                # Streamed: a gzip file is inflated block by block, never held whole.
                source = gzip.open(path, "rb")
            with source, open(out_csv, "wb") as out:
                while block := source.read(COPY_BLOCK):
                    written += len(block)
                    if written > limits.max_output_bytes and limits.max_output_bytes < limits.max_unpacked:
                        conversion.stopped = "output"
                        conversion.problems.append(Problem(
                            f"'{filename}' decompresses to more than {_size(limits.max_output_bytes)}, "
                            "the most a decompressed file may take here."))
                        return conversion
                    if written > limits.max_unpacked:
                        conversion.problems.append(Problem(
                            f"'{filename}' decompresses to more than {_size(limits.max_unpacked)}, the most an "
                            "upload may unpack to. Split the CSV and upload the parts."))
                        return conversion
                    out.write(block)
        finally:
            if bundle is not None:
                bundle.close()
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError) as exc:
        conversion.problems.append(Problem(
            f"'{filename}' could not be decompressed: it is damaged or incomplete ({type(exc).__name__}). "
            "Compress the CSV again and upload that."))
        return conversion
    if written == 0:
        conversion.problems.append(Problem(f"The CSV in '{filename}' is empty."))
    return conversion
