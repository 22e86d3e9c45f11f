"""Where responses are kept: SQLite under the state directory, or memory for tests.

SQLite writes happen on one writer thread that commits whatever has queued up in a
single transaction (group commit), so requests never wait on each other's locks. A
durable save resolves only after its commit: the server acknowledges a stored response
only once it would survive `kill -9`. WAL mode without fsync per commit is enough for
that; a process crash never loses what the OS was handed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INTERRUPTED = {
    "code": "server_error",
    "message": "The server stopped before this response finished.",
}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        self._records[record.id] = record

    def save_soon(self, record: Record) -> None:
        self._records[record.id] = record

    async def delete(self, response_id: str) -> bool:
        return self._records.pop(response_id, None) is not None

    async def close(self) -> None:
        """Release the store (nothing to do in memory)."""


class SqliteStore:
    """Responses in one SQLite file, written by a group-committing thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[tuple[str, tuple[Any, ...], asyncio.Future[None] | None]]
        self._jobs = queue.SimpleQueue()
        self._reader = _connect(path)
        self._reader.executescript(
            "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, conversation_id TEXT,"
            " status TEXT NOT NULL, session_id TEXT NOT NULL, response TEXT NOT NULL,"
            " input TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS by_conversation ON responses (conversation_id)"
            " WHERE conversation_id IS NOT NULL;"
        )
        self._recover()
        self._thread = threading.Thread(target=self._write, name="response-store", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def get(self, response_id: str) -> Record | None:
        row = self._reader.execute(
            "SELECT response, input, session_id FROM responses WHERE id = ?", (response_id,)
        ).fetchone()
        return Record(json.loads(row[0]), json.loads(row[1]), row[2]) if row else None

    def conversation(self, conversation_id: str) -> list[Record]:
        rows = self._reader.execute(
            "SELECT response, input, session_id FROM responses WHERE conversation_id = ?"
            " ORDER BY rowid",
            (conversation_id,),
        )
        return [Record(json.loads(row[0]), json.loads(row[1]), row[2]) for row in rows]

    async def save(self, record: Record) -> None:
        """Save the record; return once it is committed."""
        await self._run(_UPSERT, self._params(record))

    def save_soon(self, record: Record) -> None:
        """Queue the record for the next commit, without waiting for it."""
        self._jobs.put((_UPSERT, self._params(record), None))

    def _params(self, record: Record) -> tuple[Any, ...]:
        response = record.response
        conversation = (response.get("conversation") or {}).get("id")
        return (
            record.id,
            conversation,
            response["status"],
            record.session_id,
            _encode(response),
            _encode(record.input),
        )

    async def delete(self, response_id: str) -> bool:
        if self.get(response_id) is None:
            return False
        await self._run("DELETE FROM responses WHERE id = ?", (response_id,))
        return True

    async def close(self) -> None:
        """Commit everything queued, then stop the writer."""
        if self._thread.is_alive():
            await self._run("", ())
            self._jobs.put(("", (), None))
            await asyncio.to_thread(self._thread.join)
        self._reader.close()

    async def _run(self, sql: str, params: tuple[Any, ...]) -> None:
        assert self._loop is not None, "start() the store first"
        done: asyncio.Future[None] = self._loop.create_future()
        self._jobs.put((sql, params, done))
        await done

    def _write(self) -> None:
        db = _connect(self.path)
        while True:
            batch = [self._jobs.get()]
            while True:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            error: Exception | None = None
            try:
                with db:
                    for sql, params, _ in batch:
                        if sql:
                            db.execute(sql, params)
            except sqlite3.Error as failure:
                log.error("could not write responses to %s: %s", self.path, failure)
                error = failure
            waiting = [done for _, _, done in batch if done is not None]
            if waiting:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(_settle, waiting, error)
            if any(sql == "" and done is None for sql, _, done in batch):
                db.close()
                return

    def _recover(self) -> None:
        """Responses in flight when the last process died end as failed, not in progress."""
        rows = self._reader.execute(
            "SELECT id, response FROM responses WHERE status IN ('queued', 'in_progress')"
        ).fetchall()
        with self._reader:
            for response_id, text in rows:
                response = json.loads(text)
                response.update(status="failed", error=INTERRUPTED)
                self._reader.execute(
                    "UPDATE responses SET status = 'failed', response = ? WHERE id = ?",
                    (_encode(response), response_id),
                )
        if rows:
            log.warning("marked %d interrupted response(s) as failed", len(rows))


_UPSERT = (
    "INSERT INTO responses (id, conversation_id, status, session_id, response, input)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
    " response = excluded.response"
)


def _settle(waiting: list[asyncio.Future[None]], error: Exception | None) -> None:
    for done in waiting:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA busy_timeout = 5000")
    return db


Store = MemoryStore | SqliteStore


def open_store(kind: str, state_dir: Path | None) -> Store:
    """The configured store; SQLite falls back to a temporary directory it can write."""
    if kind == "memory":
        return MemoryStore()
    folder = _writable(Path(state_dir or Path.home()) / ".agent-responses")
    if folder is None:
        folder = Path(tempfile.gettempdir()) / "agent-responses"
        folder.mkdir(parents=True, exist_ok=True)
        log.warning(
            "state directory %s is not writable; storing responses in %s", state_dir, folder
        )
    return SqliteStore(folder / "responses.sqlite3")


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
