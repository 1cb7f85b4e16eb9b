"""Users of the panel and their passwords (argon2id), plus login throttling."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.db import Database, Row
from app.core.jobs import parse_time

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()
# Verified when the user name is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 8
THROTTLE_FAILURES = 5       # failures within the window before logins for that name pause
THROTTLE_WINDOW = 15 * 60   # seconds


class UserError(ValueError):
    """A user-facing problem with a user name or password."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    is_active: bool
    email: str | None
    notify_email: bool
    session_version: int
    created_at: datetime | None


def user_from_row(row: Row) -> User:
    return User(
        id=int(row["id"]),
        username=row["username"],
        is_admin=bool(row["is_admin"]),
        is_active=bool(row["is_active"]),
        email=row.get("email"),
        notify_email=bool(row.get("notify_email")),
        session_version=int(row["session_version"]),
        created_at=parse_time(row.get("created_at")),
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password must have at least {MIN_PASSWORD} characters.")


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, username: str, password: str, is_admin: bool = False, email: str | None = None) -> User:
        if not USERNAME_RE.fullmatch(username):
            raise UserError("A user name is 1-64 letters, digits or . _ @ - (no spaces).")
        check_new_password(password)
        if self.by_name(username):
            raise UserError(f"The user {username!r} already exists.")
        user_id = self.db.insert(
            "user_insert",
            {"username": username, "password_hash": hash_password(password), "is_admin": int(is_admin), "email": email},
        )
        user = self.by_id(user_id)
        assert user is not None
        return user

    def by_name(self, username: str) -> User | None:
        # A name that could never have been created is not looked up: MySQL's PAD SPACE
        # comparison would otherwise find 'alice' for 'alice '.
        if not USERNAME_RE.fullmatch(username or ""):
            return None
        row = self.db.one("user_by_name", {"username": username})
        return user_from_row(row) if row else None

    def by_id(self, user_id: int) -> User | None:
        row = self.db.one("user_by_id", {"id": user_id})
        return user_from_row(row) if row else None

    def list(self) -> list[User]:
        return [user_from_row(r) for r in self.db.all("users_list")]

    def count(self) -> int:
        row = self.db.one("users_count")
        return int(row["n"]) if row else 0

    def throttled(self, username: str) -> bool:
        row = self.db.one("login_failures_recent", {"username": username[:64], "lease_seconds": THROTTLE_WINDOW})
        return row is not None and int(row["n"]) >= THROTTLE_FAILURES

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the name and password match an active account, else None. Callers show
        one message for every failure, so nobody learns which names exist."""
        valid = bool(USERNAME_RE.fullmatch(username or ""))
        row = self.db.one("user_by_name", {"username": username}) if valid else None
        stored = row["password_hash"] if row else _DUMMY_HASH
        ok: bool
        try:
            ok = _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or not row["is_active"]:
            self.db.execute("login_failure_insert", {"username": username[:64]})
            return None
        self.db.execute("login_failures_clear", {"username": username[:64]})
        return user_from_row(row)

    def set_password(self, user_id: int, password: str) -> None:
        """New password; every existing session of the user ends (session_version bump)."""
        check_new_password(password)
        self.db.execute("user_set_password", {"id": user_id, "password_hash": hash_password(password)})

    def set_active(self, user_id: int, active: bool) -> None:
        self.db.execute("user_set_active", {"id": user_id, "is_active": int(active)})

    def set_admin(self, user_id: int, admin: bool) -> None:
        self.db.execute("user_set_admin", {"id": user_id, "is_admin": int(admin)})

    def set_email(self, user_id: int, email: str | None, notify: bool) -> None:
        self.db.execute("user_set_email", {"id": user_id, "email": email or None, "notify_email": int(notify)})

    def end_sessions(self, user_id: int) -> None:
        """Logout: cookies signed with the old session version stop working."""
        self.db.execute("user_bump_session", {"id": user_id})
