"""One system call for what a connection writes in one turn of the event loop.

uvicorn writes a response's head, each body chunk and a chunked stream's end with a
`transport.write` each, and each is a `send` system call: three for a short event
stream, the most expensive part of answering it. `BatchedTransport` stands between the
protocol and the socket's transport, holds what is written during one turn of the loop
and hands it over at the end of that turn in one write. Nothing waits longer than the
turn: anything that lets the loop run lets the held bytes go first.

Flow control is the real transport's: it pauses the protocol when its own buffer is
full, as before, and the held bytes are at most what one turn wrote.
"""

from __future__ import annotations

import asyncio
from typing import Any


class BatchedTransport:
    """A transport whose writes in one loop turn go out as one (see the module)."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = [data]
            self._loop.call_soon(self._flush)
        else:
            held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (sum(map(len, held)) if held else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
