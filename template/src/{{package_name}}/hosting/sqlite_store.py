"""Responses in one SQLite file under the state directory, one partition per end user.

Writes are committed in groups: every write queued while the event loop is busy goes
into one transaction, committed as soon as the loop is free, so requests never queue
on each other's locks and a commit costs little per response. A write returns only after
the commit: the server acknowledges a stored response only once it would survive
`kill -9`. WAL mode with `synchronous = NORMAL` (no fsync per commit) is enough for
that, since a crashed process never loses what it handed to the OS. A power loss can
lose the last commits before a checkpoint, never the database's consistency.

Reads run on a thread of their own with its own connection (WAL lets it read while the
loop writes): a long history or a large response is decoded there, not on the loop.

Copying the WAL back into the database (a checkpoint) is the one slow step, about
10 ms per 1,000 pages: done on the event loop it stalled every request in flight, so
a thread does it (`Checkpointer`). The WAL starts over at the first commit after a
checkpoint that copied everything; under steady load, commits land during every
checkpoint, so once the WAL is past `WAL_PAGES` the loop copies the pages written
meanwhile itself. Few pages, but that pass stalls the loop for a time that grows with
the WAL (about 5 ms at 8 MB, 12 ms at 32 MB, measured under load), so the WAL is kept small.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from .codec import decode_stored, encode
from .history import assemble
from .identity import Caller
from .paging import page
from .records import INTERRUPTED, PageQuery, Prior, Record, ResponseConflict, StoreFailure

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 2
"""1: one partition (v0.1.0); 2: rows belong to an end user and know their previous response."""
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (user_id TEXT NOT NULL, id TEXT NOT NULL,"
    " previous_id TEXT, conversation_id TEXT, status TEXT NOT NULL, session_id TEXT NOT NULL,"
    " response TEXT NOT NULL, input TEXT NOT NULL, PRIMARY KEY (user_id, id));"
    "CREATE INDEX IF NOT EXISTS by_conversation ON responses (user_id, conversation_id)"
    " WHERE conversation_id IS NOT NULL;"
)
_INSERT = (
    "INSERT OR IGNORE INTO responses (user_id, id, previous_id, conversation_id, status, session_id,"
    " response, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE = "UPDATE responses SET status = ?, response = ? WHERE user_id = ? AND id = ?"
_DELETE = "DELETE FROM responses WHERE user_id = ? AND id = ?"
_IS_THIS = "SELECT response = ? FROM responses WHERE user_id = ? AND id = ?"
_COLUMNS = "SELECT response, input, session_id FROM responses"
_WANTED = "json_extract(value, '$.id') IN (SELECT value FROM json_each(?))"
_ITEMS = (
    f"SELECT value FROM responses, json_each(responses.input) WHERE user_id = ? AND {_WANTED}"
    " UNION ALL SELECT value FROM responses, json_each(responses.response, '$.output')"
    f" WHERE user_id = ? AND {_WANTED}"
)
"""Items of one user's responses by id (item_reference); a scan, but a rare one."""


