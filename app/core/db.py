"""The database connector: one small interface, a SQLite and a MySQL/MariaDB implementation.

Every query lives in ``sql/queries.sql`` under a ``-- name: x`` header and is called by name.
Each call runs on a per-thread connection and ends with COMMIT or ROLLBACK, so a long-lived
worker never reads a stale REPEATABLE READ snapshot (mysql-connector's autocommit is off).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from app.core.settings import ROOT, Settings


# Times: both engines store naive UTC (MySQL DATETIME(3), SQLite text); the code uses aware UTC.
def parse_time(value: Any) -> datetime | None:
    """Database time (a naive UTC datetime from MySQL, text from SQLite) -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def db_time_text(value: datetime) -> str:
    """A time as the naive UTC text both engines compare with their stored times
    (millisecond precision, like SQLite's clock)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


SQL_DIR = ROOT / "sql"

def _latest_migration() -> int:
    return max(int(p.name[:3]) for p in (SQL_DIR / "sqlite").glob("[0-9][0-9][0-9]_*.sql"))


SCHEMA_VERSION = _latest_migration()  # the newest sql/<engine>/NNN_*.sql

log = logging.getLogger("beyond.db")

Row = dict[str, Any]
Params = Mapping[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the web answers 503, workers retry."""


class DuplicateKey(Exception):
    """A write was refused by a unique index (the same on every engine)."""


def load_queries(directory: Path = SQL_DIR) -> dict[str, str]:
    """Every ``-- name: x`` query of sql/queries*.sql (one file per area of the product).

    A ``-- fragment: y`` block is text that several queries share (a filter written once):
    ``{y}`` in any query is replaced by it here, the same for both engines (the engine's own
    macros, such as ``{cutoff}``, are filled in later by the connector)."""
    queries: dict[str, str] = {}
    fragments: dict[str, str] = {}
    for path in sorted(directory.glob("queries*.sql")):
        found = _parse_queries(path)
        for kind, into in (("query", queries), ("fragment", fragments)):
            clash = set(found[kind]) & set(into)
            if clash:
                raise ValueError(f"{path.name}: {kind} names defined twice: {', '.join(sorted(clash))}")
            into.update(found[kind])
    for name, text in fragments.items():
        queries = {q: body.replace("{" + name + "}", text) for q, body in queries.items()}
    return queries


def _parse_queries(path: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"query": {}, "fragment": {}}
    kind, name = "query", None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"--\s*(name|fragment):\s*(\w+)", line)
        if match:
            if name:
                found[kind][name] = "\n".join(lines).strip()
            kind, name, lines = "query" if match.group(1) == "name" else "fragment", match.group(2), []
        elif name and not line.lstrip().startswith("--"):
            lines.append(line)
    if name:
        found[kind][name] = "\n".join(lines).strip()
    return found


def split_statements(script: str) -> list[str]:
    # Our schema files hold no triggers or procedures, so ';' at a line end separates statements.
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in body.split(";") if stmt.strip()]


class Transaction:
    """Named queries on one connection inside one transaction."""

    def __init__(self, db: Database, conn: Any) -> None:
        self.db, self.conn = db, conn

    def _run(self, name: str, params: Params | None) -> Any:
        cursor = self.db._cursor(self.conn)
        cursor.execute(self.db.sql[name], dict(params or {}))
        return cursor

    def all(self, name: str, params: Params | None = None) -> list[Row]:
        cursor = self._run(name, params)
        rows = [self.db._row(cursor, r) for r in cursor.fetchall()]
        cursor.close()
        return rows

    def one(self, name: str, params: Params | None = None) -> Row | None:
        rows = self.all(name, params)
        return rows[0] if rows else None

    def execute(self, name: str, params: Params | None = None) -> int:
        """Run a write; returns the number of rows it matched (the fence check)."""
        cursor = self._run(name, params)
        count = cursor.rowcount
        cursor.close()
        return count

    def insert(self, name: str, params: Params | None = None) -> int:
        cursor = self._run(name, params)
        new_id = int(cursor.lastrowid)
        cursor.close()
        return new_id


