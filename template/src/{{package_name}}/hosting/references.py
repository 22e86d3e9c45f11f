"""`item_reference` inputs: replaced by the items they name, from the history or the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ProtocolError

Fetch = Callable[[list[str]], Awaitable[list[dict[str, Any] | None]]]


async def resolve(
    items: list[dict[str, Any]], history: list[dict[str, Any]], fetch: Fetch
) -> list[dict[str, Any]]:
    """`items` with each `item_reference` replaced; 400 naming the first one not found."""
    wanted = [item.get("id") for item in items if item.get("type") == "item_reference"]
    if not wanted:
        return items
    known = {item.get("id"): item for item in history}
    missing = [item_id for item_id in wanted if isinstance(item_id, str) and item_id not in known]
    if missing:
        for item_id, found in zip(missing, await fetch(missing), strict=True):
            if found is not None:
                known[item_id] = found
    resolved = []
    for index, item in enumerate(items):
        if item.get("type") != "item_reference":
            resolved.append(item)
            continue
        target = known.get(item.get("id"))
        if target is None:
            raise ProtocolError(
                400,
                f"Item with id '{item.get('id')}' not found.",
                f"input[{index}].id",
                "not_found",
            )
        resolved.append(target)
    return resolved
