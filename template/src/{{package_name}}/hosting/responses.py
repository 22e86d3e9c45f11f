"""The Response object: built from a checked request, then moved through its statuses."""

from __future__ import annotations

import time
from typing import Any

from .requests import CreateRequest

ECHOED = (
    "temperature", "top_p", "max_output_tokens", "max_tool_calls", "top_logprobs", "truncation",
    "text", "reasoning", "user", "safety_identifier", "prompt_cache_key", "service_tier",
)  # fmt: skip
"""Optional request fields copied onto the Response when the request has them."""


def new_response(request: CreateRequest, response_id: str, model: str) -> dict[str, Any]:
    """The Response as it starts: `queued` when in the background, else `in_progress`."""
    body = request.body
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "queued" if request.background else "in_progress",
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "model": body.get("model") or model,
        "instructions": body.get("instructions"),
        "metadata": request.metadata,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": request.previous_response_id,
        "conversation": {"id": request.conversation_id} if request.conversation_id else None,
        "agent_reference": body.get("agent_reference"),
        "background": request.background,
        "store": request.store,
        "output": [],
        "usage": None,
    }
    for name in ECHOED:
        if name in body:
            response[name] = body[name]
    return response


def complete(response: dict[str, Any]) -> None:
    response["status"] = "completed"
    response["completed_at"] = int(time.time())


def fail(response: dict[str, Any], code: str, message: str) -> None:
    response["status"] = "failed"
    response["error"] = {"code": code, "message": message}


def cancel(response: dict[str, Any]) -> None:
    """Cancelled responses keep no output (the protocol's status invariants)."""
    response["status"] = "cancelled"
    response["output"] = []


def is_finished(response: dict[str, Any]) -> bool:
    return response["status"] in ("completed", "failed", "incomplete", "cancelled")
