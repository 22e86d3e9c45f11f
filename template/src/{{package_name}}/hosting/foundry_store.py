"""Responses and conversations kept in Foundry storage, where the platform keeps them.

Hosted, history belongs to the project, not to one sandbox's disk: conversations made
with the Conversations API, the portal or Teams are read from here, and what the agent
answers is seen there. Every call is made for the request's Caller, forwarding its
`x-agent-foundry-call-id`: storage scopes it to that end user. A new turn's history is
the history item ids, then one batch retrieve. The wire contract is in foundry_storage.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from . import codec
from .errors import ProtocolError
from .foundry_storage import Reply, StorageClient, StorageError
from .identity import CALL_ID, USER, Caller
from .items import listed, random_hex
from .records import PageQuery, PreviousNotFound, Prior, Record, ResponseConflict, StoreFailure

log = logging.getLogger(__name__)

PROBE_SECONDS = 10.0
"""While storage could not be reached at start, how often it is tried again."""
CONFLICT_CODES = frozenset({"conflict", "already_exists", "duplicate", "response_id_conflict"})


class FoundryStore:
    """The store interface over Foundry storage's seven calls."""

    def __init__(self, client: StorageClient) -> None:
        self.client = client
        self.description = f"Foundry storage at {client.base}"
        self._problem: str | None = None
        self._writes: dict[tuple[str, str], asyncio.Task[None]] = {}
        """The newest snapshot write of each response being written."""
        self._queued: set[tuple[str, str]] = set()
        self._probe: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the connection pool, then check storage answers (readiness says if not)."""
        await self.client.start()
        self._problem = await self._reach()
        if self._problem:
            log.error("%s; readiness fails until it answers", self._problem)
            self._probe = asyncio.get_running_loop().create_task(self._retry_reach())

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.flush()
        await self.client.close()

    async def flush(self) -> None:
        """Wait for the snapshots being written."""
        if self._writes:
            await asyncio.gather(*self._writes.values(), return_exceptions=True)

    def problem(self) -> str | None:
        return self._problem

    async def create(self, caller: Caller, record: Record) -> None:
        body = {
            "response": _snapshot(record.response),
            "input_items": record.input,
            "history_item_ids": record.history_ids,
        }
        reply = await self._call(caller, "POST", "responses", body=codec.encode(body))
        if reply.status == 409 or (reply.status == 400 and reply.error_code in CONFLICT_CODES):
            if reply.attempts > 1:
                return  # an earlier attempt was stored, but its answer was lost
            raise ResponseConflict(record.id)
        _check(reply, "create the response")

    async def save(self, caller: Caller, record: Record) -> None:
        """Replace the snapshot, after any snapshot of the same response still being written."""
        key = (caller.user, record.id)
        earlier = self._writes.get(key)
        if earlier is not None:
            await asyncio.wait([earlier])
        await self._update(caller, record)

    def save_soon(self, caller: Caller, record: Record) -> None:
        """Write the snapshot in the background, after the one being written, if any.

        Snapshots are encoded when sent, so one write queued behind another carries the
        latest state: a second one queued behind it would add nothing.
        """
        key = (caller.user, record.id)
        if key in self._queued:
            return
        earlier = self._writes.get(key)
        task = asyncio.get_running_loop().create_task(self._write(key, earlier, caller, record))
        self._writes[key] = task
        task.add_done_callback(lambda done: self._written(key, done))

    async def get(self, caller: Caller, response_id: str) -> Record | None:
        reply = await self._call(caller, "GET", f"responses/{_part(response_id)}")
        if reply.status == 404:
            return None
        _check(reply, "read the response")
        return Record(reply.body, [])

    async def delete(self, caller: Caller, response_id: str) -> bool:
        reply = await self._call(caller, "DELETE", f"responses/{_part(response_id)}")
        if reply.status == 404:
            return False
        _check(reply, "delete the response")
        return True

    async def input_items(
        self, caller: Caller, response_id: str, query: PageQuery
    ) -> dict[str, Any] | None:
        # One more than the page, to know whether there is more.
        params = {"limit": str(query.limit + 1), "order": query.order}
        if query.after is not None:
            params["after"] = query.after
        if query.before is not None:
            params["before"] = query.before
        path = f"responses/{_part(response_id)}/input_items"
        reply = await self._call(caller, "GET", path, params)
        if reply.status == 404:
            return None
        if reply.status == 400:
            raise ProtocolError(400, "Foundry storage refused this page of input items.", "after")
        _check(reply, "list input items")
        found = reply.body.get("data", []) if isinstance(reply.body, dict) else []
        data = [listed(item) for item in found[: query.limit]]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0].get("id") if data else None,
            "last_id": data[-1].get("id") if data else None,
            "has_more": len(found) > query.limit,
        }

    async def history(
        self, caller: Caller, previous_response_id: str | None, conversation_id: str | None
    ) -> Prior:
        params = {"limit": "-1"}  # everything, as Microsoft's host asks
        if previous_response_id:
            params["previous_response_id"] = previous_response_id
        if conversation_id:
            params["conversation_id"] = conversation_id
        reply = await self._call(caller, "GET", "history/item_ids", params)
        if reply.status == 404:
            if previous_response_id:
                raise PreviousNotFound(previous_response_id)
            raise ProtocolError(
                404, f"Conversation with id '{conversation_id}' not found.", "conversation"
            )
        _check(reply, "read the history")
        ids = [item_id for item_id in reply.body or [] if isinstance(item_id, str)]
        if not ids:
            return Prior([])
        return Prior([item for item in await self.items(caller, ids) if item is not None])

    async def items(self, caller: Caller, item_ids: list[str]) -> list[dict[str, Any] | None]:
        body = codec.encode({"item_ids": item_ids})
        reply = await self._call(caller, "POST", "items/batch/retrieve", body=body)
        _check(reply, "read items")
        found = reply.body if isinstance(reply.body, list) else []
        if len(found) != len(item_ids):
            raise StoreFailure(
                502, "storage_error", "Foundry storage answered a batch with the wrong count."
            )
        return [item if isinstance(item, dict) else None for item in found]

    async def _update(self, caller: Caller, record: Record) -> None:
        path = f"responses/{_part(record.id)}"
        body = codec.encode(_snapshot(record.response))
        reply = await self._call(caller, "POST", path, body=body)
        _check(reply, "update the response")

    async def _write(
        self,
        key: tuple[str, str],
        earlier: asyncio.Task[None] | None,
        caller: Caller,
        record: Record,
    ) -> None:
        if earlier is not None:
            self._queued.add(key)
            await asyncio.wait([earlier])
            self._queued.discard(key)
        try:
            await self._update(caller, record)
        except StoreFailure as error:
            log.warning("response %s: snapshot not stored: %s", record.id, error.message)

    def _written(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._writes.get(key) is task:
            del self._writes[key]

    async def _call(
        self,
        caller: Caller,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        if caller.user and not caller.call_id:  # storage would put every such user together
            raise ProtocolError(
                400,
                f"'{USER}' without '{CALL_ID}': Foundry storage keeps each end user apart"
                " only by the call id; send both headers, as the platform does.",
                CALL_ID,
            )
        try:
            return await self.client.call(method, path, caller.call_id, query, body)
        except StorageError as error:
            raise _failure(error) from None

    async def _reach(self) -> str | None:
        """None when storage answers; else why it cannot be reached, in one line.

        Without a request there is no call id, so storage may refuse the probe: any answer
        but a 5xx means it can be reached (a refused identity is logged, and shows on calls).
        """
        try:
            reply = await self.client.call("GET", f"responses/probe_{random_hex(48)}", None)
        except StorageError as error:
            return f"Foundry storage at {self.client.base} cannot be reached: {error}"
        if reply.status in (401, 403):
            log.warning(
                "Foundry storage at %s answered HTTP %d to a probe without a call id;"
                " if requests fail with storage_unauthorized, check the agent identity's access",
                self.client.base,
                reply.status,
            )
        return None

    async def _retry_reach(self) -> None:
        while self._problem:
            await asyncio.sleep(PROBE_SECONDS)
            self._problem = await self._reach()
        log.info("Foundry storage at %s answers now", self.client.base)


def _snapshot(response: dict[str, Any]) -> dict[str, Any]:
    """The response as stored: a failed or cancelled one without its output.

    Storage puts every stored output item in later turns' history, whatever the status: a
    partial turn (a function call without its output) would break the next one.
    """
    if response.get("status") in ("failed", "cancelled"):
        return {**response, "output": []}
    return response


def _part(value: str) -> str:
    return quote(value, safe="")


def _check(reply: Reply, doing: str) -> None:
    """Nothing for a success; else the StoreFailure the request fails with."""
    if 200 <= reply.status < 300:
        return
    if reply.status in (401, 403):
        raise StoreFailure(
            502,
            "storage_unauthorized",
            f"Foundry storage refused the agent identity (HTTP {reply.status}) to {doing}; "
            "check the identity's access to the project.",
        )
    code = f", {reply.error_code}" if reply.error_code else ""
    raise StoreFailure(
        502,
        "storage_error",
        f"Foundry storage could not {doing} (HTTP {reply.status}{code}); retry later.",
    )


def _failure(error: StorageError) -> StoreFailure:
    return StoreFailure(
        503, "storage_unavailable", f"Foundry storage did not answer: {error}; retry later."
    )
