"""The limit rows: what a huge input, clients that never read and many connections cost.

Each is measured on a fresh server process, so a peak belongs to its scenario alone:

- the peak RSS (VmHWM) while one streamed request with a 4 MiB input runs to its end (the
  echo makes one event per word), read as fast as the client can;
- the highest RSS while 500 streamed requests (64 KiB inputs) wait for clients that never
  read: each socket has a 4 KiB receive buffer and is never read, until the RSS has not
  grown for `STEADY_SECONDS` (every stream is then as far as its bounds let it go), at
  most `HOLD_SECONDS`. A fixed short window measured how fast a server got there instead;
- p99 latency of non-streamed, stored requests with wrk at 256 connections.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass

from checks import request_body
from errors import BenchError
from load import wrk
from servers import Running, ServerSpec, serve

BIG_INPUT_BYTES = 4 * 1024 * 1024
BIG_INPUT_SECONDS = 120.0
"""Longest wait for the 4 MiB stream; a server still streaming then is read no further."""
SLOW_READERS = 500
SLOW_INPUT_BYTES = 64 * 1024
HOLD_SECONDS = 45.0
STEADY_SECONDS = 3.0
WIDE_CONNECTIONS = 256


@dataclass(frozen=True)
class LimitResult:
    """The limit rows of one server."""

    big_input_peak_mb: float
    big_input_seconds: float
    """How long the 4 MiB stream took to read (BIG_INPUT_SECONDS: it was cut off)."""
    slow_readers_mb: float
    wide_p99_ms: float
    wide_bad: int


def _body(input_bytes: int, *, stream: bool) -> bytes:
    text = "word " * (input_bytes // 5)
    body = {"model": "bench", "input": text, "stream": stream, "store": True}
    return json.dumps(body, separators=(",", ":")).encode()


def big_input_peak(server: Running) -> tuple[float, float]:
    """(peak RSS MB, seconds) of one streamed request with a 4 MiB input, read to its end."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=BIG_INPUT_SECONDS)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            "/responses",
            body=_body(BIG_INPUT_BYTES, stream=True),
            headers={"Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        if answer.status != 200:
            raise BenchError(f"{server.spec.name}: the 4 MiB stream answered {answer.status}")
        while answer.read1(1 << 20):
            if time.monotonic() - started > BIG_INPUT_SECONDS:
                break
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(f"{server.spec.name}: the 4 MiB stream failed: {error!r}") from None
    finally:
        connection.close()
    seconds = min(time.monotonic() - started, BIG_INPUT_SECONDS)
    return server.peak_rss_mb(), seconds


def slow_readers(server: Running) -> float:
    """The highest RSS MB while SLOW_READERS streams wait for clients that never read."""
    body = _body(SLOW_INPUT_BYTES, stream=True)
    request = (
        b"POST /responses HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    ) + body
    sockets: list[socket.socket] = []
    highest = server.rss_mb()
    try:
        for _ in range(SLOW_READERS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect((server.host, server.port))
            sock.sendall(request)
            sockets.append(sock)
        deadline = time.monotonic() + HOLD_SECONDS
        grew = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - grew < STEADY_SECONDS:
            now = server.rss_mb()
            if now > highest + 1:
                grew = time.monotonic()
            highest = max(highest, now)
            time.sleep(0.25)
    except OSError as error:
        raise BenchError(f"{server.spec.name}: a slow reader failed: {error!r}") from None
    finally:
        for sock in sockets:
            sock.close()
    return highest


def measure(spec: ServerSpec, wrk_path: str, seconds: float) -> LimitResult:
    """The limit rows of one server, each on a fresh process."""
    with serve(spec) as (server, _):
        peak, big_seconds = big_input_peak(server)
    with serve(spec) as (server, _):
        held = slow_readers(server)
    with serve(spec) as (server, _):
        body = request_body(stream=False, store=True)
        wide = wrk(wrk_path, server, body, seconds, WIDE_CONNECTIONS)
    return LimitResult(peak, big_seconds, held, wide.p99_ms, wide.bad)
