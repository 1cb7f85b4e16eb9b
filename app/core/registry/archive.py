"""Unpacking a model directory uploaded as a .zip (the Models page and ``POST /api/models``).

A model archive comes from an administrator, but it is still a file from a browser: it is
unpacked as untrusted input. Every entry is checked before a byte is written, and the bytes
are counted as they are written rather than trusted from the archive's headers, so that

- no entry escapes the target directory (absolute paths, ``..``, drive letters, backslashes);
- no symbolic link, device or other special file is made (only directories and regular files);
- a zip bomb stops at MODEL_UNPACKED_LIMIT bytes in all, or at MAX_ENTRIES entries;
- encrypted entries are refused with a message instead of a password prompt or garbage.

What the directory holds is then judged by ``Registry.deploy``, which loads it (a joblib file
can run code when loaded, which is why only administrators may deploy).
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath

from app.core.errors import InvalidRequest
from app.core.jobs.files import human_size

MAX_ENTRIES = 10_000
COPY_BLOCK = 1024 * 1024
# Linux's NAME_MAX (one name) and a bound on a whole entry path, in UTF-8 bytes: a longer one
# would fail with ENAMETOOLONG while unpacking, so it is refused by name beforehand.
NAME_MAX = 255
PATH_MAX = 1024
# A model directory is recognised by one of these files (ours, or MLflow's).
MARKERS = ("schema.json", "MLmodel")


def _shown(name: str) -> str:
    """An entry name for a message: quoted, control characters made visible."""
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in name) + "'"


def _declared_entries(archive: Path) -> int | None:
    """The entry count the end of central directory record declares (the zip64 one when the
    classic field overflows), read from the file's tail alone: zipfile.ZipFile reads the whole
    central directory into objects first, which for 300,000 entries takes seconds and about
    200 MB before any count could be checked.  None when no such record is found (then
    zipfile itself refuses the file)."""
    with open(archive, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        # The record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
        tail_at = max(0, size - (22 + 65_535))
        f.seek(tail_at)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        total = struct.unpack_from("<H", tail, at + 10)[0]
        if total != 0xFFFF:
            return int(total)
        # Zip64: a 20-byte locator right before the record points at the zip64 record.
        locator = tail[at - 20:at] if at >= 20 else b""
        if not locator.startswith(b"PK\x06\x07"):
            return int(total)
        record_at = struct.unpack_from("<Q", locator, 8)[0]
        if record_at + 56 > size:
            return None
        f.seek(record_at)
        record = f.read(56)
        if not record.startswith(b"PK\x06\x06"):
            return None
        return int(struct.unpack_from("<Q", record, 32)[0])


def _entry_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The entry's path inside the target, or InvalidRequest when it could leave it."""
    name = info.filename
    if "\\" in name or "\0" in name:
        raise InvalidRequest(f"The archive entry {_shown(name)} has a backslash or NUL in its name; "
                             "zip the folder again with a standard tool.")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise InvalidRequest(f"The archive entry {_shown(name)} points outside the model directory; "
                             "it is refused.")
    if len(name.encode("utf-8", "surrogateescape")) > PATH_MAX or any(
            len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in path.parts):
        raise InvalidRequest(f"The archive entry {_shown(name[:80] + '...')} has a name too long "
                             f"(at most {NAME_MAX} bytes per folder or file name and {PATH_MAX} in all).")
    return path


def _check_clashes(entries: list[tuple[zipfile.ZipInfo, PurePosixPath]]) -> None:
    """InvalidRequest naming the entry when a file and a folder share a name ("a" a file and
    "a/b" another file), compared without case as on a case-insensitive disk; unpacking would
    otherwise fail half way with an OSError."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    for info, path in entries:
        key = path.as_posix().casefold()
        if not info.is_dir():
            files.setdefault(key, info.filename)
        for depth in range(1, len(path.parts) if not info.is_dir() else len(path.parts) + 1):
            folders.setdefault(PurePosixPath(*path.parts[:depth]).as_posix().casefold(), info.filename)
    for key, name in files.items():
        if key in folders:
            raise InvalidRequest(f"The archive entry {_shown(name)} is a file, but {_shown(folders[key])} "
                                 "uses the same name as a folder; rename one of them.")


def _refuse_too_many(count: int, max_entries: int) -> None:
    if count > max_entries:
        raise InvalidRequest(f"The archive has {count:,} entries; a model archive may "
                             f"have at most {max_entries:,}.")


def _kind(info: zipfile.ZipInfo) -> str:
    """'dir', 'file' or 'other' (a symlink or a special file) from the entry's Unix mode."""
    if info.is_dir():
        return "dir"
    # Unix zips keep the mode's file type in the high bits; others leave it 0 (a plain file).
    kind = stat.S_IFMT(info.external_attr >> 16)
    return "file" if kind in (0, stat.S_IFREG) else "other"


