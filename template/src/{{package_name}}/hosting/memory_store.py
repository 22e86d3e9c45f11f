"""Responses in memory, one partition per end user: nothing survives a restart."""

from __future__ import annotations

from typing import Any

from .history import assemble
from .identity import Caller
from .paging import page
from .records import PageQuery, Prior, Record, ResponseConflict


class MemoryStore:
    """A dict per end user, keyed by response id, in insertion order."""

    description = "memory (lost when the server stops)"

    def __init__(self, history_limit: int) -> None:
        self._users: dict[str, dict[str, Record]] = {}
        self._history_limit = history_limit

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def flush(self) -> None:
        """Nothing is pending."""

    def problem(self) -> str | None:
        return None

    async def create(self, caller: Caller, record: Record) -> None:
        records = self._users.setdefault(caller.user, {})
        if record.id in records:
            raise ResponseConflict(record.id)
        records[record.id] = record

    async def save(self, caller: Caller, record: Record) -> None:
        self._users.setdefault(caller.user, {})[record.id] = record

    def save_soon(self, caller: Caller, record: Record) -> None:
        self._users.setdefault(caller.user, {})[record.id] = record

    async def get(self, caller: Caller, response_id: str) -> Record | None:
        return self.record(caller.user, response_id)

    async def delete(self, caller: Caller, response_id: str) -> bool:
        return self._users.get(caller.user, {}).pop(response_id, None) is not None

    async def input_items(
        self, caller: Caller, response_id: str, query: PageQuery
    ) -> dict[str, Any] | None:
        record = self.record(caller.user, response_id)
        return None if record is None else page(record.input, query)

    async def history(
        self, caller: Caller, previous_response_id: str | None, conversation_id: str | None
    ) -> Prior:
        return assemble(
            self, caller.user, previous_response_id, conversation_id, self._history_limit
        )

    async def items(self, caller: Caller, item_ids: list[str]) -> list[dict[str, Any] | None]:
        wanted = set(item_ids)
        found: dict[str, dict[str, Any]] = {}
        for record in self._users.get(caller.user, {}).values():
            for item in (*record.input, *record.response.get("output", [])):
                if item.get("id") in wanted:
                    found[item["id"]] = item
        return [found.get(item_id) for item_id in item_ids]

    # history.Reader
    def record(self, user: str, response_id: str) -> Record | None:
        return self._users.get(user, {}).get(response_id)

    def conversation(self, user: str, conversation_id: str) -> list[Record]:
        return [
            record
            for record in self._users.get(user, {}).values()
            if (record.response.get("conversation") or {}).get("id") == conversation_id
        ]
