"""The Response object: built from a checked request, then moved through its statuses.

Strict clients validate every Response against OpenAI's and Open Responses' published
schemas, which require each generation setting to be present: the request's value, else
the documented default. The defaults are one dict, merged once per response.
"""

from __future__ import annotations

import time
from typing import Any

from .requests import CreateRequest

DEFAULTS: dict[str, Any] = {
    "object": "response",
    "completed_at": None,
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "conversation": None,
    "reasoning": None,
    "safety_identifier": None,
    "prompt_cache_key": None,
    "service_tier": "auto",
    "temperature": 1.0,
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "truncation": "disabled",
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "usage": None,
}
"""Every Response field the schemas require that a request may leave out. Shared, so never
changed in place: a response replaces a value, it does not edit it."""

ECHOED = frozenset(
    {
        "temperature", "top_p", "max_output_tokens", "max_tool_calls", "top_logprobs",
        "truncation", "parallel_tool_calls", "safety_identifier", "prompt_cache_key",
        "service_tier",
    }
)  # fmt: skip
"""Generation options the Response shows as the request gave them."""
OTHER_ECHOED = ("user", "prompt", "prompt_cache_retention", "presence_penalty", "frequency_penalty")
"""Request fields the Response shows that the agent does not get on its Turn."""


def new_response(request: CreateRequest, response_id: str, model: str) -> dict[str, Any]:
    """The Response as it starts: `queued` when in the background, else `in_progress`."""
    body = request.body
    response = {
        **DEFAULTS,
        "id": response_id,
        "created_at": int(time.time()),
        "status": "queued" if request.background else "in_progress",
        "model": body.get("model") or model,
        "instructions": body.get("instructions"),
        "metadata": request.metadata,
        "tools": [_tool(tool) for tool in request.tools] if request.tools else [],
        "tool_choice": request.tool_choice,
        "previous_response_id": request.previous_response_id,
        "conversation": {"id": request.conversation_id} if request.conversation_id else None,
        "agent_reference": body.get("agent_reference"),
        "background": request.background,
        "store": request.store,
        "output": [],
    }
    for name, value in request.turn_options.items():
        if name in ECHOED:
            response[name] = value
        elif name == "text":
            response["text"] = _text(value)
        elif name == "reasoning":
            response["reasoning"] = {"effort": None, "summary": None, **value}
    for name in OTHER_ECHOED:
        if body.get(name) is not None:
            response[name] = body[name]
    return response


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool as OpenAI shows it: function tools with every field, strict by default."""
    if tool["type"] != "function":
        return tool
    strict = tool.get("strict")
    return {
        **tool,
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": True if strict is None else strict,
    }


def _text(text: dict[str, Any]) -> dict[str, Any]:
    """`text` with its defaults: plain text, medium verbosity; a JSON schema's every field."""
    shown = {**DEFAULTS["text"], **{key: value for key, value in text.items() if value is not None}}
    form = shown["format"]
    if form["type"] == "json_schema":
        strict = form.get("strict")
        shown["format"] = {
            **form,
            "description": form.get("description"),
            "strict": False if strict is None else strict,
        }
    return shown


def complete(response: dict[str, Any]) -> None:
    response["status"] = "completed"
    response["completed_at"] = int(time.time())


def fail(response: dict[str, Any], code: str, message: str) -> None:
    response["status"] = "failed"
    response["error"] = {"code": code, "message": message}


def end_incomplete(response: dict[str, Any], reason: str) -> None:
    """Ended early for `reason` (`max_output_tokens`, `content_filter`), keeping its output."""
    response["status"] = "incomplete"
    response["incomplete_details"] = {"reason": reason}


def cancel(response: dict[str, Any]) -> None:
    """Cancelled responses keep no output (the protocol's status invariants)."""
    response["status"] = "cancelled"
    response["output"] = []


def is_finished(response: dict[str, Any]) -> bool:
    return response["status"] in ("completed", "failed", "incomplete", "cancelled")