class Database(ABC):
    """The connector interface. Use ``db.all/one/execute/insert`` for single statements (each
    its own transaction) and ``with db.transaction() as tx`` for several in one."""

    engine: str
    macros: ClassVar[dict[str, str]]

    def __init__(self) -> None:
        self._local = threading.local()
        self.sql = {name: self._prepare(q) for name, q in load_queries().items()}

    # -- engine specifics -------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    def _begin(self, conn: Any, write: bool) -> None: ...

    @abstractmethod
    def _cursor(self, conn: Any) -> Any: ...

    @abstractmethod
    def _row(self, cursor: Any, raw: Any) -> Row: ...

    @abstractmethod
    def _is_connection_error(self, exc: BaseException) -> bool: ...

    @abstractmethod
    def _is_duplicate_key(self, exc: BaseException) -> bool: ...

    def _apply(self, conn: Any, migration: str, statement: str) -> None:
        """Run one statement of a migration file."""
        self._cursor(conn).execute(statement)

    def _prepare(self, query: str) -> str:
        for key, value in self.macros.items():
            query = query.replace("{" + key + "}", value)
        return query

    def create_database(self) -> None:
        """Create the database itself if the engine needs it (MySQL)."""

    def drop_database(self) -> None:
        """Remove the database (tests only)."""

    # -- connections --------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except Exception as exc:
                if self._is_connection_error(exc):
                    raise DatabaseUnavailable(f"{self.engine} database unavailable: {exc}") from exc
                raise
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken; nothing to save
                pass

    def close(self) -> None:
        self._discard()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        # A reused connection may have been cut by a server restart; such a failure at BEGIN
        # is retried once on a fresh connection. Failures later in the block are not retried
        # (the block's statements may not be safe to repeat): they roll back and surface.
        for attempt in (1, 2):
            conn = self._conn()
            try:
                self._begin(conn, write)
                break
            except Exception as exc:
                self._discard()
                if not self._is_connection_error(exc):
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable(f"{self.engine} database unavailable: {exc}") from exc
        try:
            yield Transaction(self, conn)
            conn.commit()
        except BaseException as exc:
            try:
                conn.rollback()
            except Exception:
                self._discard()
            if self._is_connection_error(exc):
                self._discard()
                raise DatabaseUnavailable(f"{self.engine} database unavailable: {exc}") from exc
            if self._is_duplicate_key(exc):
                raise DuplicateKey(str(exc)) from exc
            raise

    def all(self, name: str, params: Params | None = None) -> list[Row]:
        with self.transaction(write=False) as tx:
            return tx.all(name, params)

    def one(self, name: str, params: Params | None = None) -> Row | None:
        with self.transaction(write=False) as tx:
            return tx.one(name, params)

    def execute(self, name: str, params: Params | None = None) -> int:
        with self.transaction() as tx:
            return tx.execute(name, params)

    def insert(self, name: str, params: Params | None = None) -> int:
        with self.transaction() as tx:
            return tx.insert(name, params)

    def ping(self) -> bool:
        try:
            return self.one("ping") is not None
        except DatabaseUnavailable:
            return False

    # -- schema -------------------------------------------------------------------------
    def migrations(self) -> list[tuple[int, Path]]:
        found = []
        for path in sorted((SQL_DIR / self.engine).glob("[0-9][0-9][0-9]_*.sql")):
            found.append((int(path.name[:3]), path))
        return found

    def schema_version(self) -> int:
        row = self.one("schema_version_get")
        return int(row["version"] or 0) if row else 0

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise schema creation between processes (several cron hosts, or the server and
        its workers, may start on a fresh database at once)."""
        yield

    def init_schema(self) -> int:
        """Apply every migration newer than the recorded version; idempotent. Returns the version."""
        self.create_database()
        with self._migration_lock():
            with self.transaction() as tx:
                for stmt in split_statements((SQL_DIR / self.engine / "000_schema_version.sql").read_text()):
                    self._cursor(tx.conn).execute(stmt)
            current = self.schema_version()
            for version, path in self.migrations():
                if version == 0 or version <= current:
                    continue
                with self.transaction() as tx:
                    # Re-read inside the write transaction: on SQLite this is the lock (BEGIN
                    # IMMEDIATE), so a migration another process just applied is not repeated.
                    row = tx.one("schema_version_get")
                    if row and row["version"] is not None and int(row["version"]) >= version:
                        current = int(row["version"])
                        continue
                    log.info("applying schema migration %s", path.name)
                    for stmt in split_statements(path.read_text(encoding="utf-8")):
                        self._apply(tx.conn, path.name, stmt)
                    tx.execute("schema_version_set", {"version": version})
                current = version
        return current


def sqlite_lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    """lower() for SQLite connections: Unicode lower case, as MariaDB's LOWER()."""
    return value.lower() if isinstance(value, str) else value


