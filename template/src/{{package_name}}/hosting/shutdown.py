"""SIGTERM and SIGINT: end every response with its terminal event, then let uvicorn stop.

Plain uvicorn stops accepting at once and then waits, without limit, for open
connections, so a long stream would hold the process and never get its terminal
event; a second signal cut streams mid-way. Here the first SIGTERM drains: readiness
turns 503, new responses are refused, runs get the grace period to finish and are then
ended. SIGINT, or a second SIGTERM, ends every run at once. Either way each stream gets
`response.failed` saying the server shut down, each stored response is left finished
(never `queued` or `in_progress`), and only then does uvicorn shut down (its lifespan
shutdown flushes the store).

Exit code: 0 after a drain, whichever of these signals asked for it; 2 for a setting
or agent that cannot be used at start. A third signal exits at once, as uvicorn does
(status 128 + the signal), and may leave responses unfinished: the next start marks
them failed.
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
    """A uvicorn server that ends every run before shutting down, on SIGTERM or SIGINT.

    `drain` refuses new runs and lets running ones finish within the grace period;
    `stop` ends every run now.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        drain: Callable[[], Awaitable[None]],
        stop: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self.drain = drain
        self.stop = stop
        self.draining = False
        self.stopping = False
        self._drain_task: asyncio.Task[None] | None = None  # held so it is not collected

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving yet: nothing to drain
            super().handle_exit(sig, frame)
            return
        if self.stopping:  # a third signal: uvicorn's own exit, now
            super().handle_exit(sig, frame)
            return
        # Not recorded as a captured signal: uvicorn would re-raise it at exit (code 143).
        if sig == signal.SIGTERM and not self.draining:
            self.draining = True
            loop.call_soon_threadsafe(self._begin_drain)
            return
        self.stopping = True
        loop.call_soon_threadsafe(self._stop_now, signal.Signals(sig).name)

    def _stop_now(self, name: str) -> None:
        log.info("%s: ending every response now", name)
        self.stop()
        if not self.draining:
            self.draining = True
            self._begin_drain()

    def _begin_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        log.info("shutting down: draining first")
        try:
            await self.drain()
        finally:
            self.should_exit = True
