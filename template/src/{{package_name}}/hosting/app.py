"""The Starlette application: the RESPONSES protocol routes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .manifest import Manifest
from .settings import Settings
from .turn import Agent, Turn


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return JSONResponse(body, status_code=status)


def _input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value)


def create_app(agent: Agent, settings: Settings, manifest: Manifest) -> Starlette:
    """Build the app serving `agent`."""

    async def readiness(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def create(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("input"), (str, list)):
            return _error(400, "Missing required parameter: 'input'.", "input")
        response_id = request.headers.get("x-agent-response-id") or f"resp_{uuid.uuid4().hex}"
        turn = Turn(
            items=_input_items(body["input"]),
            instructions=body.get("instructions"),
            tools=body.get("tools") or [],
            metadata=body.get("metadata") or {},
            model=body.get("model"),
            response_id=response_id,
            manifest=manifest,
        )
        response = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": body.get("model") or manifest.model_deployment,
            "output": [],
            "tools": turn.tools,
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": True,
            "metadata": turn.metadata,
            "instructions": turn.instructions,
        }
        if body.get("stream"):
            return StreamingResponse(
                _stream(agent, turn, response),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        text = "".join([chunk async for chunk in agent(turn) if isinstance(chunk, str)])
        response.update(status="completed", completed_at=int(time.time()), output=[_message(text)])
        return JSONResponse(response)

    return Starlette(
        routes=[
            Route("/readiness", readiness, methods=["GET"]),
            Route("/responses", create, methods=["POST"]),
        ]
    )


def _message(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": "msg_" + uuid.uuid4().hex,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content if text or status == "completed" else [],
    }


async def _stream(agent: Agent, turn: Turn, response: dict[str, Any]) -> AsyncIterator[str]:
    sequence = 0

    def event(kind: str, **data: Any) -> str:
        nonlocal sequence
        payload = {"type": kind, **data, "sequence_number": sequence}
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

    yield event("response.created", response=response)
    item = _message("", status="in_progress")
    where = {"item_id": item["id"], "output_index": 0}
    yield event("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield event("response.content_part.added", **where, content_index=0, part=part)
    text = ""
    async for chunk in agent(turn):
        if isinstance(chunk, str) and chunk:
            text += chunk
            yield event(
                "response.output_text.delta", **where, content_index=0, delta=chunk, logprobs=[]
            )
    yield event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
    yield event("response.content_part.done", **where, content_index=0, part={**part, "text": text})
    done = _message(text)
    done["id"] = item["id"]
    yield event("response.output_item.done", output_index=0, item=done)
    response.update(status="completed", completed_at=int(time.time()), output=[done])
    yield event("response.completed", response=response)
