"""The response store: the interface every back end implements, and the one place that picks one.

Back ends: `foundry_store` (the project's storage: the default in Foundry),
`sqlite_store` (the default elsewhere: a file under the state directory) and
`memory_store` (nothing survives a restart). Every call names the Caller it acts for:
what one end user stored does not exist for another.

A state directory that is missing or not writable stops the server at start (exit 2 with
the fix): falling back to a temporary directory quietly would lose the responses at the
next start, so it happens only with STATE_DIR_FALLBACK=tmp. An empty database file is
reported and started afresh; a damaged one is moved aside (`responses.sqlite3.damaged-<time>`,
kept for inspection) with one error line, and a new store opened, so the server still serves.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from .identity import Caller
from .records import PageQuery, Prior, Record
from .settings import Settings

log = logging.getLogger(__name__)


class Store(Protocol):
    """Where responses are kept."""

    description: str
    """Which store and where, for the start-up log line."""

    async def start(self) -> None:
        """Open what needs the event loop (threads, connections)."""

    async def close(self) -> None:
        """Write everything queued, then release the store."""

    async def flush(self) -> None:
        """Make everything acknowledged so far durable (before a memory snapshot)."""

    def problem(self) -> str | None:
        """None while the store works; else why readiness should fail."""

    async def create(self, caller: Caller, record: Record) -> None:
        """Store a new response; ResponseConflict when the caller already has its id."""

    async def save(self, caller: Caller, record: Record) -> None:
        """Replace a created response's snapshot."""

    def save_soon(self, caller: Caller, record: Record) -> None:
        """Replace a created response's snapshot without waiting (best effort)."""

    async def get(self, caller: Caller, response_id: str) -> Record | None:
        """The caller's response, or None."""

    async def delete(self, caller: Caller, response_id: str) -> bool:
        """Delete the caller's response; False when there is none."""

    async def input_items(
        self, caller: Caller, response_id: str, query: PageQuery
    ) -> dict[str, Any] | None:
        """One page of the response's input items as a list object, or None when unknown."""

    async def history(
        self, caller: Caller, previous_response_id: str | None, conversation_id: str | None
    ) -> Prior:
        """The items before a new turn; PreviousNotFound when the previous response is unknown."""

    async def items(self, caller: Caller, item_ids: list[str]) -> list[dict[str, Any] | None]:
        """The caller's items by id, in order, None where missing (item_reference)."""


class StoreError(RuntimeError):
    """The response store cannot be opened; the message says why and what to do."""


def open_store(settings: Settings) -> Store:
    """The store the settings ask for."""
    if settings.store == "memory":
        from .memory_store import MemoryStore

        return MemoryStore(settings.history_max_responses)
    if settings.store == "foundry":
        return _foundry(settings)
    return _sqlite(settings)


def _foundry(settings: Settings) -> Store:
    """Foundry storage of the project, signed in as the agent's identity."""
    if not settings.project_endpoint:
        raise StoreError(
            "RESPONSE_STORE=foundry needs FOUNDRY_PROJECT_ENDPOINT (the project endpoint): set it,"
            " or set RESPONSE_STORE=sqlite to keep responses on this machine"
        )
    from azure.identity.aio import DefaultAzureCredential

    from .foundry_storage import StorageClient
    from .foundry_store import FoundryStore

    client = StorageClient(
        settings.project_endpoint,
        DefaultAzureCredential(),
        settings.storage_timeout_seconds,
        settings.storage_retries,
    )
    return FoundryStore(client)


def _sqlite(settings: Settings) -> Store:
    """SQLite under the state directory; a temporary directory only when asked for."""
    from .sqlite_store import SqliteStore

    base = Path(settings.state_dir or Path.home())
    folder = _writable(base)
    if folder is None:
        unusable = f"STATE_DIR {base} does not exist or is not writable"
        if not settings.state_dir_fallback:
            raise StoreError(
                f"{unusable}; create it, point STATE_DIR to a writable directory,"
                " or set STATE_DIR_FALLBACK=tmp to keep responses in a temporary directory"
            )
        folder = _writable(Path(tempfile.gettempdir()), "agent-responses")
        if folder is None:
            raise StoreError(f"{unusable}, nor is the temporary directory; set STATE_DIR")
        log.warning("%s; storing responses in %s (STATE_DIR_FALLBACK=tmp)", unusable, folder)
    path = folder / "responses.sqlite3"
    if path.exists() and path.stat().st_size == 0:
        log.warning("%s was empty (0 bytes): starting a new store there", path)

    def open_it() -> SqliteStore:
        return SqliteStore(
            path, settings.history_max_responses, settings.retention_days, settings.retention_count
        )

    try:
        try:
            return open_it()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):
                raise
            aside = _move_aside(path)
            log.error(
                "%s is damaged (%s): moved it to %s and started a new store",
                path,
                getattr(error, "sqlite_errorname", None) or error,
                aside,
            )
            return open_it()
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", None) == "SQLITE_FULL":
            raise StoreError(f"cannot open {path}: no space left; free disk space there") from None
        raise StoreError(
            f"cannot open {path} ({error}); another server may be using it:"
            " stop it, or set STATE_DIR to another directory"
        ) from None
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path} is not a usable database ({error}); move it away") from None


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL) out of the way, keeping it for inspection."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("-wal", "-shm", ""):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    return aside


def _writable(folder: Path, name: str = ".agent-responses") -> Path | None:
    """`folder/name`, created if need be, when `folder` exists and it is writable."""
    if not folder.is_dir():
        return None
    store = folder / name
    try:
        store.mkdir(exist_ok=True)
    except OSError:
        return None
    return store if os.access(store, os.W_OK) else None
