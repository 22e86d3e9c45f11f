"""Server-sent events: framing, and an ASGI response that streams frames as they come.

Each event is one `event:` + `data:` frame whose `type` matches the event line. The
response listens for the client going away (so the run behind it can stop) and sends
keep-alive comments when the stream has been quiet for `keepalive` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from .codec import encode

KEEPALIVE = b": keep-alive\n\n"
HEAD_WAIT = 0.05
"""Seconds the response head waits for the first chunk, to go out in the same write."""
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame for a protocol event (a dict with `type`)."""
    return b"event: %s\ndata: %s\n\n" % (event["type"].encode(), encode(event))


class EventStream:
    """Stream the byte chunks of `chunks` as `text/event-stream`.

    The response head waits for the first chunk, at most HEAD_WAIT seconds, so a short
    stream goes out in one write (see batched_writes.py). A stream still running after
    HEAD_WAIT starts listening for the client going away (a short one never pays for
    it); then `on_disconnect` runs once; it is expected to cancel the task serving this
    stream, which ends it quietly. `on_close` runs once the stream is over, however it ended:
    even when the very first send fails, whatever the stream stands for is finished there.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        headers: list[tuple[bytes, bytes]],
        keepalive: float,
        on_disconnect: Callable[[], None],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.chunks = chunks
        self.head = {"type": "http.response.start", "status": 200, "headers": HEADERS + headers}
        self.keepalive = keepalive
        self.on_disconnect = on_disconnect
        self.on_close = on_close
        self.gone = False
        self._send: Send | None = None
        self._receive: Receive | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._started = False
        self._sending = False
        self._last_sent = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._ping: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        self._send, self._receive = send, receive
        self._last_sent = loop.time()
        self._timer = loop.call_later(HEAD_WAIT, self._tick)
        try:
            async for chunk in self.chunks:
                if self.gone:
                    break
                await self._write(chunk)
            if not self.gone:
                await self._write(b"", more=False)
        except asyncio.CancelledError:
            if not self.gone:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._ping is not None:
                self._ping.cancel()
            try:
                await self.chunks.aclose()  # type: ignore[attr-defined]
            finally:
                if self.on_close is not None:
                    self.on_close()

    async def _write(self, chunk: bytes, more: bool = True) -> None:
        assert self._send is not None
        self._sending = True
        try:
            if not self._started:
                self._started = True
                await self._send(self.head)
            if chunk or not more:
                await self._send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            self._sending = False
            self._last_sent = asyncio.get_running_loop().time()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.on_disconnect()

    def _tick(self) -> None:
        """Watch for the client leaving; send the head if no chunk came yet, or a keep-alive."""
        self._timer = None
        if self.gone:
            return
        loop = asyncio.get_running_loop()
        if self._watcher is None:
            assert self._receive is not None
            self._watcher = loop.create_task(self._watch(self._receive))
        quiet = loop.time() - self._last_sent
        idle = self._ping is None or self._ping.done()
        if idle and not self._sending and (not self._started or quiet >= self.keepalive > 0):
            self._ping = loop.create_task(self._write(b"" if not self._started else KEEPALIVE))
        if self.keepalive:
            wait = self.keepalive - quiet
            self._timer = loop.call_later(wait if wait > 0 else self.keepalive, self._tick)
