"""Pages of input items: the query as the protocol takes it, and the list object it returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ProtocolError
from .items import listed
from .records import PageQuery


def page_query(query: Mapping[str, str]) -> PageQuery:
    """The checked `limit` (1-100, default 20), `order`, `after` and `before` of a request."""
    limit = integer(query.get("limit", "20"), "limit", minimum=1, maximum=100)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ProtocolError(400, "'order' must be 'asc' or 'desc'.", "order")
    return PageQuery(limit, order, query.get("after"), query.get("before"))


def page(items: list[dict[str, Any]], query: PageQuery) -> dict[str, Any]:
    """The list object of one page of `items` (stored oldest first)."""
    ordered = items if query.order == "asc" else items[::-1]
    ids = [item.get("id") for item in ordered]
    start, end = 0, len(ordered)
    if query.after is not None:
        start = _index(ids, query.after, "after") + 1
    if query.before is not None:
        end = _index(ids, query.before, "before")
    data = [listed(item) for item in ordered[start:end][: query.limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0].get("id") if data else None,
        "last_id": data[-1].get("id") if data else None,
        "has_more": end - start > query.limit,
    }


def integer(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    """A query parameter as an integer within bounds; 400 naming it otherwise."""
    try:
        value = int(raw)
    except ValueError:
        raise ProtocolError(400, f"'{name}' must be an integer.", name) from None
    if value < minimum or (maximum is not None and value > maximum):
        top = f" and at most {maximum}" if maximum is not None else ""
        raise ProtocolError(400, f"'{name}' must be at least {minimum}{top}.", name)
    return value


def _index(ids: list[Any], item_id: str, name: str) -> int:
    try:
        return ids.index(item_id)
    except ValueError:
        raise ProtocolError(400, f"No input item with id '{item_id}'.", name) from None
