"""Reading what an API caller sent: credentials and query/path parameters.

Every malformed value becomes a 400 that names the parameter, never a 500: Python's int()
would accept " 7", "7_0" and "٧", and a 30-digit id overflows both database drivers, so
numbers are matched against a plain ASCII pattern with a bounded length.

An empty value (`?format=`, `?limit=`) is malformed too, for every parameter: it is a 400,
not a silent "absent". A program that sends `status=$STATUS` with the variable unset asked
for something; answering every job as if it had asked for none would hide its bug. Leave a
parameter out to get its default. /openapi.json describes exactly these rules (MAX_NUMBER
is the `maximum` of every id and offset there).
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.core.accounts.users import User
from app.core.errors import InvalidRequest
from app.core.jobs.records import Status
from app.web.auth import api_user, require_admin

_DIGITS = re.compile(r"[0-9]{1,18}")  # < 2**63: fits a signed 64-bit column on both engines
MAX_NUMBER = 10**18 - 1  # the largest number _DIGITS lets through
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
STATUS_VALUES = tuple(s.value for s in Status)


async def caller(request: Request, admin: bool = False) -> User:
    """The authenticated user (401 otherwise; 403 when `admin` and they are not one).
    Off the event loop: a token lookup is a database query, and a Basic password is an
    argon2 verification that takes tens of milliseconds on purpose."""
    user = await run_in_threadpool(api_user, request)
    return require_admin(user) if admin else user


def _empty(name: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"The parameter '{name}' is empty: give {expected}, or leave it out for its default.",
                          extra={"parameter": name})


def parse_int(name: str, raw: str | None, *, default: int | None = None, minimum: int = 0,
              maximum: int | None = None) -> int:
    if not raw:
        if default is None:
            raise InvalidRequest(f"The parameter '{name}' is required (a whole number).", extra={"parameter": name})
        if raw is None:
            return default
        raise _empty(name, "a whole number")
    if not _DIGITS.fullmatch(raw):
        raise InvalidRequest(f"The parameter '{name}' must be a whole number, not {raw[:40]!r}.", extra={"parameter": name})
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        span = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidRequest(f"The parameter '{name}' must be {span}; got {value}.", extra={"parameter": name})
    return value


def parse_bool(name: str, raw: str | None, default: bool | None = False) -> bool | None:
    if raw is None:
        return default
    if raw == "":
        raise _empty(name, "true or false")
    lowered = raw.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise InvalidRequest(f"The parameter '{name}' must be true or false (or 1 / 0), not {raw[:40]!r}.",
                     extra={"parameter": name})


def parse_choice(name: str, raw: str | None, choices: tuple[str, ...], default: str | None = None) -> str | None:
    if raw is None:
        return default
    if raw == "":
        raise _empty(name, "one of " + ", ".join(repr(c) for c in choices))
    if raw not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InvalidRequest(f"The parameter '{name}' must be one of {allowed}; got {raw[:40]!r}.",
                         extra={"parameter": name, "allowed": list(choices)})
    return raw


def parse_text(name: str, raw: str | None, what: str, max_length: int = 255) -> str | None:
    if raw is None:
        return None
    if not raw.strip():
        raise _empty(name, what)
    if len(raw) > max_length:
        raise InvalidRequest(f"The parameter '{name}' is longer than {max_length} characters.", extra={"parameter": name})
    return raw


def parse_status(raw: str | None) -> Status | None:
    value = parse_choice("status", raw, STATUS_VALUES)
    return Status(value) if value else None


def job_id_param(request: Request) -> int:
    """The {id} of /api/jobs/{id}... (the route takes any text so that 'abc' is a 400 naming
    the parameter rather than a bare 404)."""
    return parse_int("id", request.path_params.get("id"))
