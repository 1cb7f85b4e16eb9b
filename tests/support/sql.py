"""The tests' own look at the tables: raw SQL with ``?`` placeholders on either engine, not
the application's named queries (so a test does not check the app with the app's own SQL)."""

from __future__ import annotations

from typing import Any

from app.core.db import Database


def raw(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    if db.engine == "mysql":
        sql = sql.replace("?", "%s")
    with db.transaction() as tx:
        cursor = db._cursor(tx.conn)
        cursor.execute(sql, params)
        rows = [db._row(cursor, r) for r in cursor.fetchall()] if cursor.description else []
        cursor.close()
    return rows
