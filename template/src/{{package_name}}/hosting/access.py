"""The access log: one line per request, at info.

    POST /responses 200 3.2 ms request=9f0c... response=caresp_...

`request` is the `x-request-id` the server answered with (the caller's, or a new one);
`response` is the response a `POST /responses` created. Readiness probes, which the
platform sends every few seconds, are logged at debug. Lines are written by logs.py in the
console's format, once per turn of the event loop: a few microseconds per request. Below
info (`LOG_LEVEL=warning`) the server runs without this wrapper at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import logs

log = logging.getLogger(__name__)

RESPONSE_ID = "response_id"
"""Where `POST /responses` leaves the id of the response it created, in the ASGI scope."""


class AccessLog:
    """Wrap an ASGI app to log each request when it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer: list[Message] = []

        def answering(message: Message) -> Awaitable[None]:
            if not answer:
                answer.append(message)  # the first message is always http.response.start
            return send(message)  # its awaitable, not one more coroutine around it

        try:
            await self.app(scope, receive, answering)
        finally:
            _log(scope, answer[0] if answer else None, started)


def _log(scope: Scope, start: Message | None, started: float) -> None:
    level = logging.DEBUG if scope["path"] == "/readiness" else logging.INFO
    if not log.isEnabledFor(level):
        return
    path = _printable(scope.get("raw_path") or scope["path"].encode())
    status = start["status"] if start else 0  # 0: the client left before an answer
    request_id = ""
    for name, value in start["headers"] if start else ():
        if name == b"x-request-id":
            request_id = value.decode("latin-1")
            break
    response_id = scope.get(RESPONSE_ID, "")
    duration = round((time.perf_counter() - started) * 1000, 1)
    method = scope["method"]
    message = (
        f"{method} {path} {status} {duration} ms "
        f"request={request_id or '-'} response={response_id or '-'}"
    )
    values = (method, path, status, duration, request_id, response_id)
    logs.access_line(log, level, message, values)


_CONTROLS = {code: f"%{code:02X}" for code in (*range(32), 127)}


def _printable(raw: bytes) -> str:
    """The path as the client sent it (still percent-encoded), control bytes encoded too.

    The decoded path could carry CR LF (`%0D%0A`) and forge a line in the log.
    """
    return raw.decode("latin-1").translate(_CONTROLS)
