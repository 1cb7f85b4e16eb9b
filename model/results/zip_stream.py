"""A minimal zip writer for the .xlsx results: deflated entries streamed in, ISA-L's deflate and
CRC-32 (bench/RESULTS.md: about 4x zlib's deflate at level 1 with smaller output, and a CRC
25x faster than zlib's, which `zipfile` would compute on every byte).

Only what an .xlsx needs: deflated entries with UTF-8 names, written one after the other.
Each entry's local header is written first and patched in place once its CRC and sizes are
known (the file is seekable), so no data descriptors: the layout every zip reader knows.  No
zip64: an entry or the archive reaching 4 GiB raises ValueError (the workbook writer keeps
each sheet under 2 GiB of XML, which deflates to far less).
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any

_deflate: Any
try:
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal ships wheels for the platforms we run on
    _deflate = zlib

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # local file header, without the name
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory header, without the name
_END = struct.Struct("<IHHHHIIH")  # end of central directory record
_UTF8_NAMES = 1 << 11
_DEFLATED = 8
_VERSION = 20  # 2.0: deflate
_LIMIT = 0xFFFFFFFF


def _dos_time(when: float) -> tuple[int, int]:
    t = time.localtime(when)
    year = max(t.tm_year, 1980)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


def uses_isal() -> bool:
    return _deflate is not zlib


class ZipEntry:
    """One deflated entry being written: `write` bytes, then `close`."""

    def __init__(self, archive: ZipStream, name: str, level: int) -> None:
        self.archive, self.name = archive, name.encode("utf-8")
        self.offset = archive.handle.tell()
        self.crc = self.size = self.compressed = 0
        self._compressor = _deflate.compressobj(level, _deflate.DEFLATED, -15)
        archive.handle.write(self._local_header())

    def _local_header(self) -> bytes:
        clock, day = self.archive.dos_time
        return _LOCAL.pack(0x04034B50, _VERSION, _UTF8_NAMES, _DEFLATED, clock, day, self.crc, self.compressed,
                           self.size, len(self.name), 0) + self.name

    def write(self, data: bytes) -> None:
        self.crc = _deflate.crc32(data, self.crc)
        self.size += len(data)
        out = self._compressor.compress(data)
        self.compressed += len(out)
        self.archive.handle.write(out)
        if self.size > _LIMIT or self.compressed > _LIMIT:
            raise ValueError(f"the zip entry {self.name.decode()} would reach 4 GiB (zip64 is not supported)")

    def close(self) -> None:
        out = self._compressor.flush()
        self.compressed += len(out)
        handle = self.archive.handle
        handle.write(out)
        end = handle.tell()
        handle.seek(self.offset)
        handle.write(self._local_header())  # now with the CRC and sizes
        handle.seek(end)
        self.archive.entries.append(self)


class ZipStream:
    """Write a zip archive entry by entry; the file is removed if writing fails midway
    (`abort`, or an exception in a with-block)."""

    def __init__(self, path: str | os.PathLike, level: int = 1) -> None:
        self.path = os.fspath(path)
        self.level = min(max(level, 0), 3 if uses_isal() else 9)
        self.handle = open(self.path, "wb")
        self.entries: list[ZipEntry] = []
        self.dos_time = _dos_time(time.time())

    def open(self, name: str) -> ZipEntry:
        return ZipEntry(self, name, self.level)

    def writestr(self, name: str, data: bytes) -> None:
        entry = self.open(name)
        entry.write(data)
        entry.close()

    def close(self) -> None:
        handle = self.handle
        start = handle.tell()
        clock, day = self.dos_time
        for e in self.entries:
            handle.write(_CENTRAL.pack(0x02014B50, _VERSION, _VERSION, _UTF8_NAMES, _DEFLATED, clock, day, e.crc,
                                       e.compressed, e.size, len(e.name), 0, 0, 0, 0, 0, e.offset) + e.name)
        size = handle.tell() - start
        if handle.tell() > _LIMIT or len(self.entries) > 0xFFFF:
            raise ValueError("the workbook would reach 4 GiB or 65,535 parts (zip64 is not supported)")
        handle.write(_END.pack(0x06054B50, 0, 0, len(self.entries), len(self.entries), size, start, 0))
        handle.close()

    def abort(self) -> None:
        try:
            self.handle.close()
        finally:
            Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> ZipStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any:
        if exc_type is None:
            self.close()
        else:
            self.abort()
