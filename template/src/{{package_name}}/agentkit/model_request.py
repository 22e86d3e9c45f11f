"""What the model-backed agent sends to the Responses API: the history, the tools, the options."""

from __future__ import annotations

from typing import Any

from ..hosting.turn import FunctionCall, Turn, message_text
from .function_tools import FunctionTool

MESSAGE_ROLES = ("user", "assistant", "system", "developer")
SENT_AS_GIVEN = (
    "text", "reasoning", "temperature", "top_p", "parallel_tool_calls", "truncation", "include",
    "top_logprobs", "service_tier", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention",
)  # fmt: skip
"""The request's options the model gets unchanged; `max_output_tokens` and `max_tool_calls`
are what is left of them (see model_agent.py)."""
MCP_APPROVAL_ITEMS = ("mcp_approval_request", "mcp_approval_response")


def model_input(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turn's history in the shape the model accepts from any source.

    Messages and function calls lose their ids: this server made them, and the model
    rejects ids it did not issue. A function call nobody answered is left out (the model
    refuses a call without its output). MCP approval requests and answers are kept as they
    are: the model issued those ids and matches each answer to its request. Other items
    (reasoning summaries, hosted tool traces) are left out; the answers they led to are in
    the messages.
    """
    answered = {item.get("call_id") for item in items if item.get("type") == "function_call_output"}
    history: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in MESSAGE_ROLES:
            content = item.get("content")
            if item["role"] == "assistant" or not isinstance(content, (str, list)):
                content = message_text(item)
            history.append({"role": item["role"], "content": content})
        elif kind == "function_call" and item.get("call_id") in answered:
            history.append(
                call_item(FunctionCall(item["name"], item["arguments"], item["call_id"]))
            )
        elif kind == "function_call_output":
            history.append(output_item(item["call_id"], item.get("output", "")))
        elif kind in MCP_APPROVAL_ITEMS:
            history.append(item)
    return history


def call_item(call: FunctionCall) -> dict[str, Any]:
    """A function call as a model input item."""
    return {
        "type": "function_call",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments,
    }


def output_item(call_id: str, output: Any) -> dict[str, Any]:
    """A function call's result as a model input item."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def hosted_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A manifest tool as the Responses API expects it, with the defaults filled in."""
    tool = dict(tool)
    if tool["type"] == "code_interpreter":
        tool.setdefault("container", {"type": "auto"})
    elif tool["type"] == "mcp":
        tool.setdefault("require_approval", "never")
    return tool


def model_tools(turn: Turn, functions: dict[str, FunctionTool]) -> list[dict[str, Any]]:
    """Hosted tools from azure.yaml, the tools/ functions, then the request's own tools.

    A function the request declares itself wins over a tools/ function of the same name:
    the client asked to run it.
    """
    manifest_tools = turn.manifest.hosted_tools if turn.manifest else []
    declared = {tool.get("name") for tool in turn.tools if tool.get("type") == "function"}
    return [
        *(hosted_tool(tool) for tool in manifest_tools),
        *(tool.spec for name, tool in functions.items() if name not in declared),
        *turn.tools,
    ]


def model_options(turn: Turn) -> dict[str, Any]:
    """The request's generation options that each model call gets as they are."""
    given = turn.generation_options()
    return {name: given[name] for name in SENT_AS_GIVEN if name in given}
