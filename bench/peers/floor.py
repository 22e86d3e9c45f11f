"""The floor: bare Starlette answering a fixed, Response-shaped body with no protocol work.

`uvicorn floor:app`. The body (JSON, or the SSE event sequence when the request streams) is
built once at import, for the benchmark's input, so a request costs routing, reading the body,
one JSON parse to see `stream`, and the write.
"""

from __future__ import annotations

import json
import time
from typing import Any

from echo import INPUT, echo_chunks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_MESSAGE_ID = "msg_floor"
_TEXT = "".join(echo_chunks(INPUT))
_PART = {"type": "output_text", "text": _TEXT, "annotations": [], "logprobs": []}
_MESSAGE = {
    "id": _MESSAGE_ID,
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [_PART],
}
_RESPONSE: dict[str, Any] = {
    "id": "resp_floor",
    "object": "response",
    "created_at": int(time.time()),
    "completed_at": int(time.time()),
    "status": "completed",
    "model": "floor",
    "output": [_MESSAGE],
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "metadata": {},
    "instructions": None,
}


def _sse() -> bytes:
    where = {"item_id": _MESSAGE_ID, "output_index": 0, "content_index": 0}
    opening = {**_RESPONSE, "status": "in_progress", "output": [], "completed_at": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**_MESSAGE, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": {**_PART, "text": ""}},
        *(
            {"type": "response.output_text.delta", **where, "delta": chunk, "logprobs": []}
            for chunk in echo_chunks(INPUT)
        ),
        {"type": "response.output_text.done", **where, "text": _TEXT, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _PART},
        {"type": "response.output_item.done", "output_index": 0, "item": _MESSAGE},
        {"type": "response.completed", "response": _RESPONSE},
    ]
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()
        for n, event in enumerate(events)
    )


_JSON_BODY = json.dumps(_RESPONSE).encode()
_SSE_BODY = _sse()
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def readiness(request: Request) -> Response:
    return JSONResponse({"status": "healthy"})


async def create(request: Request) -> Response:
    if json.loads(await request.body()).get("stream"):
        return Response(_SSE_BODY, media_type="text/event-stream", headers=_SSE_HEADERS)
    return Response(_JSON_BODY, media_type="application/json")


app = Starlette(
    routes=[
        Route("/readiness", readiness, methods=["GET"]),
        Route("/responses", create, methods=["POST"]),
    ]
)
