"""Receiving an HTTP file upload: the multipart body streamed straight to a hidden .part file,
capped as it arrives, and handed to the core (app/core/jobs/submissions.py) as an ``Upload``.

Starlette's request.form() caps only non-file parts, so a file part could fill the disk before
anyone looks at its size; this parser counts as it writes and stops at UPLOAD_LIMIT. The small
fields beside the file (the CSRF token) are capped in number and in total size, so a body of a
million tiny fields is refused instead of held in memory. ``before_file`` runs when the file
part begins, with the fields received so far: the panel checks its CSRF token there, so a
forged cross-site upload never gets a byte onto the disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.core.errors import BeyondError, InvalidRequest
from app.core.jobs.files import display_name, is_disk_full, new_part_path, upload_storage_full
from app.core.jobs.submissions import Upload, too_large
from app.core.settings import Settings

MAX_FIELD_BYTES = 64 * 1024   # one small form field (the CSRF token); never a file
MAX_FIELDS = 10               # non-file parts in one upload
MAX_FIELDS_BYTES = 128 * 1024  # all of them together
MAX_PART_HEADER_BYTES = 16 * 1024


async def receive_upload(request: Request, settings: Settings, field_name: str = "file",
                         before_file: Callable[[dict[str, str]], None] | None = None,
                         limit: int | None = None) -> Upload:
    """Stream the multipart body's ``field_name`` file part to disk, stopping at ``limit``
    (default UPLOAD_LIMIT; TooLarge) or at the first malformed or excessive part
    (InvalidRequest)."""
    limit = settings.upload_limit if limit is None else limit
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequest(f"Send the file as multipart/form-data in a field named '{field_name}'.")
    declared = request.headers.get("content-length")
    body_size = int(declared) if declared and declared.isdigit() else None
    data_file = field_name == "file"  # not a model archive: the 413 says how to make it fit

    if body_size is not None and body_size > limit + MAX_FIELDS_BYTES + 64 * 1024:
        raise too_large(limit, body_size, data_file)

    settings.input_dir.mkdir(parents=True, exist_ok=True)
    part_path = new_part_path(settings.input_dir, uuid.uuid4().hex)
    state: dict[str, Any] = {"headers": {}, "name": None, "filename": None, "buf": bytearray(),
                             "h_field": b"", "h_value": b"", "header_bytes": 0}
    fields: dict[str, str] = {}
    out: dict[str, Any] = {"handle": None, "size": 0, "files": 0, "field_parts": 0, "field_bytes": 0}

    def on_part_begin() -> None:
        state.update(headers={}, name=None, filename=None, buf=bytearray(), header_bytes=0)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["h_field"] += data[start:end]
        _count_header(end - start)

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["h_value"] += data[start:end]
        _count_header(end - start)

    def _count_header(n: int) -> None:
        state["header_bytes"] += n
        if state["header_bytes"] > MAX_PART_HEADER_BYTES:
            raise InvalidRequest("A part of the upload has oversized headers.")

    def on_header_end() -> None:
        state["headers"][state["h_field"].lower()] = state["h_value"]
        state["h_field"], state["h_value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["name"] = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            state["filename"] = options[b"filename"].decode("utf-8", "replace")
            if state["name"] == field_name:
                out["files"] += 1
                if out["files"] > 1:
                    raise InvalidRequest("Send one file per upload.")
                if before_file is not None:
                    before_file(dict(fields))
                out["handle"] = open(part_path, "wb")
        else:
            out["field_parts"] += 1
            if out["field_parts"] > MAX_FIELDS:
                raise InvalidRequest(f"Too many form fields: an upload carries the file and at most {MAX_FIELDS} more.")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["filename"] is not None and state["name"] == field_name:
            out["size"] += end - start
            if out["size"] > limit:
                raise too_large(limit, body_size, data_file)
            out["handle"].write(data[start:end])
        elif state["filename"] is None:
            state["buf"] += data[start:end]
            out["field_bytes"] += end - start
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise InvalidRequest("A form field is too large.")
            if out["field_bytes"] > MAX_FIELDS_BYTES:
                raise InvalidRequest("The form fields beside the file are too large together.")
        # Other files (a field that is not ours) are read past and dropped, never stored.

    def on_part_end() -> None:
        if state["filename"] is None and state["name"]:
            fields[state["name"]] = state["buf"].decode("utf-8", "replace")
        elif state["name"] == field_name and out["handle"]:
            out["handle"].close()
            fields["__filename__"] = state["filename"] or ""

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
    }
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BeyondError:
        _cleanup(out["handle"], part_path)
        raise
    except Exception as exc:  # malformed multipart, client went away, a full disk
        _cleanup(out["handle"], part_path)
        if is_disk_full(exc):
            raise upload_storage_full(display_name(state["filename"])) from exc
        raise InvalidRequest(f"The upload could not be read ({type(exc).__name__}); send it again.") from exc
    if out["handle"] is None or "__filename__" not in fields:
        _cleanup(out["handle"], part_path)
        what = "a CSV file" if field_name == "file" else "a file"
        raise InvalidRequest(f"No file was sent: choose {what} (form field '{field_name}').")
    filename = fields.pop("__filename__")
    return Upload(part_path, display_name(filename), out["size"], fields)


def _cleanup(handle: IO[bytes] | None, part_path: Any) -> None:
    if handle is not None and not handle.closed:
        try:
            handle.close()
        except OSError:  # its buffer could not be flushed (a full disk): the file goes anyway
            pass
    part_path.unlink(missing_ok=True)