class SqliteStore:
    """Responses in one SQLite file, written in groups on the loop, read on a thread."""

    def __init__(self, path: Path, history_limit: int) -> None:
        self.path = path
        self.description = f"sqlite at {path}"
        self._history_limit = history_limit
        self._owner = _own(path)
        # Writes use this connection, on the event loop only; readers and the checkpointer
        # thread have their own, and checkpoints never happen during a commit here.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;"
        )
        _migrate(self._db)
        self._recover()
        self._pending: list[tuple[str, tuple[Any, ...], asyncio.Future[Any] | None]] = []
        self._checkpointer: Checkpointer | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._local = threading.local()

    async def start(self) -> None:
        """Start the checkpointer thread (the file is open already)."""
        self._checkpointer = Checkpointer(self.path, self._checkpointed)

    async def close(self) -> None:
        """Commit everything queued, then close the file (which checkpoints it)."""
        loop = asyncio.get_running_loop()
        if self._checkpointer is not None:
            await loop.run_in_executor(None, self._checkpointer.stop)
        await loop.run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown()
        self._commit()
        self._db.close()
        os.close(self._owner)

    async def flush(self) -> None:
        """Commit what is queued now, and wait for it."""
        if self._pending:
            await self._write("flush", ())

    def problem(self) -> str | None:
        return None

    async def create(self, caller: Caller, record: Record) -> None:
        """Store a new response; ResponseConflict when this user already has its id."""
        await self._write("insert", self._row(caller, record))

    async def save(self, caller: Caller, record: Record) -> None:
        """Replace the response's snapshot; return once it is committed."""
        await self._write("update", self._snapshot(caller, record))

    def save_soon(self, caller: Caller, record: Record) -> None:
        """Queue the snapshot for the next commit, without waiting for it."""
        self._queue("update", self._snapshot(caller, record), None)

    async def get(self, caller: Caller, response_id: str) -> Record | None:
        return await self._read(self.record, caller.user, response_id)

    async def delete(self, caller: Caller, response_id: str) -> bool:
        return await self._write("delete", (caller.user, response_id))

    async def input_items(
        self, caller: Caller, response_id: str, query: PageQuery
    ) -> dict[str, Any] | None:
        record = await self.get(caller, response_id)
        return None if record is None else page(record.input, query)

    async def history(
        self, caller: Caller, previous_response_id: str | None, conversation_id: str | None
    ) -> Prior:
        return await self._read(
            assemble, self, caller.user, previous_response_id, conversation_id, self._history_limit
        )

    async def items(self, caller: Caller, item_ids: list[str]) -> list[dict[str, Any] | None]:
        return await self._read(self._items, caller.user, item_ids)

    # history.Reader, and the other reads: on the reader thread only.
    def record(self, user: str, response_id: str) -> Record | None:
        row = (
            self._connection()
            .execute(f"{_COLUMNS} WHERE user_id = ? AND id = ?", (user, response_id))
            .fetchone()
        )
        return _record(row) if row else None

    def conversation(self, user: str, conversation_id: str) -> list[Record]:
        rows = self._connection().execute(
            f"{_COLUMNS} WHERE user_id = ? AND conversation_id = ? ORDER BY rowid",
            (user, conversation_id),
        )
        return [_record(row) for row in rows]

    def _items(self, user: str, item_ids: list[str]) -> list[dict[str, Any] | None]:
        wanted = set(item_ids)
        found: dict[str, dict[str, Any]] = {}
        ids = _text(item_ids)
        rows = self._connection().execute(_ITEMS, (user, ids, user, ids))
        for (text,) in rows:
            item = decode_stored(text)
            if item.get("id") in wanted:
                found[item["id"]] = item
        return [found.get(item_id) for item_id in item_ids]

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, isolation_level=None)
        return db

    def _close_reader(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()

    async def _read(self, read: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader, read, *args)
        except sqlite3.Error as error:
            raise _failure(self.path, error) from None

    def _row(self, caller: Caller, record: Record) -> tuple[Any, ...]:
        response = record.response
        conversation = response.get("conversation")
        return (
            caller.user,
            record.id,
            response.get("previous_response_id"),
            conversation.get("id") if isinstance(conversation, dict) else None,
            response["status"],
            record.session_id,
            _text(response),
            _text(record.input),
        )

    def _snapshot(self, caller: Caller, record: Record) -> tuple[Any, ...]:
        return (record.response["status"], _text(record.response), caller.user, record.id)

    async def _write(self, kind: str, params: tuple[Any, ...]) -> Any:
        done = asyncio.get_running_loop().create_future()
        self._queue(kind, params, done)
        return await done

    def _queue(self, kind: str, params: tuple[Any, ...], done: asyncio.Future[Any] | None) -> None:
        # The first write of a group schedules the commit; writes made before the event
        # loop gets to it (other requests' included) join the same transaction.
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._commit)
        self._pending.append((kind, params, done))

    def _commit(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        results: list[Any] = [None] * len(batch)
        error: Exception | None = None
        try:
            self._db.execute("BEGIN")
            position = 0
            # Runs of the same kind of write (inserts, mostly) go in one call each.
            for kind, run in itertools.groupby(batch, key=itemgetter(0)):
                writes = list(run)
                results[position : position + len(writes)] = self._apply(kind, writes)
                position += len(writes)
            self._db.execute("COMMIT")
        except sqlite3.Error as failure:
            log.error("could not write responses to %s: %s", self.path, failure)
            error = _failure(self.path, failure)
            if self._db.in_transaction:
                self._db.rollback()
        for (_, _, done), result in zip(batch, results, strict=True):
            if done is None or done.done():
                continue
            if error is not None:
                done.set_exception(error)
            elif isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)
        if self._checkpointer is not None and error is None:
            self._checkpointer.written(len(batch))

    def _apply(self, kind: str, writes: list[tuple[str, tuple[Any, ...], Any]]) -> list[Any]:
        """Apply one run of writes of the same kind; each one's result or exception."""
        db = self._db
        if kind == "update":
            db.executemany(_UPDATE, [params for _, params, _ in writes])
            return [None] * len(writes)
        if kind == "delete":
            return [db.execute(_DELETE, params).rowcount > 0 for _, params, _ in writes]
        if kind == "flush":
            return [None] * len(writes)
        # Inserts: an id this user already has is refused, never overwritten. The runs
        # reserve (user, id) while they are stored, so a batch never holds the same key
        # twice; a row the insert skipped is one that existed before.
        rows = [params for _, params, _ in writes]
        before = db.total_changes
        db.executemany(_INSERT, rows)
        if db.total_changes - before == len(rows):
            return [None] * len(rows)
        return [
            None
            if db.execute(_IS_THIS, (row[6], row[0], row[1])).fetchone()[0]
            else ResponseConflict(row[1])
            for row in rows
        ]

    def _checkpointed(self, pages: int) -> None:
        """After the thread's checkpoint of a WAL of `pages`: keep the WAL from growing.

        With every page copied, the next commit starts the WAL over from its beginning.
        """
        if pages < WAL_PAGES:
            return
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as failure:
            log.warning("could not checkpoint %s: %s", self.path, failure)

    def _recover(self) -> None:
        """Responses in flight when the last process died end as failed, not in progress."""
        rows = self._db.execute(
            "SELECT user_id, id, response FROM responses WHERE status IN ('queued', 'in_progress')"
        ).fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        for user, response_id, text in rows:
            response = decode_stored(text)
            response.update(status="failed", error=INTERRUPTED)
            self._db.execute(_UPDATE, ("failed", _text(response), user, response_id))
        self._db.execute("COMMIT")
        if rows:
            log.warning("marked %d interrupted response(s) as failed", len(rows))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier version to SCHEMA_VERSION, in one transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'responses'").fetchone()
    db.execute("BEGIN IMMEDIATE")
    if old:  # version 1: every row is the local partition's
        db.execute("ALTER TABLE responses RENAME TO responses_v1")
        db.execute("DROP INDEX IF EXISTS by_conversation")
    for statement in filter(None, _SCHEMA.split(";")):
        db.execute(statement)
    if old:
        db.execute(
            "INSERT INTO responses SELECT '', id,"
            " json_extract(response, '$.previous_response_id'), conversation_id, status,"
            " session_id, response, input FROM responses_v1 ORDER BY rowid"
        )
        db.execute("DROP TABLE responses_v1")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")


