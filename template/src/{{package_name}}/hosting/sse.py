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

    When the client goes away, `on_disconnect` runs once; it is expected to cancel the
    task serving this stream, which ends it quietly. `on_close` runs once the stream is
    over, however it ended: even when the very first send fails, whatever the stream
    stands for is finished there.
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
        self.headers = HEADERS + headers
        self.keepalive = keepalive
        self.on_disconnect = on_disconnect
        self.on_close = on_close
        self.gone = False
        self._sending = False
        self._last_sent = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        watcher = keeper = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            self._last_sent = loop.time()
            watcher = loop.create_task(self._watch(receive))
            keeper = loop.create_task(self._keep_alive(send)) if self.keepalive else None
            async for chunk in self.chunks:
                if self.gone:
                    break
                await self._write(send, chunk)
            if not self.gone:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self.gone:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        finally:
            for task in (watcher, keeper):
                if task is not None:
                    task.cancel()
            try:
                await self.chunks.aclose()  # type: ignore[attr-defined]
            finally:
                if self.on_close is not None:
                    self.on_close()

    async def _write(self, send: Send, chunk: bytes) -> None:
        self._sending = True
        try:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            self._sending = False
            self._last_sent = asyncio.get_running_loop().time()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.on_disconnect()

    async def _keep_alive(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._last_sent + self.keepalive - loop.time())
            if not self._sending and loop.time() - self._last_sent >= self.keepalive:
                await self._write(send, KEEPALIVE)
