"""The SQLite store's tables, and bringing a database an earlier version wrote up to date."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3
"""1: one partition (v0.1.0); 2: rows belong to an end user and know their previous response;
3: rows know when they were created (for retention), and a table to test for free space."""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (user_id TEXT NOT NULL, id TEXT NOT NULL,"
    " previous_id TEXT, conversation_id TEXT, status TEXT NOT NULL, session_id TEXT NOT NULL,"
    " response TEXT NOT NULL, input TEXT NOT NULL, created_at INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, id));"
    "CREATE INDEX IF NOT EXISTS by_conversation ON responses (user_id, conversation_id)"
    " WHERE conversation_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS by_age ON responses (created_at);"
    "CREATE TABLE IF NOT EXISTS space_probe (data BLOB)"
)
_CREATED_AT = (
    "coalesce(json_extract(response, '$.created_at'), CAST(strftime('%s', 'now') AS INTEGER))"
)
"""A migrated row's creation time: its response's, else now (so retention counts from now)."""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier version to SCHEMA_VERSION, in one transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'responses'").fetchone()
    db.execute("BEGIN IMMEDIATE")
    if old and version < 2:  # version 1: every row is the local partition's
        db.execute("ALTER TABLE responses RENAME TO responses_v1")
        db.execute("DROP INDEX IF EXISTS by_conversation")
    elif old:  # version 2: the same rows, with the time each was created
        db.execute("ALTER TABLE responses ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0")
        db.execute(f"UPDATE responses SET created_at = {_CREATED_AT}")
    for statement in SCHEMA.split(";"):
        db.execute(statement)
    if old and version < 2:
        db.execute(
            "INSERT INTO responses SELECT '', id,"
            " json_extract(response, '$.previous_response_id'), conversation_id, status,"
            f" session_id, response, input, {_CREATED_AT} FROM responses_v1 ORDER BY rowid"
        )
        db.execute("DROP TABLE responses_v1")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")
