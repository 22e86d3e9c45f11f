"""Parse and check the body of `POST /responses`.

Every documented field is checked as OpenAI's OpenAPI schema describes it (types, enums,
ranges, the shapes of tools, `tool_choice`, `text.format` and `reasoning`), so a bad
value is a 400 naming the field, never a 500 or an echo of nonsense. `null` stands for
"not given". Unknown fields are ignored, so new platform fields pass through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .codec import DecodeError, decode
from .errors import ProtocolError
from .identity import headers
from .items import input_item, message
from .turn import OPTIONS

METADATA_KEYS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
MAX_DEPTH = 100
"""Deepest nesting accepted in a body. The Response echoes parts of the request a few levels
deeper, and JSON nested past 254 levels is what the fast encoder cannot write."""

Check = Callable[[str, Any], None]


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
    turn_options: dict[str, Any] = field(default_factory=dict)
    """The generation options the request gave (turn.OPTIONS), for the agent's Turn."""


def parse_create(raw: bytes) -> CreateRequest:
    """The checked request; raises ProtocolError (400) naming the first bad field."""
    try:
        body = decode(raw) if raw else None
    except DecodeError:
        raise ProtocolError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProtocolError(400, "The request body must be a JSON object.")
    # Counting brackets is nearly free; only a body with many of them is walked.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        _check_depth(body)
    options = {}
    for name, value in body.items():
        if value is None:
            continue
        check = _CHECKS.get(name)
        if check is not None:
            check(name, value)
        if name in _OPTIONS:
            options[name] = value
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
        turn_options=options,
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
    if body.get("stream_options") is not None and not request.stream:
        raise ProtocolError(
            400, "'stream_options' is only allowed with 'stream: true'.", "stream_options"
        )
    return request


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _check_depth(body: dict[str, Any]) -> None:
    """400 naming the top-level field nested deeper than MAX_DEPTH, level by level."""
    for name, value in body.items():
        level, depth = [value], 1
        while level:
            nested = []
            for node in level:
                if isinstance(node, dict):
                    nested += [v for v in node.values() if isinstance(v, dict | list)]
                elif isinstance(node, list):
                    nested += [v for v in node if isinstance(v, dict | list)]
            level, depth = nested, depth + 1
            if level and depth > MAX_DEPTH:
                raise ProtocolError(
                    400,
                    f"'{name}' is nested more than {MAX_DEPTH} levels deep.",
                    name,
                    "nested_too_deep",
                )


def _fail(name: str, expected: str) -> ProtocolError:
    return ProtocolError(
        400, f"Invalid type for '{name}': expected {expected}.", name, "invalid_type"
    )


def _of(kind: type | tuple[type, ...], expected: str) -> Check:
    def check(name: str, value: Any) -> None:
        # bool is an int in Python, not a number in JSON.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise _fail(name, expected)

    return check


def _one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ProtocolError(
                400,
                f"Invalid value for '{name}': use one of {', '.join(choices)}.",
                name,
                "invalid_value",
            )

    return check


def _range(kind: type, low: float, high: float | None = None) -> Check:
    """A number (kind float) or an integer (kind int) from `low` to `high`, as OpenAI checks."""
    noun = "integer" if kind is int else "decimal"
    is_type = _of(int, "an integer") if kind is int else _of((int, float), "a number")

    def check(name: str, value: Any) -> None:
        is_type(name, value)
        if value < low:
            raise ProtocolError(
                400,
                f"Invalid '{name}': {noun} below minimum value. "
                f"Expected a value >= {low:g}, but got {value} instead.",
                name,
                f"{noun}_below_min_value",
            )
        if high is not None and value > high:
            raise ProtocolError(
                400,
                f"Invalid '{name}': {noun} above maximum value. "
                f"Expected a value <= {high:g}, but got {value} instead.",
                name,
                f"{noun}_above_max_value",
            )

    return check


