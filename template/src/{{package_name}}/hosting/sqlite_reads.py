"""The SQLite store's reads, on its reader thread, each thread with its own connection.

Rows are read as bytes: a damaged row then fails to decode as JSON (a ValueError) rather
than in Python's sqlite3 module, whose error quotes the row, and rows are user content.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from .codec import decode_stored, encode
from .history import assemble
from .records import Prior, Record

_COLUMNS = "SELECT CAST(response AS BLOB), CAST(input AS BLOB), session_id FROM responses"
_CHAIN = (
    "WITH RECURSIVE chain(id, n) AS (SELECT ?, 0 UNION ALL SELECT previous_id, n + 1"
    " FROM chain JOIN responses ON user_id = ? AND responses.id = chain.id"
    " WHERE n < ? AND previous_id IS NOT NULL)"
    " SELECT responses.id, CAST(response AS BLOB), CAST(input AS BLOB), session_id"
    " FROM chain JOIN responses ON user_id = ? AND responses.id = chain.id"
)
"""A previous_response_id chain, newest first, at most `limit` + 1 responses long."""
_WANTED = "json_extract(value, '$.id') IN (SELECT value FROM json_each(?))"
_ITEMS = (
    f"SELECT value FROM responses, json_each(responses.input) WHERE user_id = ? AND {_WANTED}"
    " UNION ALL SELECT value FROM responses, json_each(responses.response, '$.output')"
    f" WHERE user_id = ? AND {_WANTED}"
)
"""Items of one user's responses by id (item_reference); a scan, but a rare one."""


class Reads:
    """Reads of one SQLite file (a history.Reader), made synchronously on a worker thread."""

    def __init__(self, path: Path, history_limit: int) -> None:
        self.path = path
        self._history_limit = history_limit
        self._local = threading.local()

    def history(self, user: str, previous_id: str | None, conversation_id: str | None) -> Prior:
        """The history, its previous_response_id chain read in one query.

        One query per response kept this thread in Python, holding the GIL (and so the
        event loop) for about 30 ms on a chain of 1,000; SQLite walks it in C.
        """
        chain: dict[str, Record] = {}
        if previous_id:
            parameters = (previous_id, user, self._history_limit, user)
            chain = {row[0]: _record(row[1:]) for row in self._db().execute(_CHAIN, parameters)}
        reader = _Prefetched(self, chain)
        return assemble(reader, user, previous_id, conversation_id, self._history_limit)

    def record(self, user: str, response_id: str) -> Record | None:
        query = f"{_COLUMNS} WHERE user_id = ? AND id = ?"
        row = self._db().execute(query, (user, response_id)).fetchone()
        return _record(row) if row else None

    def conversation(self, user: str, conversation_id: str) -> list[Record]:
        query = f"{_COLUMNS} WHERE user_id = ? AND conversation_id = ? ORDER BY rowid"
        return [_record(row) for row in self._db().execute(query, (user, conversation_id))]

    def items(self, user: str, item_ids: list[str]) -> list[dict[str, Any] | None]:
        wanted = set(item_ids)
        found: dict[str, dict[str, Any]] = {}
        ids = encode(item_ids).decode()
        for (text,) in self._db().execute(_ITEMS, (user, ids, user, ids)):
            item = decode_stored(text)
            if item.get("id") in wanted:
                found[item["id"]] = item
        return [found.get(item_id) for item_id in item_ids]

    def count(self) -> int:
        """How many responses are stored, for every user."""
        return self._db().execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, isolation_level=None)
        return db


class _Prefetched:
    """A history.Reader that has a chain's records already; the store for the rest."""

    def __init__(self, reads: Reads, records: dict[str, Record]) -> None:
        self._reads = reads
        self._records = records

    def record(self, user: str, response_id: str) -> Record | None:
        found = self._records.get(response_id)
        return found if found is not None else self._reads.record(user, response_id)

    def conversation(self, user: str, conversation_id: str) -> list[Record]:
        return self._reads.conversation(user, conversation_id)


def _record(row: Any) -> Record:
    return Record(decode_stored(row[0]), decode_stored(row[1]), row[2])
