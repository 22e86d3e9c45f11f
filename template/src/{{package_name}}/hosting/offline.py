"""The offline agent: deterministic, no network, so the server runs anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .turn import Output, Turn


async def offline_agent(turn: Turn) -> AsyncIterator[Output]:
    """Echo the turn back: the user's text, how much history came with it, the tools."""
    earlier = sum(1 for item in turn.items if item.get("type", "message") == "message") - 1
    tools = [tool.get("name") or tool.get("server_label") or tool["type"] for tool in _tools(turn)]
    words = f"(offline) You said: {turn.user_text}".split(" ")
    for index, word in enumerate(words):
        yield word if index == 0 else " " + word
    yield f"\nEarlier messages: {max(earlier, 0)}."
    yield f"\nTools: {', '.join(tools) if tools else 'none'}."


def _tools(turn: Turn) -> list[dict]:
    manifest_tools = turn.manifest.tools if turn.manifest else []
    return [*manifest_tools, *turn.tools]
