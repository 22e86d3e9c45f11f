"""Where responses are kept: SQLite under the state directory, or memory for tests.

Saves are committed in groups: every save queued while the event loop is busy goes
into one transaction, committed as soon as the loop is free, so requests never queue
on each other's locks and a commit costs little per response. `save` returns only after
the commit: the server acknowledges a stored response only once it would survive
`kill -9`. WAL mode with `synchronous = NORMAL` (no fsync per commit) is enough for
that, since a crashed process never loses what it handed to the OS. A power loss can
lose the last commits before a checkpoint, never the database's consistency.

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
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from .codec import decode_stored, encode

log = logging.getLogger(__name__)

INTERRUPTED = {
    "code": "server_error",
    "message": "The server stopped before this response finished.",
}


@dataclass
class Record:
    """A stored response, the input items of its request, and its session."""

    response: dict[str, Any]
    input: list[dict[str, Any]]
    session_id: str = ""

    @property
    def id(self) -> str:
        return self.response["id"]


class MemoryStore:
    """Responses in a dict: nothing survives a restart."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}

    async def start(self) -> None:
        """Ready the store (nothing to do in memory)."""

    def get(self, response_id: str) -> Record | None:
        return self._records.get(response_id)

    def conversation(self, conversation_id: str) -> list[Record]:
        """The conversation's responses, oldest first."""
        return [
            record
            for record in self._records.values()
            if (record.response.get("conversation") or {}).get("id") == conversation_id
        ]

    async def save(self, record: Record) -> None:
        """Keep the record."""
        self._records[record.id] = record

    def save_soon(self, record: Record) -> None:
        self._records[record.id] = record

    async def delete(self, response_id: str) -> bool:
        return self._records.pop(response_id, None) is not None

    async def close(self) -> None:
        """Release the store (nothing to do in memory)."""