def _common_top(paths: list[PurePosixPath]) -> int:
    """How many leading parts to strip: 1 when every entry sits in one top folder (zipping a
    folder by its name, as Finder and Explorer do) and no marker file is at the top."""
    tops = {p.parts[0] for p in paths if p.parts}
    if len(tops) == 1 and all(len(p.parts) > 1 or not _is_file_at_top(p) for p in paths):
        return 1
    return 0


def _is_file_at_top(path: PurePosixPath) -> bool:
    return len(path.parts) == 1 and path.name in MARKERS


def unpack_model_archive(archive: Path, target: Path, unpacked_limit: int,
                         max_entries: int = MAX_ENTRIES) -> Path:
    """Unpack ``archive`` into the empty directory ``target`` and return the model directory
    inside it (``target`` itself, or its single top folder). InvalidRequest names the problem;
    on any failure ``target`` may hold a partial copy, which the caller removes."""
    try:
        declared_entries = _declared_entries(archive)
    except OSError as exc:
        raise InvalidRequest(f"The archive could not be read: {exc.strerror or type(exc).__name__}.") from exc
    if declared_entries is not None:
        _refuse_too_many(declared_entries, max_entries)
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InvalidRequest("The file is not a .zip archive: zip the model directory "
                             "(schema.json and model.joblib or model.skops, or an MLflow model).") from exc
    except OSError as exc:
        raise InvalidRequest(f"The archive could not be read: {exc.strerror or type(exc).__name__}.") from exc
    with bundle:
        infos = bundle.infolist()
        _refuse_too_many(len(infos), max_entries)
        entries: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        seen: set[str] = set()
        for info in infos:
            path = _entry_path(info)
            if info.flag_bits & 0x1:
                raise InvalidRequest(f"The archive entry {_shown(info.filename)} is encrypted; "
                                     "upload an archive without a password.")
            kind = _kind(info)
            if kind == "other":
                raise InvalidRequest(f"The archive entry {_shown(info.filename)} is a symbolic link or "
                                     "special file; only folders and regular files are allowed.")
            if path.parts and path.parts[0] == "__MACOSX":
                continue  # macOS resource forks, never part of a model
            key = path.as_posix().casefold()
            if kind == "file":
                if key in seen:
                    raise InvalidRequest(f"The archive holds {_shown(info.filename)} twice.")
                seen.add(key)  # a folder of the same name is a clash, see _check_clashes
            entries.append((info, path))
        _check_clashes(entries)
        declared = sum(info.file_size for info, _ in entries)
        if declared > unpacked_limit:
            raise InvalidRequest(f"The archive unpacks to {human_size(declared)}, more than "
                                 f"MODEL_UNPACKED_LIMIT ({human_size(unpacked_limit)}).")
        strip = _common_top([p for _, p in entries if p.parts])
        written = 0
        for info, path in entries:
            parts = path.parts[strip:]
            if not parts:
                continue
            dest = target.joinpath(*parts)
            try:
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as src, open(dest, "xb") as out:
                    while block := src.read(COPY_BLOCK):
                        # The header's size is a claim; the bytes actually inflated are the truth.
                        written += len(block)
                        if written > unpacked_limit:
                            raise InvalidRequest(
                                f"The archive unpacks to more than MODEL_UNPACKED_LIMIT "
                                f"({human_size(unpacked_limit)}); it is refused.")
                        out.write(block)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
                raise InvalidRequest(f"The archive entry {_shown(info.filename)} could not be "
                                     f"unpacked ({type(exc).__name__}: {exc}).") from exc
            except FileExistsError as exc:
                raise InvalidRequest(f"The archive holds {_shown(info.filename)} twice.") from exc
            except OSError as exc:
                # Any other refusal of the disk (the checks above should leave none): named by
                # the entry and the system's reason, never by our server path.
                raise InvalidRequest(f"The archive entry {_shown(info.filename)} could not be unpacked "
                                     f"({exc.strerror or type(exc).__name__}).") from exc
    model_dir = target
    if not any((model_dir / marker).is_file() for marker in MARKERS):
        raise InvalidRequest("The archive holds no model: its top folder needs schema.json "
                             "(with model.joblib, model.skops or a library's own file such as model.txt) "
                             "or an MLflow MLmodel file.")
    return model_dir
