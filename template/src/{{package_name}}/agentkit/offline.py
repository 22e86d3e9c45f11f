"""The offline agent: deterministic, no network, so the server runs anywhere.

It echoes the turn: the user's text, how much history came with it and the tools it
has. Ask it to `call <tool>` (optionally followed by a JSON object of arguments) and
it calls that function tool: a tools/ function runs here and its output is shown; a
function the request declared is returned to the caller, and the caller's
`function_call_output` is echoed on the next turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..hosting.turn import FunctionCall, FunctionCallOutput, Output, Turn
from .agent_settings import tool_timeout
from .function_tools import load_tools

_CALL = re.compile(r"\bcall\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


async def offline_agent(turn: Turn) -> AsyncIterator[Output]:
    """Echo the turn back, and run a function tool when asked to."""
    last = turn.items[-1] if turn.items else {}
    if last.get("type") == "function_call_output":
        yield f"(offline) The tool returned: {last.get('output', '')}"
        return
    earlier = sum(1 for item in turn.items if item.get("type", "message") == "message") - 1
    text = turn.user_text
    for index, word in enumerate(_words(f"(offline) You said: {text}")):
        yield word if index == 0 else " " + word
    yield f"\nEarlier messages: {max(earlier, 0)}."
    yield f"\nTools: {', '.join(_tool_names(turn)) or 'none'}."
    call = _requested_call(turn, text)
    if call is None:
        return
    yield call
    if call.name in _declared(turn):
        return  # the caller runs its own function and sends the output back
    output = await load_tools()[call.name].run(call, tool_timeout())
    yield FunctionCallOutput(call.call_id, output)
    yield f"\n{call.name} returned: {output}"


def _words(text: str) -> Iterator[str]:
    """`text.split(" ")`, one word at a time: splitting 4 MiB at once held the loop 0.1 s."""
    start = 0
    while (end := text.find(" ", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _tool_names(turn: Turn) -> list[str]:
    manifest_tools = turn.manifest.tools if turn.manifest else []
    names = [
        tool.get("name") or tool.get("server_label") or tool["type"] for tool in manifest_tools
    ]
    names += [name for name in load_tools() if name not in names]
    return names + [tool.get("name") or tool["type"] for tool in turn.tools]


def _requested_call(turn: Turn, text: str) -> FunctionCall | None:
    """The function call `text` asks for with `call <name> {json}`, if it names a tool."""
    for match in _CALL.finditer(text):
        name = match[1]
        if name in _declared(turn) or name in load_tools():
            return FunctionCall(name, json.dumps(_json_object_after(text, match.end())))
    return None


def _declared(turn: Turn) -> set[str]:
    """The functions the request itself declares: the caller runs those."""
    return {tool.get("name", "") for tool in turn.tools if tool.get("type") == "function"}


def _json_object_after(text: str, start: int) -> dict[str, Any]:
    brace = text.find("{", start)
    if brace < 0:
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(text, brace)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
