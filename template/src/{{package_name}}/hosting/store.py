"""The response store: the interface every back end implements, and the one place that picks one.

Back ends: `foundry_store` (the project's storage: the default in Foundry),
`sqlite_store` (the default elsewhere: a file under the state directory) and
`memory_store` (nothing survives a restart). Every call names the Caller it acts for:
what one end user stored does not exist for another.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
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
    """SQLite under the state directory, falling back to a temporary directory it can write."""
    from .sqlite_store import SqliteStore

    wanted = Path(settings.state_dir or Path.home()) / ".agent-responses"
    folder = _writable(wanted)
    if folder is None:
        folder = _writable(Path(tempfile.gettempdir()) / "agent-responses")
        if folder is None:
            raise StoreError(f"{wanted} is not writable; set STATE_DIR to a writable directory")
        log.warning("%s is not writable; storing responses in %s instead", wanted, folder)
    path = folder / "responses.sqlite3"
    try:
        return SqliteStore(path, settings.history_max_responses)
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
