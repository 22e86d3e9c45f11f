"""Whole JSON replies: the ASGI response for every answer that is not a stream."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


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
