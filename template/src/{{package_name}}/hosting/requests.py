"""Parse and check the body of `POST /responses`.

Fields the server acts on are checked closely; the others are type-checked so a
wrong type is a 400 naming the field, never a 500. Unknown fields are ignored, so
new platform fields pass through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .codec import DecodeError, decode
from .errors import ProtocolError
from .identity import headers
from .items import input_item, message

METADATA_KEYS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512


@dataclass
class CreateRequest:
    """A checked `POST /responses` body."""

    body: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    """This request's input, as items with ids."""
    stream: bool = False
    store: bool = True
    background: bool = False
    previous_response_id: str | None = None
    conversation_id: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    metadata: dict[str, str] = field(default_factory=dict)


def parse_create(raw: bytes) -> CreateRequest:
    """The checked request; raises ProtocolError (400) naming the first bad field."""
    try:
        body = decode(raw) if raw else None
    except DecodeError:
        raise ProtocolError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProtocolError(400, "The request body must be a JSON object.")
    for name, value in body.items():
        check = _CHECKS.get(name)
        if check is not None and value is not None:
            check(name, value)
    request = CreateRequest(
        body=body,
        stream=body.get("stream") is True,
        store=body.get("store") is not False,
        background=body.get("background") is True,
        previous_response_id=body.get("previous_response_id") or None,
        conversation_id=_conversation_id(body.get("conversation")),
        tools=body.get("tools") or [],
        tool_choice=body.get("tool_choice") or "auto",
        metadata=body.get("metadata") or {},
    )
    value = body.get("input")
    if value is None:
        if not (request.previous_response_id or request.conversation_id):
            raise ProtocolError(400, "Missing required parameter: 'input'.", "input")
    elif isinstance(value, str):
        request.items = [message("user", value)]
    else:
        request.items = [input_item(item, f"input[{i}]") for i, item in enumerate(value)]
    if request.background and not request.store:
        raise ProtocolError(
            400, "Background responses must be stored: drop 'store: false'.", "background"
        )
    return request


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _fail(name: str, expected: str) -> ProtocolError:
    return ProtocolError(
        400, f"Invalid type for '{name}': expected {expected}.", name, "invalid_type"
    )


def _of(kind: type | tuple[type, ...], expected: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        # bool is an int in Python, not a number in JSON.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise _fail(name, expected)

    return check


def _one_of(*choices: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ProtocolError(
                400,
                f"Invalid value for '{name}': use one of {', '.join(choices)}.",
                name,
                "invalid_value",
            )

    return check


def _input(name: str, value: Any) -> None:
    if not isinstance(value, str | list):
        raise _fail(name, "a string or a list of input items")


def _conversation(name: str, value: Any) -> None:
    if isinstance(value, dict):
        value = value.get("id")
        name = "conversation.id"
    if not isinstance(value, str):
        raise _fail(name, "a string or an object with a string 'id'")


def _tools(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise _fail(name, "a list of tools")
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise _fail(f"{where}.type", "a tool object with a string 'type'")
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            raise _fail(f"{where}.name", "a string")


def _tool_choice(name: str, value: Any) -> None:
    if isinstance(value, dict):
        if not isinstance(value.get("type"), str):
            raise _fail("tool_choice.type", "a string")
        return
    _one_of("none", "auto", "required")(name, value)


def _metadata(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _fail(name, "an object of string keys and values")
    if len(value) > METADATA_KEYS:
        raise ProtocolError(400, f"'metadata' has more than {METADATA_KEYS} keys.", name)
    for key, item in value.items():
        if len(key) > METADATA_KEY_CHARS:
            raise ProtocolError(
                400,
                f"'metadata' key '{key[:20]}...' is over {METADATA_KEY_CHARS} characters.",
                name,
            )
        if not isinstance(item, str):
            raise _fail(f"metadata.{key}", "a string")
        if len(item) > METADATA_VALUE_CHARS:
            raise ProtocolError(
                400,
                f"'metadata.{key}' is over {METADATA_VALUE_CHARS} characters.",
                f"metadata.{key}",
            )


def _agent_reference(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _fail(name, "an object")
    if value.get("type") != "agent_reference":
        raise ProtocolError(
            400, "'agent_reference.type' must be 'agent_reference'.", "agent_reference.type"
        )
    if not (isinstance(value.get("name"), str) and value["name"]):
        raise _fail("agent_reference.name", "a non-empty string")


def _strings(name: str, value: Any) -> None:
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise _fail(name, "a list of strings")


_STRING = _of(str, "a string")
_BOOL = _of(bool, "a boolean")
_NUMBER = _of((int, float), "a number")
_INTEGER = _of(int, "an integer")
_OBJECT = _of(dict, "an object")

_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "input": _input,
    "instructions": _STRING,
    "stream": _BOOL,
    "store": _BOOL,
    "background": _BOOL,
    "previous_response_id": _STRING,
    "conversation": _conversation,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "metadata": _metadata,
    "model": _STRING,
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "max_output_tokens": _INTEGER,
    "max_tool_calls": _INTEGER,
    "top_logprobs": _INTEGER,
    "parallel_tool_calls": _BOOL,
    "truncation": _one_of("auto", "disabled"),
    "text": _OBJECT,
    "reasoning": _OBJECT,
    "include": _strings,
    "stream_options": _OBJECT,
    "user": _STRING,
    "safety_identifier": _STRING,
    "prompt_cache_key": _STRING,
    "prompt_cache_retention": _STRING,
    "service_tier": _STRING,
    "prompt": _OBJECT,
    "agent_reference": _agent_reference,
    "agent_session_id": _STRING,
    "structured_inputs": _OBJECT,
    "response_id": _STRING,
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; 413 past `limit` bytes (checked before reading when the length is given)."""
    length = headers(request).get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProtocolError(400, "The client closed the connection during the request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> ProtocolError:
    return ProtocolError(413, f"The request body is over {limit} bytes.", code="request_too_large")
