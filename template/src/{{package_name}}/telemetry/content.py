"""Messages on spans, in the shape of the GenAI semantic conventions (only when captured).

`gen_ai.input.messages` and `gen_ai.output.messages` are JSON lists of
`{"role": ..., "parts": [...]}`; parts are `text`, `tool_call`, `tool_call_response`,
`reasoning`, or just the type of anything else (a hosted tool's call, an image).
Responses items come in as dicts (the server's) or `openai` objects (the model's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..hosting.codec import encode

TEXT_PARTS = ("input_text", "output_text", "text", "refusal")


def messages_json(items: Iterable[Any], finish_reason: str | None = None) -> str:
    """The items as one JSON string; output messages also get their `finish_reason`."""
    messages = [_message(_as_dict(item)) for item in items]
    if finish_reason is not None:
        for message in messages:
            message["finish_reason"] = finish_reason
    return encode(messages).decode()


def json_text(value: Any) -> str:
    """Any JSON-able value as text (tool arguments and results)."""
    return value if isinstance(value, str) else encode(value).decode()


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    return item.to_dict()  # an openai model object


def _message(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    if kind == "message":
        return {"role": item.get("role", "user"), "parts": _content_parts(item.get("content"))}
    if kind == "function_call":
        part = {
            "type": "tool_call",
            "id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments"),
        }
        return {"role": "assistant", "parts": [part]}
    if kind == "function_call_output":
        part = {"type": "tool_call_response", "id": item.get("call_id"), "response": item["output"]}
        return {"role": "tool", "parts": [part]}
    if kind == "reasoning":
        summary = " ".join(s.get("text", "") for s in item.get("summary") or [])
        return {"role": "assistant", "parts": [{"type": "reasoning", "content": summary}]}
    return {"role": "assistant", "parts": [{"type": kind}]}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            parts.append({"type": "text", "content": part.get("text") or part.get("refusal", "")})
        elif kind:
            parts.append({"type": kind})  # images and files: their type, not their data
    return parts
