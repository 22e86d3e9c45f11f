"""Whole JSON replies: the ASGI response for every answer that is not a stream, and errors."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .codec import encode
from .errors import INTERNAL, ProtocolError, error_body
from .identity import request_id, request_id_header

log = logging.getLogger(__name__)


class JsonReply:
    """JSON bytes with a status and headers, sent in one start and one body message.

    Starlette's Response does the same with more checks than bytes built here need; on
    the create path its set-up was a measurable share of a request.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.status = status
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            *headers,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def json_reply(
    request: Request,
    body: Any,
    status: int = 200,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> JsonReply:
    """`body` as JSON, with the request id (and `extra` headers)."""
    headers = [request_id_header(request)]
    if extra:
        headers += extra
    return JsonReply(encode(body), status, headers)


def error_reply(
    request: Request, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> JsonReply:
    """An error envelope; 4xx answers tell the `openai` client not to retry."""
    headers = [request_id_header(request), *(extra or [])]
    if status < 500:
        headers.append((b"x-should-retry", b"false"))
    return JsonReply(body, status, headers)


async def refused(request: Request, error: Exception) -> JsonReply:
    """A ProtocolError: its status and envelope."""
    assert isinstance(error, ProtocolError)
    return error_reply(request, error.status, error.body())


async def crashed(request: Request, error: Exception) -> JsonReply:
    """A bug in the server: logged (with the request id), never shown to the client.

    The connection is closed after it (and the reply says so): whatever broke may have
    left it in a state nobody should reuse.
    """
    log.error("request %s failed", request_id(request), exc_info=error)
    body = error_body(INTERNAL, "server_error", code="server_error")
    return error_reply(request, 500, body, [(b"connection", b"close")])
