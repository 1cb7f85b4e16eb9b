"""Users of the panel and their passwords (argon2id); sign-ins go through app/core/accounts/throttle.py."""

from __future__ import annotations

import functools
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.accounts.throttle import (
    PASSWORD_GATE,
    CheckedCredentials,
    PasswordGate,
    ServerBusy,
    Throttle,
    name_key,
)
from app.core.db import Database, DuplicateKey, Row, parse_time
from app.core.errors import Throttled
from app.core.events import audit
from app.core.events.audit import SYSTEM, Actor
from app.core.logfmt import log_event

log = logging.getLogger("beyond.auth")

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user name is unknown, so both failures take the same time. Made at the
    first need, not at import: every worker and CLI process imports this module."""
    return _hasher.hash(secrets.token_urlsafe(16))


USERNAME_MAX = 64
USERNAME_SIGNS = frozenset("0123456789._@-")
USERNAME_RULE = ("A user name is 1-64 letters (accented letters and other alphabets too, one alphabet per "
                 "name), digits 0-9 or . _ @ - (no spaces or other signs).")
# Scripts that one name may mix: Japanese writes kanji, hiragana and katakana together.
_SAME_SCRIPT = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def normal_username(username: str) -> str:
    """The name as stored and looked up: NFC, so 'í' typed as 'i' plus a combining accent is
    the same name as the single letter 'í'."""
    return unicodedata.normalize("NFC", username or "")


def is_username(username: str) -> bool:
    """The rule of USERNAME_RULE, for a name already in normal_username form. Letters are
    Unicode letters whose lower case is one letter (so 'Lucía' and 'LUCÍA' are one name on
    both engines, see sqlite_lower in app/core/db.py); no control character, space or other
    invisible or look-alike separator can pass (they are not letters); a name of one script
    (its letters' Unicode names start with LATIN, CYRILLIC, GREEK...) cannot pass for
    another's by swapping in a look-alike letter ('аdmin' with a Cyrillic 'а')."""
    if not 1 <= len(username) <= USERNAME_MAX or username != normal_username(username):
        return False
    scripts = set()
    for ch in username:
        if ch in USERNAME_SIGNS:
            continue
        if not ch.isalpha() or len(ch.lower()) != 1:
            return False
        script = unicodedata.name(ch, "?").split(" ")[0]
        scripts.add(_SAME_SCRIPT.get(script, script))
    return len(scripts) <= 1
MIN_PASSWORD = 8
# Hashing a new password (an administrator creating a user, a password change) waits this long
# for a slot of the password gate: those are rare and must not fail because of a sign-in flood.
NEW_HASH_WAIT = 10.0


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
    must_change_password: bool = False  # created or reset by an administrator (migration 010)


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
        must_change_password=bool(row.get("must_change_password")),
    )


def hash_password(password: str, gate: PasswordGate = PASSWORD_GATE) -> str:
    with gate.slot(wait=NEW_HASH_WAIT):
        return _hasher.hash(password)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password must have at least {MIN_PASSWORD} characters.")


