"""API tokens: shown once, stored as a SHA-256 hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from app.core.accounts.users import User, user_from_row
from app.core.db import Database, parse_time
from app.core.events import audit
from app.core.events.audit import SYSTEM, Actor

TOKEN_PREFIX = "byd_"
# last_used_at is written at most this often per token: an API read does no write otherwise.
TOUCH_EVERY = 60  # seconds


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough (no guessing to slow down).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Tokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user_id: int, name: str, actor: Actor = SYSTEM) -> tuple[str, int]:
        """Returns (token, id). The token is never stored and cannot be shown again."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            token_id = tx.insert(
                "token_insert",
                {"user_id": user_id, "name": name[:100] or "token", "token_hash": hash_token(token),
                 "prefix": token[:12]},
            )
            audit.record(tx, actor, audit.TOKEN_CREATE, "token", token_id, f"{name[:100]} ({token[:12]}...)")
        return token, token_id

    def authenticate(self, token: str) -> User | None:
        """The active user owning this unrevoked token, else None."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        row = self.db.one("token_by_hash", {"token_hash": digest})
        # The lookup is by hash, so the secret itself is never compared; the stored hash is
        # still checked in constant time (hmac.compare_digest), as the issue asks.
        if row is None or not hmac.compare_digest(row["token_hash"], digest) or not row["is_active"]:
            return None
        last_used, now = parse_time(row["token_last_used_at"]), parse_time(row["now"])
        # Both times come from the database clock (the query returns its now), so hosts with
        # skewed clocks agree; a read within the minute writes nothing at all.
        if last_used is None or now is None or (now - last_used).total_seconds() >= TOUCH_EVERY:
            self.db.execute("token_touch", {"id": row["token_id"]})
        return user_from_row(row)

    def list_for(self, user_id: int) -> list[TokenInfo]:
        return [
            TokenInfo(
                id=int(r["id"]),
                name=r["name"],
                prefix=r["prefix"],
                created_at=parse_time(r["created_at"]),
                last_used_at=parse_time(r["last_used_at"]),
                revoked_at=parse_time(r["revoked_at"]),
            )
            for r in self.db.all("tokens_for_user", {"user_id": user_id})
        ]

    def revoke(self, token_id: int, user_id: int, actor: Actor = SYSTEM) -> bool:
        with self.db.transaction() as tx:
            done = tx.execute("token_revoke", {"id": token_id, "user_id": user_id}) == 1
            if done:
                audit.record(tx, actor, audit.TOKEN_REVOKE, "token", token_id)
        return done

    def revoke_all(self, user_id: int) -> int:
        """Revoke every active token of the user (a password change that asks for it); returns
        how many. Not audited on its own: the password change that asks for it names the count."""
        return self.db.execute("tokens_revoke_all", {"user_id": user_id})