def _object(**fields: Check) -> Check:
    """An object whose listed fields, when given and not null, pass their checks."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise _fail(name, "an object")
        for key, field_check in fields.items():
            if value.get(key) is not None:
                field_check(f"{name}.{key}", value[key])

    return check


def _required(value: dict[str, Any], name: str, key: str, check: Check) -> None:
    if value.get(key) is None:
        raise ProtocolError(
            400, f"Missing required parameter: '{name}.{key}'.", f"{name}.{key}", "missing"
        )
    check(f"{name}.{key}", value[key])


def _list_of(check: Check, expected: str) -> Check:
    def check_list(name: str, value: Any) -> None:
        if not isinstance(value, list):
            raise _fail(name, expected)
        for index, item in enumerate(value):
            check(f"{name}[{index}]", item)

    return check_list


def _pattern(regex: str, expected: str) -> Check:
    compiled = re.compile(regex)

    def check(name: str, value: Any) -> None:
        _STRING(name, value)
        if not compiled.fullmatch(value):
            raise ProtocolError(
                400, f"Invalid value for '{name}': expected {expected}.", name, "invalid_value"
            )

    return check


def _max_chars(limit: int) -> Check:
    def check(name: str, value: Any) -> None:
        _STRING(name, value)
        if len(value) > limit:
            raise ProtocolError(
                400, f"'{name}' is over {limit} characters.", name, "string_above_max_length"
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


def _tool(name: str, tool: Any) -> None:
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise _fail(f"{name}.type", "a tool object with a string 'type'")
    if tool["type"] == "function":
        _required(tool, name, "name", _NAME)
        _FUNCTION(name, tool)


def _tool_choice(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        _one_of("none", "auto", "required")(name, value)
        return
    kind = value.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{name}.type", "a string")
    if kind in ("function", "custom"):
        _required(value, name, "name", _STRING)
    elif kind == "mcp":
        _required(value, name, "server_label", _STRING)
        _object(name=_STRING)(name, value)
    elif kind == "allowed_tools":
        _required(value, name, "mode", _one_of("auto", "required"))
        _required(value, name, "tools", _list_of(_tool, "a list of tools"))


def _text_format(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _fail(name, "an object")
    _required(value, name, "type", _one_of("text", "json_object", "json_schema"))
    if value["type"] == "json_schema":
        _required(value, name, "name", _NAME)
        _required(value, name, "schema", _OBJECT)
        _object(strict=_BOOL, description=_STRING)(name, value)


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


def _prompt(name: str, value: Any) -> None:
    _object(version=_STRING, variables=_OBJECT)(name, value)
    _required(value, name, "id", _STRING)


def _context_management(name: str, value: Any) -> None:
    def entry(at: str, item: Any) -> None:
        _object(compact_threshold=_range(int, 1000))(at, item)
        _required(item, at, "type", _STRING)

    _list_of(entry, "a list of context management entries")(name, value)
    if not value:
        raise ProtocolError(400, f"'{name}' needs at least one entry.", name, "invalid_value")


def _moderation(name: str, value: Any) -> None:
    _object(policy=_OBJECT)(name, value)
    _required(value, name, "model", _STRING)


_OPTIONS = frozenset(OPTIONS)
_STRING = _of(str, "a string")
_BOOL = _of(bool, "a boolean")
_OBJECT = _of(dict, "an object")
_NAME = _pattern(r"[a-zA-Z0-9_-]{1,64}", "1 to 64 letters, digits, underscores or hyphens")
_FUNCTION = _object(description=_STRING, parameters=_OBJECT, strict=_BOOL)
_REASONING_LEVELS = ("auto", "concise", "detailed")
INCLUDABLE = (
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
)  # fmt: skip
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_CHECKS: dict[str, Check] = {
    "input": _input,
    "instructions": _STRING,
    "stream": _BOOL,
    "store": _BOOL,
    "background": _BOOL,
    "previous_response_id": _STRING,
    "conversation": _conversation,
    "tools": _list_of(_tool, "a list of tools"),
    "tool_choice": _tool_choice,
    "metadata": _metadata,
    "model": _STRING,
    "temperature": _range(float, 0, 2),
    "top_p": _range(float, 0, 1),
    "max_output_tokens": _range(int, 16),
    "max_tool_calls": _range(int, 1),
    "top_logprobs": _range(int, 0, 20),
    "presence_penalty": _range(float, -2, 2),
    "frequency_penalty": _range(float, -2, 2),
    "parallel_tool_calls": _BOOL,
    "truncation": _one_of("auto", "disabled"),
    "text": _object(format=_text_format, verbosity=_one_of("low", "medium", "high")),
    "reasoning": _object(
        effort=_one_of(*REASONING_EFFORTS),
        summary=_one_of(*_REASONING_LEVELS),
        generate_summary=_one_of(*_REASONING_LEVELS),
        context=_one_of("auto", "current_turn", "all_turns"),
        mode=_STRING,
    ),
    "include": _list_of(_one_of(*INCLUDABLE), "a list of strings"),
    "stream_options": _object(include_obfuscation=_BOOL),
    "user": _STRING,
    "safety_identifier": _max_chars(64),
    "prompt_cache_key": _STRING,
    "prompt_cache_retention": _one_of("in_memory", "24h"),
    "prompt_cache_options": _object(mode=_one_of("implicit", "explicit"), ttl=_one_of("30m")),
    "service_tier": _one_of(*SERVICE_TIERS),
    "prompt": _prompt,
    "context_management": _context_management,
    "moderation": _moderation,
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
