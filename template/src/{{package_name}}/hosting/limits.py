"""HTTP connection limits: uvicorn's httptools protocol, with bounds on what a client holds.

Plain uvicorn buffers a request head of any size, never closes a connection that has
not sent one, accepts connections until the process runs out of file descriptors, and
keeps buffering for a client that does not read. Here each connection has bounds
(hosting/settings.py):

- a request line longer than MAX_REQUEST_LINE_BYTES gets 414, a head larger than
  MAX_HEADER_BYTES or with more than MAX_HEADERS fields gets 431, and the connection
  closes; a head unfinished after HEADER_TIMEOUT_SECONDS (counted from connecting, or
  from the first byte of a later request on a kept-alive connection, which until then
  uvicorn closes after IDLE_TIMEOUT_SECONDS) gets 408: a head that arrives whole never
  costs a timer;
- past MAX_CONNECTIONS open connections, the oldest one still waiting for a request is
  closed to make room, and when none is waiting, requests get 503, except /readiness,
  so the platform still sees a live server;
- a client that leaves WRITE_BUFFER_BYTES unread for WRITE_TIMEOUT_SECONDS is dropped:
  its stream ends as a disconnect, and the run behind it stops.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .batched_writes import BatchedTransport
from .errors import error_body
from .settings import Settings

try:
    import resource
except ImportError:  # Windows: no open-files limit to raise or fit
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

RESERVED_FILES = 64
"""Descriptors kept for what is not a connection (store, logs, telemetry, imports)."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one connection, and how many there may be."""

    max_connections: int
    max_header_bytes: int
    max_headers: int
    max_request_line_bytes: int
    header_timeout: float
    write_buffer_bytes: int
    write_timeout: float


def limited_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn serves with, bound to the settings' limits."""
    limits = Limits(
        max_connections=_connection_room(settings.max_connections),
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        max_request_line_bytes=settings.max_request_line_bytes,
        header_timeout=settings.header_timeout_seconds,
        write_buffer_bytes=settings.write_buffer_bytes,
        write_timeout=settings.write_timeout_seconds,
    )
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})


def _connection_room(wanted: int) -> int:
    """`wanted`, after raising the open-files limit as far as it goes; less if it cannot."""
    if resource is None:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        room = max(soft - RESERVED_FILES, 1)
        log.warning(
            "MAX_CONNECTIONS=%d does not fit the open-files limit (%d): using %d; "
            "raise the limit (ulimit -n) or lower MAX_CONNECTIONS",
            wanted,
            soft,
            room,
        )
        return room
    return wanted


def _refusal(status: int, reason: bytes, message: str, code: str) -> bytes:
    """A whole HTTP answer that closes the connection, with the error envelope."""
    body = error_body(message, code=code)
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        reason,
        len(body),
    )
    return head + b"connection: close\r\n\r\n" + body


REQUEST_LINE_TOO_LONG = _refusal(
    414, b"URI Too Long", "The request line is too long.", "request_line_too_long"
)
HEAD_TOO_LARGE = _refusal(
    431,
    b"Request Header Fields Too Large",
    "The request headers are too large or too many.",
    "headers_too_large",
)
HEAD_TIMEOUT = _refusal(
    408, b"Request Timeout", "The request headers took too long to arrive.", "request_timeout"
)
OVERLOADED = _refusal(
    503,
    b"Service Unavailable",
    "The server has too many open connections; retry later.",
    "too_many_connections",
)
READINESS = b"/readiness"


class LimitedProtocol(HttpToolsProtocol):
    """One HTTP connection with the bounds in `limits` (set by `limited_protocol`)."""

    limits: Limits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(BatchedTransport(transport, self.loop))  # type: ignore[arg-type]
        transport.set_write_buffer_limits(high=self.limits.write_buffer_bytes)
        self._head_bytes = 0
        self._header_count = 0
        self._began = False
        self._heads = 0
        """Request heads read so far."""
        self._reading_head = True
        """True from a request's end (or the connection's start) to the next one's headers."""
        self._waiting = True
        """True while no request is being answered: the connection may be shed."""
        self._since = self.loop.time()
        self._refused = False
        self._write_timer: asyncio.TimerHandle | None = None
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.limits.header_timeout, self._head_timed_out
        )
        if len(self.connections) > self.limits.max_connections:
            self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        counting, heads = self._reading_head, self._heads
        super().data_received(data)
        # httptools holds an unfinished header itself: count what arrived while a head
        # was awaited and none ended, and refuse once it is too large and still unfinished.
        if counting and heads == self._heads and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(HEAD_TOO_LARGE)
            elif self._head_timer is None:  # a later request's head, still unfinished
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout, self._head_timed_out
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        self._began = True

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line_bytes:
            self._refuse(REQUEST_LINE_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._header_count += 1
        self._head_bytes += len(name) + len(value)
        if (
            self._header_count > self.limits.max_headers
            or self._head_bytes > self.limits.max_header_bytes
        ):
            self._refuse(HEAD_TOO_LARGE)
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._reading_head = self._waiting = False
        self._heads += 1
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        over = len(self.connections) > self.limits.max_connections
        if over and self.url.split(b"?", 1)[0] != READINESS:
            log.warning("refused a request: %d open connections", len(self.connections))
            self._refuse(OVERLOADED)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if self.transport.is_closing() or pipelined:
            return
        self._began = False
        self._waiting = True
        self._since = self.loop.time()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _refuse(self, answer: bytes) -> None:
        """Answer with `answer` and close; nothing more is read from this connection."""
        self._refused = True
        self.connections.discard(self)  # going away: no longer counted against the limit
        self.headers = []
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes or self._began:
            self._refuse(HEAD_TIMEOUT)
        else:  # an idle connection that never started a request: nothing to answer
            self._refused = True
            self.connections.discard(self)
            self.transport.close()

    def _write_stalled(self) -> None:
        self._write_timer = None
        log.warning(
            "dropped a client that left %d bytes unread for %g s",
            self.transport.get_write_buffer_size(),
            self.limits.write_timeout,
        )
        self.transport.abort()

    def _shed(self) -> None:
        """Close the connection that has waited longest for a request, to make room."""
        waiting = [
            conn
            for conn in self.connections
            if conn is not self and getattr(conn, "_waiting", False) and not conn._refused
        ]
        if waiting:
            oldest = min(waiting, key=lambda conn: conn._since)
            oldest._refused = True
            self.connections.discard(oldest)
            oldest.transport.abort()
