"""A new turn's history, put together from stored records (the local stores' way).

The history is the conversation's turns, then the `previous_response_id` chain, each
turn adding its input and then its output. Turns that failed or were cancelled are left
out, so one bad turn does not poison the ones after it. A chain is followed at most
`limit` responses back and never round a loop: a damaged row cannot hang the server.
"""

from __future__ import annotations

from typing import Any, Protocol

from .errors import ProtocolError
from .records import LEFT_OUT, PreviousNotFound, Prior, Record


class Reader(Protocol):
    """What history needs from a store: records of one user, read synchronously."""

    def record(self, user: str, response_id: str) -> Record | None: ...

    def conversation(self, user: str, conversation_id: str) -> list[Record]:
        """The conversation's records, oldest first."""
        ...


def assemble(
    reader: Reader,
    user: str,
    previous_response_id: str | None,
    conversation_id: str | None,
    limit: int,
) -> Prior:
    """The items before a new turn.

    Raises PreviousNotFound, or a 400 for a chain that loops or is too long.
    """
    items: list[dict[str, Any]] = []
    if conversation_id:
        items = _turns(reader.conversation(user, conversation_id))
    chain: list[Record] = []
    seen: set[str] = set()
    next_id = previous_response_id
    while next_id:
        if next_id in seen:
            raise ProtocolError(
                400,
                f"The previous_response_id chain loops back to '{next_id}'; "
                "continue from another response.",
                "previous_response_id",
                "invalid_value",
            )
        if len(chain) >= limit:
            raise ProtocolError(
                400,
                f"The previous_response_id chain is longer than {limit} responses; start a new "
                "conversation, or raise HISTORY_MAX_RESPONSES.",
                "previous_response_id",
                "invalid_value",
            )
        seen.add(next_id)
        record = reader.record(user, next_id)
        if record is None:
            if not chain:
                raise PreviousNotFound(next_id)
            break  # an older turn was deleted: the history starts after it
        chain.append(record)
        response = record.response
        next_id = response.get("previous_response_id")
        conversation = response.get("conversation")
        if isinstance(conversation, dict) and conversation.get("id") and not conversation_id:
            conversation_id = conversation["id"]
            items = _turns(reader.conversation(user, conversation_id), until=record.id)
            break
    known = {item.get("id") for item in items}
    for record in reversed(chain):
        items += [item for item in _turn(record) if item.get("id") not in known]
    session_id = chain[0].session_id if chain else ""
    return Prior(items, session_id)


def _turns(records: list[Record], until: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for record in records:
        if record.id == until:
            break
        items += _turn(record)
    return items


def _turn(record: Record) -> list[dict[str, Any]]:
    if record.response.get("status") in LEFT_OUT:
        return []
    return [*record.input, *record.response.get("output", [])]
