"""What the stores keep and return, and the failures every store reports the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERRUPTED = {
    "code": "server_error",
    "message": "The server stopped before this response finished.",
}
"""The error of a response whose process ended while it was still running."""

LEFT_OUT = frozenset({"failed", "cancelled"})
"""Statuses whose items later turns never see: a failed turn must not poison the ones after it."""


@dataclass
class Record:
    """A stored response, the input items of its request, and its session."""

    response: dict[str, Any]
    input: list[dict[str, Any]]
    session_id: str = ""
    history_ids: list[str] = field(default_factory=list)
    """The ids of the items that came before this turn (what Foundry storage links it to)."""

    @property
    def id(self) -> str:
        return self.response["id"]


@dataclass(frozen=True)
class Prior:
    """What came before a new turn."""

    items: list[dict[str, Any]]
    """History items, oldest first; failed and cancelled turns are left out."""
    session_id: str = ""
    """The previous response's session id, when there is one."""


@dataclass(frozen=True)
class PageQuery:
    """A page of `input_items`: at most `limit` items in `order`, after or before an item id."""

    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None


class ResponseConflict(Exception):
    """A response with this id already exists for this caller."""


class PreviousNotFound(Exception):
    """The previous response is unknown to this caller (never stored, deleted, or not theirs)."""


class StoreFailure(Exception):
    """The store could not read or write: the request fails with this status and code.

    The message is one line with the cause and the fix, and never holds user content.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