class Users:
    def __init__(self, db: Database, throttle: Throttle | None = None, gate: PasswordGate = PASSWORD_GATE) -> None:
        self.db = db
        self.throttle = throttle or Throttle(db)
        self.gate = gate
        self.checked = CheckedCredentials()  # HTTP Basic credentials that passed a check lately

    def create(self, username: str, password: str, is_admin: bool = False, email: str | None = None,
               actor: Actor = SYSTEM) -> User:
        username = normal_username(username)
        if not is_username(username):
            raise UserError(USERNAME_RULE)
        check_new_password(password)
        taken = UserError(f"The user {username!r} already exists (user names ignore case).")
        if self.by_name(username):
            raise taken
        params = {"username": username, "password_hash": hash_password(password, self.gate),
                  "is_admin": int(is_admin), "email": email}
        try:
            user_id = self.db.insert("user_insert", params)
        except DuplicateKey:
            # Another create of the same name (in any case) won the race since the check above.
            raise taken from None
        user = self.by_id(user_id)
        assert user is not None
        audit.record(self.db, actor, audit.USER_CREATE, "user", user.username,
                     "administrator" if is_admin else "user")
        return user

    def by_name(self, username: str) -> User | None:
        """The account of this name, ignoring case ('Maria' finds 'maria'). A name that could
        never have been created is not looked up (MySQL's PAD SPACE comparison would otherwise
        find 'alice' for 'alice ')."""
        username = normal_username(username)
        if not is_username(username):
            return None
        row = self.db.one("user_by_name", {"username_key": name_key(username)})
        return user_from_row(row) if row else None

    def by_id(self, user_id: int) -> User | None:
        row = self.db.one("user_by_id", {"id": user_id})
        return user_from_row(row) if row else None

    def list(self) -> list[User]:
        return [user_from_row(r) for r in self.db.all("users_list")]

    def count(self) -> int:
        row = self.db.one("users_count")
        return int(row["n"]) if row else 0

    def authenticate(self, username: str, password: str, *, client: str = "", via: str = "direct") -> User | None:
        """The user if the name (any case) and password match an active account, else None.
        Callers show one message for every failure, so nobody learns which names exist.

        The attempt is counted before the password is checked; raises Throttled (refused, no
        hash computed) when this name or client has failed too often, ServerBusy when every
        password-check slot is taken. ``client`` is the address the attempt comes from, ``via``
        the way in (form, basic, account), both for the throttle and the log.

        Over HTTP Basic, credentials that passed a check in the last minutes are taken without
        a new one (and without the throttle: they prove the password already) as long as the
        account is active and its password hash is still the one they matched."""
        username = normal_username(username)
        if via == "basic":
            known = self._checked_user(username, password)
            if known is not None:
                return known
        fields = {"user": username[:64], "client": client, "via": via}
        # Audited: every failure (whichever way in) and the panel's sign-ins; not the success of
        # each Basic-authenticated API call, nor the account page's check of the current password
        # (the change it allows is audited itself).
        who = Actor(username[:64] or "?", client)
        try:
            attempt = self.throttle.begin(username, client)
        except Throttled as exc:
            if not getattr(exc, "repeat", False):  # an address or pair refused in this process: logged once
                log_event(log, "auth.throttled", logging.WARNING, **fields, limit=exc.extra.get("limit"),
                          retry_after=exc.retry_after)
                audit.record(self.db, who, audit.SIGNIN_FAILURE, "user", username[:64],
                             f"via {via}: refused, too many failed attempts")
            raise
        row = None
        ok = False
        # A name that breaks the rule (is_username) cannot exist: refused without hashing (the
        # rule is public, so the shorter answer tells nothing).
        if is_username(username):
            row = self.db.one("user_by_name", {"username_key": name_key(username)})
            stored = row["password_hash"] if row else _dummy_hash()
            try:
                with self.gate.slot():
                    try:
                        ok = _hasher.verify(stored, password)
                    except (VerificationError, InvalidHashError):
                        ok = False
            except ServerBusy as exc:
                self.throttle.abandon(attempt)
                log_event(log, "auth.throttled", logging.WARNING, **fields, limit="busy", retry_after=exc.retry_after)
                raise
        if not ok or row is None or not row["is_active"]:
            # The attempt's row stays: it is the recorded failure.
            log_event(log, "auth.failed", logging.WARNING, **fields)
            reason = "disabled account" if ok and row is not None else "unknown user or wrong password"
            audit.record(self.db, who, audit.SIGNIN_FAILURE, "user", username[:64], f"via {via}: {reason}")
            return None
        self.throttle.succeeded(attempt)
        user = user_from_row(row)
        if via == "basic":
            self.checked.put(username, password, user.id, row["password_hash"])
        if via == "form":
            audit.record(self.db, Actor(user.username, client, user.id), audit.SIGNIN_SUCCESS, "user", user.username)
        return user

    def _checked_user(self, username: str, password: str) -> User | None:
        known = self.checked.get(username, password)
        if known is None:
            return None
        user_id, password_hash = known
        row = self.db.one("user_by_id", {"id": user_id})
        if row is None or not row["is_active"] or row["password_hash"] != password_hash:
            self.checked.forget(username, password)  # deleted, disabled or a new password since
            return None
        return user_from_row(row)

    def unlock(self, user_id: int, actor: Actor | None = None) -> int:
        """An administrator forgets the failed sign-ins of a user (from every client). Audited
        when ``actor`` is given (a password reset unlocks too, as part of its own entry)."""
        user = self.by_id(user_id)
        if user is None:
            return 0
        forgotten = self.throttle.unlock(user.username)
        if actor is not None:
            audit.record(self.db, actor, audit.USER_UNLOCK, "user", user.username, f"{forgotten} failed sign-ins forgotten")
        return forgotten

    def recent_failures(self) -> dict[int, int]:
        """Failed sign-ins within the throttle window, by user id (users with none left out)."""
        by_key = self.throttle.recent_failures()
        return {u.id: by_key[name_key(u.username)] for u in self.list() if name_key(u.username) in by_key}

    def set_password(self, user_id: int, password: str, actor: Actor = SYSTEM, detail: str | None = None) -> None:
        """New password; every existing session of the user ends (session_version bump) and the
        failed sign-ins of the name are forgotten (an administrator's reset unlocks)."""
        check_new_password(password)
        password_hash = hash_password(password, self.gate)
        with self.db.transaction() as tx:
            tx.execute("user_set_password", {"id": user_id, "password_hash": password_hash})
            audit.record(tx, actor, audit.USER_PASSWORD, "user", self._name(tx, user_id), detail)
        self.unlock(user_id)

    @staticmethod
    def _name(tx: Any, user_id: int) -> str:
        """The user name an entry names (user ids are not shown anywhere people read)."""
        row = tx.one("user_by_id", {"id": user_id})
        return row["username"] if row else str(user_id)

    def set_active(self, user_id: int, active: bool, actor: Actor = SYSTEM) -> None:
        with self.db.transaction() as tx:
            tx.execute("user_set_active", {"id": user_id, "is_active": int(active)})
            audit.record(tx, actor, audit.USER_ENABLE if active else audit.USER_DISABLE, "user",
                         self._name(tx, user_id))

    def set_email(self, user_id: int, email: str | None, notify: bool, actor: Actor = SYSTEM) -> None:
        with self.db.transaction() as tx:
            tx.execute("user_set_email", {"id": user_id, "email": email or None, "notify_email": int(notify)})
            audit.record(tx, actor, audit.USER_EMAIL, "user", self._name(tx, user_id),
                         f"completion e-mails {'on' if notify else 'off'}")

    def end_sessions(self, user_id: int, actor: Actor | None = None) -> None:
        """Logout: cookies signed with the old session version stop working. Audited as a
        sign-out when ``actor`` is given."""
        with self.db.transaction() as tx:
            tx.execute("user_bump_session", {"id": user_id})
            if actor is not None:
                audit.record(tx, actor, audit.SIGNOUT, "user", self._name(tx, user_id))