def _record(row: tuple[str, str, str]) -> Record:
    return Record(decode_stored(row[0]), decode_stored(row[1]), row[2])


def _failure(path: Path, error: sqlite3.Error) -> StoreFailure:
    """A SQLite error as the StoreFailure a request reports."""
    if "full" in str(error).lower():
        return StoreFailure(
            507, "storage_full", f"No space left for responses in {path.parent}; free disk space."
        )
    return StoreFailure(
        503, "storage_unavailable", f"The response store at {path} failed ({error}); retry later."
    )


WAL_PAGES = 2048
"""The WAL size (8 MB) past which the loop makes sure the next commit restarts it.

Under sustained load the loop's pass comes once per WAL_PAGES written: at 32 MB it came
four times less often but stalled for 12 ms, and p99.9 latency was twice as long.
"""


class Checkpointer:
    """A thread that copies the WAL into the database, off the event loop.

    It checkpoints after every `EVERY` rows written, then has the loop call `done` with
    the number of pages in the WAL.
    """

    EVERY = 1024
    """Rows between checkpoints: about 600 pages, some 6 ms of copying on the thread.

    Each checkpoint also costs an fsync: every 256 rows cost 7 us more CPU per request.
    """

    def __init__(self, path: Path, done: Callable[[int], None]) -> None:
        self.path = path
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._rows = 0
        self._busy = False
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def written(self, rows: int) -> None:
        """Count committed rows; wake the thread when enough piled up (loop only)."""
        self._rows += rows
        if self._rows >= self.EVERY and not self._busy:
            self._rows = 0
            if self._thread.is_alive():
                self._busy = True
                self._wanted.set()
            else:  # it could not open the database: checkpoint on the loop instead
                self._done(WAL_PAGES)

    def stop(self) -> None:
        """End the thread (blocking: run it in an executor)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as failure:
            log.warning("checkpoints of %s run on the event loop: %s", self.path, failure)
            return
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                pages = 0
                try:
                    pages = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                except sqlite3.Error as failure:
                    log.warning("could not checkpoint %s: %s", self.path, failure)
                try:
                    self._loop.call_soon_threadsafe(self._finished, pages)
                except RuntimeError:  # the loop closed: the server is stopping
                    return
        finally:
            db.close()

    def _finished(self, pages: int) -> None:
        self._busy = False
        if not self._stopping:
            self._done(pages)


def _text(value: Any) -> str:
    """JSON as text, so the columns stay readable with SQLite's JSON functions."""
    return encode(value).decode()


def _own(path: Path) -> int:
    """Lock `<path>.lock` for this process: one server per store.

    Another server would mark this one's responses in flight as failed at its start.
    The lock goes with the process, however it ends.
    """
    owner = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(owner)
        raise sqlite3.OperationalError("the store is locked by another process") from None
    return owner