class SQLiteDatabase(Database):
    engine = "sqlite"
    macros: ClassVar[dict[str, str]] = {
        "now": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        "cutoff": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || :lease_seconds || ' seconds')",
        "skip_locked": "",
        "for_update": "",  # BEGIN IMMEDIATE already holds the database's one write lock
        # An INSERT that adds to the existing row's `value` instead when the key exists.
        "add_to_value_on_duplicate": "ON CONFLICT DO UPDATE SET value = value + excluded.value",
    }

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves (BEGIN IMMEDIATE for writes, so two
        # claimers serialise instead of deadlocking on a lock upgrade).
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        # SQLite's own lower() changes A-Z only; user names may hold any letter (is_username in
        # app/core/accounts/users.py), and their key column is lower(username) (migration 004),
        # which must equal Python's str.lower() as MariaDB's LOWER() does: 'LUCÍA' is 'lucía'.
        conn.create_function("lower", 1, sqlite_lower, deterministic=True)
        # Switching a fresh file to WAL needs an exclusive lock and SQLite reports "locked"
        # at once, without its busy handler, when another process is doing the same: retry.
        for attempt in range(100):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _begin(self, conn: sqlite3.Connection, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _cursor(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        return conn.cursor()

    def _row(self, cursor: Any, raw: sqlite3.Row) -> Row:
        return dict(raw)

    def _is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc)

    def _is_duplicate_key(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def drop_database(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)


class MySQLDatabase(Database):
    engine = "mysql"
    macros: ClassVar[dict[str, str]] = {
        "now": "UTC_TIMESTAMP(6)",
        "cutoff": "(UTC_TIMESTAMP(6) - INTERVAL :lease_seconds SECOND)",
        "skip_locked": "FOR UPDATE SKIP LOCKED",
        "for_update": "FOR UPDATE",
        "add_to_value_on_duplicate": "ON DUPLICATE KEY UPDATE value = value + VALUES(value)",
    }

    def __init__(self, host: str, port: int, user: str, password: str, dbname: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", dbname):
            raise ValueError(f"DBNAME {dbname!r} must be letters, digits and underscores")
        self.params = dict(host=host, port=port, user=user, password=password)
        self.dbname = dbname
        super().__init__()

    def _prepare(self, query: str) -> str:
        # pyformat for mysql-connector: escape literal %, then :name -> %(name)s
        query = super()._prepare(query).replace("%", "%%")
        return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", query)

    def _server_connect(self, database: str | None) -> Any:
        import mysql.connector
        from mysql.connector.constants import ClientFlag

        return mysql.connector.connect(
            **self.params,
            # rowcount = rows matched, not rows changed: the fence checks rely on it
            client_flags=[ClientFlag.FOUND_ROWS],
            database=database,
            charset="utf8mb4",
            collation="utf8mb4_unicode_ci",
            autocommit=False,
            use_pure=True,  # the C extension does not load here; be explicit
            connection_timeout=5,
        )

    def _connect(self) -> Any:
        conn = self._server_connect(self.dbname)
        cursor = conn.cursor()
        # READ COMMITTED: every statement sees the latest committed rows, and a claim's
        # SELECT ... FOR UPDATE SKIP LOCKED takes no gap locks.
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.execute("SET time_zone = '+00:00'")
        cursor.close()
        conn.commit()
        return conn

    def _begin(self, conn: Any, write: bool) -> None:
        conn.start_transaction()

    def _cursor(self, conn: Any) -> Any:
        return conn.cursor(dictionary=True)

    def _row(self, cursor: Any, raw: Any) -> Row:
        return dict(raw)

    def _is_connection_error(self, exc: BaseException) -> bool:
        import mysql.connector.errors as errors

        if isinstance(exc, (errors.InterfaceError, errors.OperationalError)):
            return True
        # 2003/2006/2013: cannot connect / server gone away / lost connection
        return isinstance(exc, errors.Error) and getattr(exc, "errno", None) in (2003, 2006, 2013, 2055)

    def _is_duplicate_key(self, exc: BaseException) -> bool:
        import mysql.connector.errors as errors

        return isinstance(exc, errors.IntegrityError) and exc.errno == 1062  # ER_DUP_ENTRY

    # Errors that mean "this DDL statement already took effect": the table, column or index
    # exists, or the one being dropped is gone.
    ALREADY_APPLIED: ClassVar[dict[int, str]] = {
        1050: "table exists", 1060: "column exists", 1061: "index exists", 1091: "already dropped",
    }

    def _apply(self, conn: Any, migration: str, statement: str) -> None:
        # MySQL commits every DDL statement on its own, so a crash between a migration's DDL and
        # its schema_version row leaves the DDL applied and the version unrecorded: on the next
        # start the same statements run again and must not fail (MySQL 8 has no
        # ADD INDEX IF NOT EXISTS, so the error itself is the check).
        import mysql.connector.errors as errors

        try:
            super()._apply(conn, migration, statement)
        except errors.Error as exc:
            reason = self.ALREADY_APPLIED.get(getattr(exc, "errno", None) or 0)
            if reason is None:
                raise
            log.warning("schema migration %s: skipped a statement already applied (%s): %s",
                        migration, reason, " ".join(statement.split())[:120])

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # MySQL DDL commits implicitly, so a transaction cannot serialise migrations: a named
        # server lock does, held on a connection of its own.
        conn = self._server_connect(self.dbname)
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT GET_LOCK(%s, 60)", (f"beyond_schema_{self.dbname}",))
            got = cursor.fetchone()
            if not got or got[0] != 1:
                raise DatabaseUnavailable("timed out waiting for another process's schema migration")
            yield
        finally:
            try:
                cursor.execute("SELECT RELEASE_LOCK(%s)", (f"beyond_schema_{self.dbname}",))
                cursor.fetchone()
            finally:
                cursor.close()
                conn.close()

    def create_database(self) -> None:
        try:
            conn = self._server_connect(None)
        except Exception as exc:
            raise DatabaseUnavailable(f"mysql database unavailable: {exc}") from exc
        cursor = conn.cursor()
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{self.dbname}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cursor.close()
        conn.close()

    def drop_database(self) -> None:
        self.close()
        conn = self._server_connect(None)
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{self.dbname}`")
        cursor.close()
        conn.close()


def open_database(settings: Settings) -> Database:
    if settings.uses_mysql:
        return MySQLDatabase(
            settings.host, settings.port, settings.user, settings.password, settings.dbname
        )
    return SQLiteDatabase(settings.sqlite_path)
