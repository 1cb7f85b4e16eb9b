"""The audit log: who (a user name) did what (an action such as ``result.download``) to which
object, from which address, when. One function writes it, ``record``; the core calls it from
the functions that change state or hand out a result (jobs, submissions, results, users,
tokens, models, retention), so every way in (panel, API, CLI) leaves the same entry.

Append-only: this module has no update and no delete, and no query in ``sql/`` changes or
removes an ``audit_log`` row. Entries outlive the jobs and users they name (no foreign keys),
so "who deleted job 812?" still has an answer after the row is gone.

To audit a new action: add its name below (``object.verb``), and call
``record(db_or_tx, actor, ACTION, "object type", object_id, detail=...)`` in the core function
that does it, inside its transaction when it has one (``record`` takes a ``Transaction`` too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.core.db import Database, Row, db_time_text, parse_time

# -- action names (object.verb) ----------------------------------------------------------------
SIGNIN_SUCCESS = "signin.success"
SIGNIN_FAILURE = "signin.failure"
SIGNOUT = "signout"
JOB_UPLOAD = "job.upload"
RESULT_DOWNLOAD = "result.download"
INPUT_DOWNLOAD = "input.download"          # the original CSV a user uploaded
JOB_RETRY = "job.retry"
JOB_CANCEL = "job.cancel"                  # a waiting or running job stopped (CANCELLED)
JOB_ARCHIVE = "job.archive"
JOB_UNARCHIVE = "job.unarchive"
JOB_DELETE = "job.delete"
JOB_PROCESS = "job.process"                # /process_file: run one job now
QUEUE_PROCESS = "queue.process"            # /process_all: run every PENDING job now
JOB_EXPIRE = "job.expire"                  # the retention sweep removed its files
USER_CREATE = "user.create"
USER_DISABLE = "user.disable"
USER_ENABLE = "user.enable"
USER_PASSWORD = "user.password"            # set by an administrator or changed by the user
USER_EMAIL = "user.email"
USER_UNLOCK = "user.unlock"
USER_DELETE = "user.delete"
USER_ROLE = "user.role"
USER_INVITE = "user.invite"
USER_INVITE_REVOKE = "user.invite_revoke"
TOKEN_CREATE = "token.create"
TOKEN_REVOKE = "token.revoke"
MODEL_DEPLOY = "model.deploy"
MODEL_ACTIVATE = "model.activate"
WEBHOOK_CREATE = "webhook.create"
WEBHOOK_DELETE = "webhook.delete"

# Every name above (record refuses any other, so a typo cannot write an action nobody filters by).
ACTIONS: tuple[str, ...] = tuple(sorted({value for name, value in dict(globals()).items()
                                         if name.isupper() and isinstance(value, str)}))

SYSTEM_NAME = "system"  # the actor of what the service does on its own (the retention sweep)
MAX_DETAIL = 1000


class Person(Protocol):
    """Who an actor is, as far as the log cares (app/core/accounts/users.py's User is one; the
    log does not import it, since users.py records its own actions here)."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: a user name and the client's address (``"cli"`` for the
    command line, ``""`` for the service itself)."""

    name: str
    address: str = ""
    user_id: int | None = None

    @classmethod
    def of(cls, user: Person, address: str = "") -> Actor:
        return cls(user.username, address, user.id)


SYSTEM = Actor(SYSTEM_NAME)


def cli_actor(user: Person | None = None) -> Actor:
    """The command line acting (as ``user`` when it names one)."""
    return Actor(user.username if user else "cli", "cli", user.id if user else None)


class _Writer(Protocol):
    def insert(self, name: str, params: Any = None) -> int: ...


def record(db: _Writer, actor: Actor, action: str, object_type: str = "", object_id: object = None,
           detail: str | None = None, *, address: str | None = None) -> int:
    """Append one entry; returns its id. ``db`` is a Database or a Transaction (then the entry
    commits or rolls back with the change it describes). ``address`` overrides the actor's."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to app/core/events/audit.py")
    return db.insert("audit_insert", {
        "actor": (actor.name or "?")[:64],
        "action": action,
        "object_type": object_type[:32],
        "object_id": None if object_id is None else str(object_id)[:128],
        "address": (actor.address if address is None else address)[:64],
        "detail": detail[:MAX_DETAIL] if detail else None,
    })


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime | None
    actor: str
    action: str
    object_type: str
    object_id: str | None
    address: str
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat() if self.at else None, "actor": self.actor,
                "action": self.action, "object_type": self.object_type, "object_id": self.object_id,
                "address": self.address, "detail": self.detail}


def entry_from_row(row: Row) -> Entry:
    return Entry(id=int(row["id"]), at=parse_time(row["at"]), actor=row["actor"], action=row["action"],
                 object_type=row["object_type"] or "", object_id=row["object_id"], address=row["address"] or "",
                 detail=row["detail"])


@dataclass(frozen=True)
class AuditFilter:
    """What the admin page and GET /api/audit narrow the log by (None: any). ``since`` is
    inclusive, ``until`` exclusive, both aware datetimes."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, Any]:
        return {"actor": self.actor or None, "action": self.action or None,
                "object_type": self.object_type or None, "object_id": self.object_id or None,
                "since": db_time_text(self.since) if self.since else None,
                "until": db_time_text(self.until) if self.until else None}


class AuditLog:
    """Reading the log (writing is ``record``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, where: AuditFilter | None = None, limit: int = 100, offset: int = 0) -> list[Entry]:
        params = (where or AuditFilter()).params()
        params.update(limit=int(limit), offset=int(offset))
        return [entry_from_row(r) for r in self.db.all("audit_list", params)]

    def count(self, where: AuditFilter | None = None) -> int:
        row = self.db.one("audit_count", (where or AuditFilter()).params())
        return int(row["n"]) if row else 0