class SqliteStore:
    """Responses in one SQLite file, with saves committed in groups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._owner = _own(path)
        # Writes and reads use this connection, on the event loop only; the checkpointer
        # thread has its own, and checkpoints never happen during a commit here.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
            "PRAGMA wal_autocheckpoint = 0;"
            "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, conversation_id TEXT,"
            " status TEXT NOT NULL, session_id TEXT NOT NULL, response TEXT NOT NULL,"
            " input TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS by_conversation ON responses (conversation_id)"
            " WHERE conversation_id IS NOT NULL;"
        )
        self._recover()
        self._pending: list[tuple[str, tuple[Any, ...], asyncio.Future[None] | None]] = []
        self._checkpointer: Checkpointer | None = None

    async def start(self) -> None:
        """Start the checkpointer thread (the file is open already)."""
        self._checkpointer = Checkpointer(self.path, self._checkpointed)

    def get(self, response_id: str) -> Record | None:
        row = self._db.execute(
            "SELECT response, input, session_id FROM responses WHERE id = ?", (response_id,)
        ).fetchone()
        return Record(decode_stored(row[0]), decode_stored(row[1]), row[2]) if row else None

    def conversation(self, conversation_id: str) -> list[Record]:
        rows = self._db.execute(
            "SELECT response, input, session_id FROM responses WHERE conversation_id = ?"
            " ORDER BY rowid",
            (conversation_id,),
        )
        return [Record(decode_stored(row[0]), decode_stored(row[1]), row[2]) for row in rows]

    async def save(self, record: Record) -> None:
        """Save the record; return once it is committed."""
        await self._write(_UPSERT, self._params(record))

    def save_soon(self, record: Record) -> None:
        """Queue the record for the next commit, without waiting for it."""
        self._queue(_UPSERT, self._params(record), None)

    async def delete(self, response_id: str) -> bool:
        if self.get(response_id) is None:
            return False
        await self._write("DELETE FROM responses WHERE id = ?", (response_id,))
        return True

    async def close(self) -> None:
        """Commit everything queued, then close the file (which checkpoints it)."""
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
        self._commit()
        self._db.close()
        os.close(self._owner)

    def _params(self, record: Record) -> tuple[Any, ...]:
        response = record.response
        conversation = (response.get("conversation") or {}).get("id")
        return (
            record.id,
            conversation,
            response["status"],
            record.session_id,
            _text(response),
            _text(record.input),
        )

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queue(sql, params, done)
        await done

    def _queue(self, sql: str, params: tuple[Any, ...], done: asyncio.Future[None] | None) -> None:
        # The first write of a group schedules the commit; writes made before the event
        # loop gets to it (other requests' included) join the same transaction.
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._commit)
        self._pending.append((sql, params, done))

    def _commit(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        error: Exception | None = None
        try:
            self._db.execute("BEGIN")
            # Runs of the same statement (saves, mostly) go in one call each.
            for sql, writes in itertools.groupby(batch, key=itemgetter(0)):
                self._db.executemany(sql, [params for _, params, _ in writes])
            self._db.execute("COMMIT")
        except sqlite3.Error as failure:
            log.error("could not write responses to %s: %s", self.path, failure)
            error = failure
            if self._db.in_transaction:
                self._db.rollback()
        for _, _, done in batch:
            if done is None or done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if self._checkpointer is not None and error is None:
            self._checkpointer.written(len(batch))

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
            "SELECT id, response FROM responses WHERE status IN ('queued', 'in_progress')"
        ).fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        for response_id, text in rows:
            response = decode_stored(text)
            response.update(status="failed", error=INTERRUPTED)
            self._db.execute(
                "UPDATE responses SET status = 'failed', response = ? WHERE id = ?",
                (_text(response), response_id),
            )
        self._db.execute("COMMIT")
        if rows:
            log.warning("marked %d interrupted response(s) as failed", len(rows))


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


_UPSERT = (
    "INSERT INTO responses (id, conversation_id, status, session_id, response, input)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
    " response = excluded.response"
)


Store = MemoryStore | SqliteStore


class StoreError(RuntimeError):
    """The response store cannot be opened; the message says why and what to do."""


def open_store(kind: str, state_dir: Path | None) -> Store:
    """The configured store; SQLite falls back to a temporary directory it can write."""
    if kind == "memory":
        return MemoryStore()
    wanted = Path(state_dir or Path.home()) / ".agent-responses"
    folder = _writable(wanted)
    if folder is None:
        folder = _writable(Path(tempfile.gettempdir()) / "agent-responses")
        if folder is None:
            raise StoreError(f"{wanted} is not writable; set STATE_DIR to a writable directory")
        log.warning("%s is not writable; storing responses in %s instead", wanted, folder)
    path = folder / "responses.sqlite3"
    try:
        return SqliteStore(path)
    except sqlite3.OperationalError as error:
        raise StoreError(
            f"cannot open {path} ({error}); another server may be using it:"
            " stop it, or set STATE_DIR to another directory"
        ) from None
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path} is not a usable database ({error}); move it away") from None


def _writable(folder: Path) -> Path | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def history(store: Store, previous_response_id: str | None, conversation_id: str | None) -> list:
    """Every item before this request: the conversation's, then the previous response chain's.

    The chain is followed back through `previous_response_id` links; each response adds
    its input and then its output.
    """
    items: list[dict[str, Any]] = []
    if conversation_id:
        for record in store.conversation(conversation_id):
            items += record.input
            items += record.response["output"]
    chain: list[Record] = []
    next_id = previous_response_id
    while next_id:
        record = store.get(next_id)
        if record is None:
            break
        chain.append(record)
        response = record.response
        next_id = response.get("previous_response_id")
        if response.get("conversation") and not conversation_id:
            conversation_id = response["conversation"]["id"]
            items = _before(store, conversation_id, record.id)
            break
    seen = {item.get("id") for item in items}
    for record in reversed(chain):
        for item in (*record.input, *record.response["output"]):
            if item.get("id") not in seen:
                items.append(item)
    return items


def _before(store: Store, conversation_id: str, response_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for record in store.conversation(conversation_id):
        if record.id == response_id:
            break
        items += record.input
        items += record.response["output"]
    return items
