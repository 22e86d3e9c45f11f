"""Your agent. This file is yours: `copier update` never changes it.

The server calls `agent(turn)` for every request and streams whatever it yields:
strings are text, `FunctionCall` and `Reasoning` are structured output (see
hosting/turn.py). Replace the body with your own logic; the smallest agent is

    async def agent(turn: Turn) -> AsyncIterator[Output]:
        yield f"Hello! You said: {turn.user_text}"
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .hosting import Output, Turn, offline_agent


async def agent(turn: Turn) -> AsyncIterator[Output]:
    """Answer one turn."""
    async for output in offline_agent(turn):
        yield output
