"""What can go wrong in the core, as plain exception classes.

The core raises these; it knows nothing of HTTP. The web layer maps each class to a status
code in one table (app/web/errors.py), the CLI prints the message. Every error carries a
message written for the person who caused it, and ``extra``: machine-readable details (the
rejected rows and columns, the job's id and status) that the API adds to its JSON answer.
"""

from __future__ import annotations

from typing import Any


class BeyondError(Exception):
    """Base class: ``message`` for people, ``extra`` for programs."""

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class InvalidRequest(BeyondError):
    """The request itself is malformed: a parameter, a form, a multipart body."""


class AuthenticationRequired(BeyondError):
    """No valid credentials came with the request."""


class PermissionDenied(BeyondError):
    """Valid credentials, but not allowed (an administrator's action, a failed CSRF check)."""


class NotFound(BeyondError):
    """No such object, or one the caller may not see (both answer the same, so ids leak nothing)."""


class Conflict(BeyondError):
    """The object is in a state that does not allow the action (a running job, a done job)."""


class TooLarge(BeyondError):
    """An upload or a form is over its limit."""


class FileRejected(BeyondError):
    """An uploaded file does not fit the model; ``extra['errors']`` lists the problems by row
    and column."""


class UnknownModel(BeyondError):
    """An upload names a model that has no active version; ``extra['models']`` lists those
    that have one."""


class Throttled(BeyondError):
    """Too many attempts; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra)
        self.retry_after = retry_after


class Unavailable(BeyondError):
    """A part the service needs is not there right now (the model, a worker process).

    ``detail`` says exactly what (a server path, an exception): it is shown to administrators
    only, because a path on the server is none of an ordinary user's business."""

    def __init__(self, message: str, *, detail: str = "", retry_after: int = 30,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra)
        self.detail = detail
        self.retry_after = retry_after


class Gone(BeyondError):
    """The object's files were removed for good (RESULT_RETENTION_DAYS); its record remains."""


class QuotaExceeded(BeyondError):
    """A per-user limit (MAX_PENDING_JOBS_PER_USER) is reached; ``extra`` names it."""


class StorageQuotaExceeded(TooLarge):
    """The user's stored files would exceed MAX_STORAGE_MB_PER_USER; ``extra`` names it."""


class StorageFull(BeyondError):
    """The server's disk (INPUT_DIR) has no room left for the file: the server's problem, not
    the file's; nothing of it is kept."""
