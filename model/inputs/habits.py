"""Title lines above a CSV's header, as Excel reports export them ("Sales report, March" and a
blank line before the column names).

`find_header_line` looks at the first `HEADER_SEARCH_LINES` lines for the line whose cells
name the most of the model's columns; when that is not the first non-blank line, the lines
above it are a title.  `blank_lines_above` then writes a copy of the file with those lines
emptied (their line breaks kept, every other byte untouched), which `inspect_csv` and the
worker read as blank rows: row numbers stay the line numbers of the user's file, and the
whole pipeline stays as it is.  The original is kept for download.
"""

from __future__ import annotations

import csv
import os
import re

from model.inputs.sniff import DELIMITERS
from model.schema import FeatureSpec, feature_specs

HEADER_SEARCH_LINES = 20
_HEAD_BYTES = 256 * 1024
_LINE_END = re.compile(rb"\r\n|\n|\r")


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _score(line: str, wanted: set[str]) -> int:
    best = 0
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
        except csv.Error:
            continue
        best = max(best, len({c.strip().lower() for c in cells} & wanted))
    return best


def _head_lines(path: str | os.PathLike[str]) -> tuple[bytes, list[tuple[int, int]]]:
    """The file's first bytes and the (start, end-of-terminator) spans of its first lines."""
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    spans, start = [], 0
    for match in _LINE_END.finditer(head):
        spans.append((start, match.end()))
        start = match.end()
        if len(spans) >= HEADER_SEARCH_LINES:
            break
    return head, spans


def find_header_line(path: str | os.PathLike[str],
                     features: list[str | FeatureSpec] | list[FeatureSpec]) -> int | None:
    """The 1-based line of the header when lines above it must be skipped, else None."""
    wanted = {spec.name.strip().lower() for spec in feature_specs(features)}
    head, spans = _head_lines(path)
    first: tuple[int, int] | None = None  # (line, score) of the first non-blank line
    best: tuple[int, int] | None = None
    for number, (start, end) in enumerate(spans, 1):
        text = _decode(head[start:end]).strip("\r\n")
        if not text.strip(" \t,;"):
            continue
        score = _score(text, wanted)
        if first is None:
            first = (number, score)
        if score and (best is None or score > best[1]):
            best = (number, score)
    if first is None or best is None or best[0] == first[0] or best[1] <= first[1]:
        return None
    return best[0]


def file_encoding(path: str | os.PathLike[str]) -> str:
    """The encoding `inspect_csv` reads the whole file with: UTF-8 (with or without BOM) when
    every byte decodes, else cp1252 (latin-1 if cp1252 cannot decode it either)."""
    import codecs

    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while block := f.read(1024 * 1024):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def blank_lines_above(path: str | os.PathLike[str], out: str | os.PathLike[str], line: int) -> None:
    """Copy `path` to `out` with lines 1..line-1 emptied (a UTF-8 BOM and the line breaks kept)."""
    head, spans = _head_lines(path)
    cut = spans[line - 2][1]  # end of the line above the header
    bom = b"\xef\xbb\xbf" if head.startswith(b"\xef\xbb\xbf") else b""
    breaks = b"".join(_LINE_END.search(head, start, end).group() for start, end in spans[:line - 1])  # type: ignore[union-attr]
    with open(path, "rb") as src, open(out, "wb") as dst:
        dst.write(bom + breaks)
        src.seek(cut)
        while block := src.read(1024 * 1024):
            dst.write(block)
