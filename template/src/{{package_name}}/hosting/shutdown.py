"""SIGTERM: drain first, then let uvicorn stop.

Plain uvicorn stops accepting at once and then waits, without limit, for open
connections, so a long stream would hold the process and never get its terminal
event. Here SIGTERM first drains: readiness turns 503, new responses are refused,
runs get the grace period to finish and are then ended with a terminal event; only
then does uvicorn shut down (its lifespan shutdown flushes the store) and the process
exits 0. A second SIGTERM, or SIGINT, stops at once as uvicorn normally does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM runs `drain` before shutting down."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self.drain = drain
        self.draining = False
        self._drain_task: asyncio.Task[None] | None = None  # held so it is not collected

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.draining:
            super().handle_exit(sig, frame)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving yet: nothing to drain
            super().handle_exit(sig, frame)
            return
        # Not recorded as a captured signal: uvicorn would re-raise it at exit (code 143).
        self.draining = True
        loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        log.info("SIGTERM: draining before shutdown")
        try:
            await self.drain()
        finally:
            self.should_exit = True
