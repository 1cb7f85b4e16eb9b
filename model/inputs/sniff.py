"""The raw file before the csv pass: binary or text, which encoding (UTF-8, cp1252, latin-1),
physical lines with a length cap, the first line with content and the delimiter it uses, and
how a header cell is matched to a feature name (`norm`).  The rules are model/inputs/scan.py's."""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterator
from typing import TextIO, TypeAlias

from model.inputs.report import Problems

PathLike: TypeAlias = str | os.PathLike[str]
DELIMITERS = (",", ";", "\t")
MAX_LINE_CHARS = 10_000_000  # a longer line is not a table row (and would cost memory)
SNIFF_BYTES = 64 * 1024
# Control bytes that text files do not contain (tab, LF, VT, FF, CR are allowed; FileMaker
# writes VT for line breaks inside a value).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in b"\t\n\x0b\x0c\r") + b"\x7f"
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # bytes cp1252 cannot decode
_BINARY = "This does not look like a CSV text file (it contains binary data)."
_EXCEL_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (zip) and .xls (OLE2)
_EXCEL_HINT = (" It looks like an Excel workbook: upload it with its .xlsx name (workbooks are read "
               "as they are), or save it as \"CSV UTF-8\" and upload that.")
# A zip whose first entry is a CSV is a zipped CSV, not a workbook; gzip is a .csv.gz: both
# are read under their own names (model/inputs/compressed.py).
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_HINT = " It is a zip archive holding a CSV: upload it with its .zip name (it is then decompressed)."
_GZIP_HINT = " It is gzip-compressed: upload it with its .csv.gz name (it is then decompressed)."


def _binary_hint(block: bytes) -> str:
    """What a binary upload seems to be, from its first bytes, and the name to give it."""
    if block.startswith(_GZIP_MAGIC):
        return _GZIP_HINT
    if block.startswith(b"PK\x03\x04") and len(block) >= 30:
        # The first local header: the entry's name (its length at offset 26) from offset 30.
        length = int.from_bytes(block[26:28], "little")
        if block[30:30 + length].lower().endswith((b".csv", b".tsv", b".txt")):
            return _ZIP_HINT
    return _EXCEL_HINT if block.startswith(_EXCEL_MAGIC) else ""


def norm(name: str) -> str:
    # "\ufeff": a byte order mark left inside the file (e.g. by concatenating two CSV files)
    return name.strip().strip("\ufeff").strip().casefold()


def check_bytes(path: PathLike, problems: Problems) -> str | None:
    """One streaming pass over the raw bytes: binary? empty? which encoding?  Returns the
    encoding, or None after adding the problem that ends the inspection."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = cp1252_ok = True
    content = False
    with open(path, "rb") as f:
        block = f.read(1 << 20)
        binary = _BINARY + _binary_hint(block)
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


class Lines:
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


def first_content_line(path: PathLike, encoding: str) -> tuple[int, str | None]:
    """(row, line) of the first line with visible content; line None if it is too long."""
    with open(path, encoding=encoding, newline="") as f:
        lines = Lines(f, encoding == "utf-8-sig")
        row = 0
        for row, line in enumerate(lines, 1):
            if line.strip():
                return row, line
        return row + 1 if lines.too_long else 0, None


def pick_delimiter(line: str, wanted: set[str]) -> str:
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:  # e.g. a field over the size limit; the scan reports it
            cells = []
        score = (sum(norm(c) in wanted for c in cells), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best
