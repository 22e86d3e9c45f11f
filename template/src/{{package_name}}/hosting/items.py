"""Ids and the shapes of items: input items as stored, output items as produced."""

from __future__ import annotations

import os
import time
from typing import Any

from .errors import ProtocolError

ROLES = frozenset({"user", "assistant", "system", "developer"})
PHASES = frozenset({"commentary", "final_answer"})
IMAGE_DETAILS = frozenset({"low", "high", "auto", "original"})
ID_PREFIX = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
}


class _Entropy:
    """Random hex from the OS, fetched in blocks: one system call serves many ids."""

    def __init__(self) -> None:
        self._hex = ""
        self._at = 0

    def take(self, length: int) -> str:
        start = self._at
        if start + length > len(self._hex):
            self._hex = os.urandom(4096).hex()
            start = 0
        self._at = start + length
        return self._hex[start : start + length]


_entropy = _Entropy()


def new_id(prefix: str) -> str:
    """A unique id in Foundry's shape: prefix, 16 hex, "00", 32 hex."""
    entropy = _entropy.take(48)
    return f"{prefix}_{entropy[:16]}00{entropy[16:]}"


_PARTITION = _entropy.take(16)


def new_response_id() -> str:
    """A response id in Foundry's shape that sorts by creation time.

    The partition key is fixed for the process (as Foundry's is for a session) and the
    entropy starts with the time in microseconds: the store's index then grows at its
    end instead of touching random pages on every commit.
    """
    return f"caresp_{_PARTITION}00{time.time_ns() // 1000:014x}{_entropy.take(18)}"


def random_hex(length: int) -> str:
    """Random hex digits (request and session ids)."""
    return _entropy.take(length)


def input_item(item: Any, where: str) -> dict[str, Any]:
    """A checked input item, with an id (and `type` and `status` on messages).

    Types the Responses API documents are checked as it checks them. Other types pass to
    the agent unchanged: OpenAI and Foundry keep adding item types (`additional_tools`,
    `compaction_trigger`, Foundry's own tool calls in a replayed history), and refusing
    them refused valid conversations. The README says what the agents do with them.
    """
    if not isinstance(item, dict):
        raise _invalid(where, "an object")
    kind = item.get("type")
    if kind is None or kind == "message":
        return _message(item, where)
    if not isinstance(kind, str):
        raise _invalid(f"{where}.type", "a string")
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise _invalid(f"{where}.id", "a string")
    required = _REQUIRED.get(kind)
    if required:
        for name, types, expected in required:
            if not isinstance(item.get(name), types):
                raise _invalid(f"{where}.{name}", expected)
    if kind == "function_call_output" and isinstance(item["output"], list):
        _parts(item["output"], f"{where}.output")
    if item_id is None:
        item = {**item, "id": new_id(ID_PREFIX.get(kind, "item"))}
    return item


_STRING = (str, "a string")
_REQUIRED: dict[str, tuple[tuple[str, Any, str], ...]] = {
    "function_call": tuple((name, *_STRING) for name in ("call_id", "name", "arguments")),
    "function_call_output": (
        ("call_id", *_STRING),
        ("output", (str, list), "a string or a list of content parts"),
    ),
    "item_reference": (("id", *_STRING),),
    "reasoning": (("summary", list, "a list of summary parts"),),
    "additional_tools": (("tools", list, "a list of tools"),),
    "mcp_approval_response": (("approval_request_id", *_STRING), ("approve", bool, "a boolean")),
}
"""Fields a documented item type requires, beyond its type (OpenAI's OpenAPI schema)."""


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ROLES:
        raise ProtocolError(
            400,
            f"Invalid role {role!r}: use user, assistant, system or developer.",
            f"{where}.role",
            "invalid_value",
        )
    content = item.get("content")
    if isinstance(content, list):
        _parts(content, f"{where}.content")
    elif not isinstance(content, str):
        raise _invalid(f"{where}.content", "a string or a list of content parts")
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise _invalid(f"{where}.id", "a string")
    status = item.get("status") or "completed"
    if status not in ("in_progress", "completed", "incomplete"):
        raise _invalid(f"{where}.status", "in_progress, completed or incomplete", "invalid_value")
    stored = message(role, content, item_id, status)
    phase = item.get("phase")
    if phase is not None:
        if phase not in PHASES:
            raise _invalid(f"{where}.phase", "commentary or final_answer", "invalid_value")
        stored["phase"] = phase
    return stored


def _parts(parts: list[Any], where: str) -> None:
    """Content parts: each an object with a string type; documented types checked closely."""
    for index, part in enumerate(parts):
        at = f"{where}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            raise ProtocolError(
                400,
                "A content part needs a type: input_text, input_image, input_file, "
                "output_text or refusal.",
                f"{at}.type",
                "invalid_value",
            )
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _invalid(f"{at}.text", "a string")
        if kind == "refusal" and not isinstance(part.get("refusal"), str):
            raise _invalid(f"{at}.refusal", "a string")
        if kind in ("input_image", "input_file"):
            for name in ("image_url", "file_id", "file_data", "file_url", "filename"):
                if part.get(name) is not None and not isinstance(part[name], str):
                    raise _invalid(f"{at}.{name}", "a string")
            detail = part.get("detail")
            if kind == "input_image" and detail is not None and detail not in IMAGE_DETAILS:
                raise _invalid(f"{at}.detail", "low, high, auto or original", "invalid_value")


def _invalid(param: str, expected: str, code: str = "invalid_type") -> ProtocolError:
    what = "Invalid value" if code == "invalid_value" else "Invalid type"
    return ProtocolError(400, f"{what} for '{param}': expected {expected}.", param, code)


def message(
    role: str, content: str | list[Any], item_id: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    """A message item as stored and given to agents (a new id unless it has one)."""
    return {
        "id": item_id or new_id("msg"),
        "type": "message",
        "role": role,
        "status": status,
        "content": content,
    }


def listed(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as `input_items` lists it: a message's string content becomes a part.

    Agents get messages as the client sent them; listings use the one shape clients parse.
    """
    content = item.get("content")
    if item.get("type") != "message" or not isinstance(content, str):
        return item
    part = text_part(content) if item["role"] == "assistant" else input_text(content)
    return {**item, "content": [part]}


def input_text(text: str) -> dict[str, Any]:
    """An `input_text` content part."""
    return {"type": "input_text", "text": text}


def text_part(text: str) -> dict[str, Any]:
    """An `output_text` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
