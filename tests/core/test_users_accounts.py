"""Accounts on SQLite and MariaDB: user names unique ignoring case (migration 004 and what it
does to existing case duplicates), concurrent creates, case-insensitive sign-in that keeps the
stored spelling, and API tokens whose reads write nothing within a minute."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from app.core.accounts.tokens import TOUCH_EVERY, Tokens, hash_token
from app.core.accounts.users import UserError, Users, hash_password
from app.core.db import SCHEMA_VERSION, Database, db_time_text, open_database, parse_time, split_statements
from tests.panel_helpers import login
from tests.support.sql import raw


def schema_up_to(db: Database, version: int) -> None:
    """Apply migrations 000..version only, as an older release left the database."""
    db.create_database()
    for number, path in db.migrations():
        if number > version:
            break
        with db.transaction() as tx:
            for statement in split_statements(path.read_text(encoding="utf-8")):
                db._cursor(tx.conn).execute(statement)
            if number:
                tx.execute("schema_version_set", {"version": number})


# -- migration 004 ----------------------------------------------------------------------------------
def test_migration_4_keeps_every_case_duplicate_account_under_a_new_name(settings) -> None:  # type: ignore[no-untyped-def]
    db = open_database(settings)
    try:
        schema_up_to(db, 3)
        assert db.schema_version() == 3
        now = db_time_text(datetime.now(UTC))
        ids = {}
        for name in ("maria", "Maria", "MARIA", "bob", "x" * 64, "X" * 64):
            raw(db, "INSERT INTO users (username, password_hash, is_admin, is_active, created_at) VALUES (?, ?, 0, 1, ?)",
                (name, hash_password(f"{name[:10]}-password"), now))
            ids[name] = raw(db, "SELECT id FROM users WHERE username = ?", (name,))[0]["id"]
        # A token as version 3 stored them (Tokens.create also writes the audit log, from version 11).
        token = "byd_" + secrets.token_urlsafe(32)
        raw(db, "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
            (ids["Maria"], "maria's script", hash_token(token), token[:12], now))
        raw(db, "INSERT INTO login_failures (username, failed_at) VALUES (?, ?)", ("Maria", now))

        assert db.init_schema() == SCHEMA_VERSION >= 4
        # Old failure rows are keyed like new ones (lower-case name, no client known).
        assert raw(db, "SELECT username, client FROM login_failures") == [{"username": "maria", "client": ""}]
        users = Users(db)
        names = {u.id: u.username for u in users.list()}
        # The oldest keeps its name; the others get -<id>, cut to stay within 64 characters.
        assert names == {ids["maria"]: "maria", ids["Maria"]: f"Maria-{ids['Maria']}",
                         ids["MARIA"]: f"MARIA-{ids['MARIA']}", ids["bob"]: "bob", ids["x" * 64]: "x" * 64,
                         ids["X" * 64]: "X" * (63 - len(str(ids["X" * 64]))) + f"-{ids['X' * 64]}"}
        assert all(len(n) <= 64 for n in names.values())
        # Nothing they own is lost: the password signs in under the new name, the token works.
        renamed = users.authenticate(f"maria-{ids['Maria']}", "Maria-password")
        assert renamed is not None and renamed.id == ids["Maria"]
        assert users.authenticate("maria", "maria-password").id == ids["maria"]
        owner = Tokens(db).authenticate(token)
        assert owner is not None and owner.id == ids["Maria"]
        # From now on a case variant is refused.
        with pytest.raises(UserError, match="already exists"):
            users.create("BOB", "bob-password-2")
    finally:
        db.drop_database()


def test_migration_4_on_a_database_without_duplicates_changes_no_name(settings) -> None:  # type: ignore[no-untyped-def]
    db = open_database(settings)
    try:
        schema_up_to(db, 3)
        now = db_time_text(datetime.now(UTC))
        for name in ("alice", "Bob.Smith", "carol@example.org"):
            raw(db, "INSERT INTO users (username, password_hash, is_admin, is_active, created_at) VALUES (?, 'x', 0, 1, ?)",
                (name, now))
        db.init_schema()
        assert sorted(u.username for u in Users(db).list()) == ["Bob.Smith", "alice", "carol@example.org"]
    finally:
        db.drop_database()


# -- unique ignoring case, safe under concurrency ----------------------------------------------------
def test_user_names_are_unique_ignoring_case(users) -> None:  # type: ignore[no-untyped-def]
    maria = users.create("Maria", "maria-password-1")
    for other in ("maria", "MARIA", "mAria"):
        with pytest.raises(UserError, match="already exists"):
            users.create(other, "other-password-1")
    assert [u.username for u in users.list()] == ["Maria"] and maria.username == "Maria"


@pytest.mark.parametrize("names", [("dave", "dave"), ("maria", "Maria")], ids=["same", "case"])
def test_two_concurrent_creates_of_one_name_give_one_account_and_one_user_error(db, users, names) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(2)

    def create(name: str) -> str:
        barrier.wait()
        try:
            users.create(name, "some-password-1")
            return "created"
        except UserError as exc:
            assert "already exists" in str(exc)
            return "refused"
        finally:
            db.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(create, names))
    assert outcomes == ["created", "refused"]  # never an IntegrityError (a 500)
    assert len(users.list()) == 1


def test_sign_in_ignores_case_and_keeps_the_stored_spelling(client, users) -> None:  # type: ignore[no-untyped-def]
    maria = users.create("Maria", "maria-password-1")
    for spelling in ("Maria", "maria", "MARIA"):
        found = users.authenticate(spelling, "maria-password-1")
        assert found == maria and found.username == "Maria"
        assert users.by_name(spelling) == maria
    for impossible in ("maria ", " maria", "mar ia"):
        assert users.authenticate(impossible, "maria-password-1") is None and users.by_name(impossible) is None
    login(client, "mARIA", "maria-password-1")
    assert "Maria" in client.get("/jobs").text


# -- Unicode letters in user names (issue 22) ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["Lucía", "LUCÍA", "Luci\u0301a"], ids=["composed", "upper", "decomposed"])
def test_names_with_accented_letters_sign_in_in_any_case_and_spelling(users, name) -> None:  # type: ignore[no-untyped-def]
    # "Lucía" with the accent typed as i + U+0301 is stored as the single letter í (NFC).
    created = users.create(name, "lucia-password-1")
    assert created.username == unicodedata.normalize("NFC", name)
    for spelling in ("Lucía", "lucía", "LUCÍA", "Luci\u0301a", "LUCI\u0301A"):
        assert users.authenticate(spelling, "lucia-password-1") == created, spelling
        assert users.by_name(spelling) == created, spelling
        with pytest.raises(UserError, match="already exists"):
            users.create(spelling, "other-password-1")
    assert users.by_name("Lucia") is None  # an accent makes another name
    for other in ("Ørjan", "Þórunn", "Σωκράτης", "Дмитрий", "山田", "やまだ太郎", "j.nuñez-2@hq"):
        assert users.create(other, "other-password-1").username == other
        assert users.authenticate(other.upper(), "other-password-1") is not None, other


@pytest.mark.parametrize("name", [
    "ana maria",        # a space
    "ana\u00a0maria",   # a no-break space
    "ana\u2003maria",   # an em space
    "ana\u200bmaria",   # a zero-width space
    "ana\u200dmaria",   # a zero-width joiner
    "ana\tmaria", "ana\nmaria", "ana\x00", "ana\x7f", "ana\u202emaria",  # control and bidi characters
    "\u0430dmin",       # a Cyrillic а in a Latin name
    "ana+maria", "ana/maria", "ana'", "<ana>", "ana☺", "ana٣",  # other signs and digits than 0-9
    "", "a" * 65,
])
def test_names_refuse_control_characters_spaces_signs_and_mixed_alphabets(users, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match="letters .accented letters and other alphabets too"):
        users.create(name, "some-password-1")
    assert users.list() == []


# -- 8. API reads do not write ---------------------------------------------------------------------------
def token_last_used(db: Database, token_id: int) -> datetime | None:
    return parse_time(raw(db, "SELECT last_used_at FROM api_tokens WHERE id = ?", (token_id,))[0]["last_used_at"])


def set_last_used(db: Database, token_id: int, seconds_ago: float) -> datetime:
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    raw(db, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (db_time_text(when), token_id))
    stored = token_last_used(db, token_id)
    assert stored is not None
    return stored


def test_a_token_is_touched_at_most_once_a_minute(db, alice) -> None:  # type: ignore[no-untyped-def]
    tokens = Tokens(db)
    secret, token_id = tokens.create(alice.id, "script")
    assert token_last_used(db, token_id) is None
    assert tokens.authenticate(secret) == alice
    assert token_last_used(db, token_id) is not None  # the first use is recorded
    recent = set_last_used(db, token_id, 10)
    for _ in range(3):
        assert tokens.authenticate(secret) == alice
    assert token_last_used(db, token_id) == recent  # within the minute: no write
    old = set_last_used(db, token_id, TOUCH_EVERY + 5)
    assert tokens.authenticate(secret) == alice
    touched = token_last_used(db, token_id)
    assert touched is not None and touched > old + timedelta(seconds=TOUCH_EVERY)


# SQLite only: its write lock shows a write transaction; on MariaDB the rows are checked above.
@pytest.mark.timing
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_token_read_needs_no_write_lock_on_sqlite(db, alice) -> None:  # type: ignore[no-untyped-def]
    tokens = Tokens(db)
    secret, _ = tokens.create(alice.id, "script")
    tokens.authenticate(secret)  # touched now
    other = sqlite3.connect(db.path, timeout=1, isolation_level=None)  # type: ignore[attr-defined]
    try:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        started = time.monotonic()
        assert tokens.authenticate(secret) == alice  # a plain read: it does not wait for the lock
        assert time.monotonic() - started < 2
    finally:
        other.execute("ROLLBACK")
        other.close()
