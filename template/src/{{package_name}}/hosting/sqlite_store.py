"""Responses in one SQLite file under the state directory, one partition per end user.

Writes are committed in groups: every write queued while the event loop is busy goes
into one transaction, committed as soon as the loop is free, so requests never queue
on each other's locks and a commit costs little per response. A write returns only after
the commit: the server acknowledges a stored response only once it would survive
`kill -9`. WAL mode with `synchronous = NORMAL` (no fsync per commit) is enough for
that, since a crashed process never loses what it handed to the OS. A power loss can
lose the last commits before a checkpoint, never the database's consistency.

A group of `BIG_WRITE` bytes or more (a long response) is committed on a writer thread
instead, followed by a checkpoint there, so copying megabytes never stalls the loop and
the WAL never holds more than one such group. Reads run on a thread of their own with its
own connection (WAL lets it read while the loop writes; see `sqlite_reads`): a long history
or a large response is decoded there, not on the loop. `sqlite_wal` keeps the WAL small,
`sqlite_schema` holds the tables, `sqlite_retention` deletes old responses.

When a commit fails (a full disk, most often) the writes in it fail with a StoreFailure
(507 `storage_full`, or 503), the store logs one line, readiness fails, and every
`PROBE_SECONDS` a small write tests whether space came back; the first commit that works
again ends all that. Responses older than the retention period, or past the retention
count, are deleted in the background, a few at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from .codec import decode_stored, encode
from .identity import Caller
from .paging import page
from .records import INTERRUPTED, PageQuery, Prior, Record, ResponseConflict, StoreFailure
from .sqlite_reads import Reads
from .sqlite_retention import EXPIRE_BATCH, expire_some
from .sqlite_schema import migrate
from .sqlite_wal import WAL_LIMIT_BYTES, WAL_PAGES, Checkpointer, checkpoint

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = tuple[str, tuple[Any, ...], "asyncio.Future[Any] | None"]

BIG_WRITE = 1024 * 1024
"""Bytes of rows in one group past which the group is committed on the writer thread."""
PROBE_SECONDS = 2.0
"""While writes fail, how often a small write tests whether they work again."""
PROBE_BYTES = 256 * 1024
"""The test write's size: space for that much means a response can be stored again."""
EXPIRE_SECONDS = 600.0
"""How often old responses are looked for (and once at start)."""

