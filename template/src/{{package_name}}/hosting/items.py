"""Ids and the shapes of items: input items as stored, output items as produced."""

from __future__ import annotations

import os
import time
from typing import Any

from .errors import ProtocolError

ROLES = frozenset({"user", "assistant", "system", "developer"})
PART_TYPES = frozenset({"input_text", "input_image", "input_file", "output_text", "refusal"})
ITEM_TYPES = frozenset(
    {
        "message", "function_call", "function_call_output", "reasoning", "item_reference",
        "file_search_call", "web_search_call", "computer_call", "computer_call_output",
        "code_interpreter_call", "image_generation_call", "local_shell_call",
        "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
        "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
        "mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output",
        "tool_search_call", "tool_search_output", "compaction", "program", "program_output",
    }
)  # fmt: skip
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
    """A checked input item, with an id (and `type` and `status` on messages)."""
    if not isinstance(item, dict):
        raise ProtocolError(400, f"'{where}' must be an object.", where, "invalid_type")
    kind = item.get("type", "message")
    if kind not in ITEM_TYPES:
        raise ProtocolError(
            400, f"Unsupported input item type '{kind}'.", f"{where}.type", "invalid_value"
        )
    if kind == "message":
        return _message(item, where)
    if kind == "function_call":
        _require_strings(item, where, "call_id", "name", "arguments")
    elif kind == "function_call_output":
        _require_strings(item, where, "call_id")
        if not isinstance(item.get("output"), str | list):
            raise ProtocolError(
                400, f"'{where}.output' must be a string or a list of parts.", f"{where}.output"
            )
    if "id" not in item:
        item = {"id": new_id(ID_PREFIX.get(kind, "item")), **item}
    return item


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
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") in PART_TYPES):
                raise ProtocolError(
                    400,
                    "A content part needs a type: input_text, input_image, input_file, "
                    "output_text or refusal.",
                    f"{where}.content[{index}].type",
                    "invalid_value",
                )
    elif not isinstance(content, str):
        raise ProtocolError(
            400, f"'{where}.content' must be a string or a list of parts.", f"{where}.content"
        )
    return message(role, content, item.get("id"), item.get("status", "completed"))


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


def _require_strings(item: dict[str, Any], where: str, *names: str) -> None:
    for name in names:
        if not isinstance(item.get(name), str):
            raise ProtocolError(400, f"'{where}.{name}' must be a string.", f"{where}.{name}")


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
