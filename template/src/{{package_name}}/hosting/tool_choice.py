"""`tool_choice`: which tools the agent is offered, and whether it had to call one."""

from __future__ import annotations

from typing import Any

from .errors import ProtocolError
from .turn import AgentError


def offered_tools(tools: list[dict[str, Any]], choice: Any) -> list[dict[str, Any]]:
    """The tools the agent may use under `choice`: none, all, or the chosen ones."""
    if choice not in ("auto", "none") and not tools:
        raise ProtocolError(400, "'tool_choice' needs 'tools' to choose from.", "tool_choice")
    if choice == "none":
        return []
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return [tool for tool in tools if tool.get("name") == choice.get("name")]
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("tools")
            allowed = allowed if isinstance(allowed, list) else []
            return [tool for tool in tools if any(_same_tool(tool, a) for a in allowed)]
    return tools


def check_honoured(choice: Any, output: list[dict[str, Any]]) -> None:
    """`required` (or a named function) means the agent must have called a tool."""
    required = choice == "required" or (
        isinstance(choice, dict)
        and (choice.get("type") == "function" or choice.get("mode") == "required")
    )
    if required and not any(item["type"] == "function_call" for item in output):
        raise AgentError(
            "tool_choice_not_honored", "tool_choice asked for a tool call; the agent made none."
        )


def _same_tool(tool: dict[str, Any], wanted: Any) -> bool:
    return isinstance(wanted, dict) and all(tool.get(key) == value for key, value in wanted.items())