_INSERT = (
    "INSERT OR IGNORE INTO responses (user_id, id, previous_id, conversation_id, status, session_id,"
    " response, input, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE = "UPDATE responses SET status = ?, response = ? WHERE user_id = ? AND id = ?"
_DELETE = "DELETE FROM responses WHERE user_id = ? AND id = ?"
_IS_THIS = "SELECT response = ? FROM responses WHERE user_id = ? AND id = ?"
_PROBE = "INSERT INTO space_probe VALUES (zeroblob(?))"


class SqliteStore:
    """Responses in one SQLite file, written in groups on the loop, read on a thread."""

    def __init__(
        self, path: Path, history_limit: int, keep_days: float = 0, keep_count: int = 0
    ) -> None:
        self.path = path
        self.description = f"sqlite at {path}"
        self._keep_days = keep_days
        self._keep_count = keep_count
        self._owner = _own(path)
        # Writes use this connection, on the event loop or (one group at a time, while the
        # loop leaves it alone) the writer thread; readers and the checkpointer thread have
        # their own.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._db.executescript(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                f" PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"
            )
            migrate(self._db)
            self._recover()
        except BaseException:
            self._db.close()
            os.close(self._owner)
            raise
        self._pending: list[Write] = []
        self._pending_bytes = 0
        self._writing = False
        """True while the writer thread has the connection."""
        self._broken: StoreFailure | None = None
        """Why the last commit failed, until one works again."""
        self._complained = float("-inf")
        """When the last failure was logged (monotonic seconds)."""
        self._closing = False
        self._checkpointer: Checkpointer | None = None
        self._reads = Reads(path, history_limit)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the checkpointer thread, and retention if asked for (the file is open)."""
        self._checkpointer = Checkpointer(self.path, self._checkpointed)
        if self._keep_days or self._keep_count:
            self._spawn(self._expire_every(EXPIRE_SECONDS))

    async def close(self) -> None:
        """Commit everything queued, then close the file (which checkpoints it)."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        if self._checkpointer is not None:
            await loop.run_in_executor(None, self._checkpointer.stop)
        await loop.run_in_executor(self._reader, self._reads.close)
        self._reader.shutdown()
        if self._pending or self._writing:
            with contextlib.suppress(StoreFailure):  # logged already; nothing more to do
                await self._write("flush", ())
        self._writer.shutdown()
        self._db.close()
        os.close(self._owner)

    async def flush(self) -> None:
        """Commit what is queued now, and wait for it."""
        if self._pending or self._writing:
            await self._write("flush", ())

    def problem(self) -> str | None:
        return None if self._broken is None else self._broken.message

    async def create(self, caller: Caller, record: Record) -> None:
        """Store a new response; ResponseConflict when this user already has its id."""
        row = self._row(caller, record)
        await self._write("insert", row, len(row[6]) + len(row[7]))

    async def save(self, caller: Caller, record: Record) -> None:
        """Replace the response's snapshot; return once it is committed."""
        snapshot = self._snapshot(caller, record)
        await self._write("update", snapshot, len(snapshot[1]))

    def save_soon(self, caller: Caller, record: Record) -> None:
        """Queue the snapshot for the next commit, without waiting for it."""
        snapshot = self._snapshot(caller, record)
        self._queue("update", snapshot, None, len(snapshot[1]))

    async def get(self, caller: Caller, response_id: str) -> Record | None:
        return await self._read(self._reads.record, caller.user, response_id)

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
            self._reads.history, caller.user, previous_response_id, conversation_id
        )

    async def items(self, caller: Caller, item_ids: list[str]) -> list[dict[str, Any] | None]:
        return await self._read(self._reads.items, caller.user, item_ids)

    async def _read(self, read: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader, read, *args)
        except sqlite3.Error as error:
            raise _failure(self.path, error) from None
        except ValueError:  # JSON that does not decode: never log the row, it is user text
            raise StoreFailure(
                500, "stored_response_damaged", "A stored response is damaged and cannot be read."
            ) from None

    def _row(self, caller: Caller, record: Record) -> tuple[Any, ...]:
        response = record.response
        conversation = response.get("conversation")
        created_at = response.get("created_at")
        return (
            caller.user,
            record.id,
            response.get("previous_response_id"),
            conversation.get("id") if isinstance(conversation, dict) else None,
            response["status"],
            record.session_id,
            _text(response),
            _text(record.input),
            created_at if isinstance(created_at, int) else int(time.time()),
        )

    def _snapshot(self, caller: Caller, record: Record) -> tuple[Any, ...]:
        return (record.response["status"], _text(record.response), caller.user, record.id)

    async def _write(self, kind: str, params: tuple[Any, ...], size: int = 0) -> Any:
        done = asyncio.get_running_loop().create_future()
        self._queue(kind, params, done, size)
        return await done

    def _queue(
        self,
        kind: str,
        params: tuple[Any, ...],
        done: asyncio.Future[Any] | None,
        size: int = 0,
    ) -> None:
        # The first write of a group schedules the commit; writes made before the event
        # loop gets to it (other requests' included) join the same transaction. While the
        # writer thread commits, writes wait for it: it schedules the next commit.
        if not self._pending and not self._writing:
            asyncio.get_running_loop().call_soon(self._commit)
        self._pending.append((kind, params, done))
        self._pending_bytes += size

    def _commit(self) -> None:
        if self._writing or not self._pending:
            return
        batch, self._pending = self._pending, []
        size, self._pending_bytes = self._pending_bytes, 0
        if size < BIG_WRITE:
            self._settle(batch, size, *self._transaction(batch))
            return
        self._writing = True
        loop = asyncio.get_running_loop()
        thread = loop.run_in_executor(self._writer, self._commit_big, batch)
        thread.add_done_callback(lambda done: self._written(batch, size, done))

    def _commit_big(self, batch: list[Write]) -> tuple[list[Any], StoreFailure | None]:
        """Commit a large group, then copy it into the database (on the writer thread).

        With the WAL copied, the next commit starts it over and cuts it back to its limit.
        """
        results, error = self._transaction(batch)
        if error is None:
            checkpoint(self._db, self.path)
        return results, error

    def _written(self, batch: list[Write], size: int, done: asyncio.Future[Any]) -> None:
        self._writing = False
        try:
            results, error = done.result()
        except Exception as bug:  # not SQLite's: still answer every write, then go on
            log.error("could not write responses to %s", self.path, exc_info=bug)
            results, error = [None] * len(batch), _failure(self.path, sqlite3.Error())
        self._settle(batch, size, results, error)
        self._commit()

    def _transaction(self, batch: list[Write]) -> tuple[list[Any], StoreFailure | None]:
        """Apply the writes in one transaction: each one's result, or the failure of all."""
        results: list[Any] = [None] * len(batch)
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
            if self._db.in_transaction:
                self._db.rollback()
            return results, _failure(self.path, failure)
        return results, None

    def _settle(
        self, batch: list[Write], size: int, results: list[Any], error: StoreFailure | None
    ) -> None:
        """After a commit: answer its writes, and note whether the store works."""
        if error is not None and self._broken is None:
            # Small writes may still fit where large ones do not: one line a minute, at most.
            if time.monotonic() - self._complained > 60:
                log.error("%s (readiness fails until writes work again)", error.message)
                self._complained = time.monotonic()
            self._spawn(self._probe_every(PROBE_SECONDS))
        elif error is None and self._broken is not None:
            log.info("responses can be written to %s again", self.path)
        self._broken = error
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
            self._checkpointer.written(len(batch), size)

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
        if kind == "probe":  # space for PROBE_BYTES more, given back at once
            db.execute(_PROBE, (PROBE_BYTES,))
            db.execute("DELETE FROM space_probe")
            return [None] * len(writes)
        if kind == "expire":
            return [expire_some(db, *params) for _, params, _ in writes]
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
        if pages >= WAL_PAGES and not self._writing:
            checkpoint(self._db, self.path)

    def _spawn(self, work: Any) -> None:
        if self._closing:
            work.close()
            return
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe_every(self, seconds: float) -> None:
        """While writes fail, test with a small write whether they work again."""
        while self._broken is not None:
            await asyncio.sleep(seconds)
            if self._broken is not None and not self._pending and not self._writing:
                with contextlib.suppress(StoreFailure):  # still failing: logged once already
                    await self._write("probe", ())

    async def _expire_every(self, seconds: float) -> None:
        """Delete responses past the retention period or count, now and every `seconds`."""
        while True:
            try:
                deleted = await self.expire()
            except StoreFailure:
                deleted = 0  # the commit's failure is logged; try again next time
            if deleted:
                log.info("deleted %d response(s) past their retention", deleted)
            await asyncio.sleep(seconds)

    async def expire(self) -> int:
        """Delete finished responses past the retention period or count; how many went."""
        total = 0
        if self._keep_days:
            total += await self._expire_batches(time.time() - self._keep_days * 86400, 0)
        if self._keep_count:
            excess = await self._read(self._reads.count) - self._keep_count
            total += await self._expire_batches(0, excess)
        return total

    async def _expire_batches(self, cutoff: float, oldest: int) -> int:
        total = 0
        while True:
            deleted = await self._write("expire", (cutoff, oldest - total))
            total += deleted
            if deleted < EXPIRE_BATCH:
                return total

    def _recover(self) -> None:
        """Responses in flight when the last process died end as failed, not in progress."""
        rows = self._db.execute(
            "SELECT user_id, id, CAST(response AS BLOB) FROM responses"
            " WHERE status IN ('queued', 'in_progress')"
        ).fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        for user, response_id, text in rows:
            try:
                response = decode_stored(text)
            except ValueError:  # a damaged row: its status still ends, its text stays as it is
                log.warning("response %s is damaged: marked failed without reading it", response_id)
                self._db.execute(
                    "UPDATE responses SET status = 'failed' WHERE user_id = ? AND id = ?",
                    (user, response_id),
                )
                continue
            response.update(status="failed", error=INTERRUPTED)
            self._db.execute(_UPDATE, ("failed", _text(response), user, response_id))
        self._db.execute("COMMIT")
        if rows:
            log.warning("marked %d interrupted response(s) as failed", len(rows))


def _failure(path: Path, error: sqlite3.Error) -> StoreFailure:
    """A SQLite error as the StoreFailure a request reports.

    Only SQLite's error name goes into the message: some errors quote the row they are
    about (a text column that is not UTF-8), and rows are user content.
    """
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    if name == "SQLITE_FULL":
        return StoreFailure(
            507,
            "storage_full",
            f"No space left for responses in {path.parent}; free disk space there.",
        )
    return StoreFailure(
        503, "storage_unavailable", f"The response store at {path} failed ({name}); retry later."
    )


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
