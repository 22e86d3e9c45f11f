"""The seam between the server and your agent.

The server gives an agent one `Turn`; the agent yields what it says. Yield plain
strings for text (each one is streamed as a delta as soon as it is yielded), or
`FunctionCall` / `Reasoning` for structured output, or a complete output item as a
dict for full control. Raise `AgentError` to fail the response with a message, or
`Incomplete` to end it early (e.g. at `turn.max_output_tokens`). The
server turns all of it into RESPONSES protocol items and events; agents never see SSE
or sequence numbers.

    async def agent(turn: Turn) -> AsyncIterator[Output]:
        yield "You said: "
        yield turn.user_text
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .manifest import Manifest


@dataclass(frozen=True)
class FunctionCall:
    """A call of a function tool, returned to the caller (or run by the agent itself)."""

    name: str
    arguments: str = "{}"
    call_id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")

    @classmethod
    def of(cls, name: str, **arguments: Any) -> FunctionCall:
        """Build a call from keyword arguments."""
        return cls(name=name, arguments=json.dumps(arguments))


@dataclass(frozen=True)
class FunctionCallOutput:
    """The result of a function call the agent ran itself, shown in the history."""

    call_id: str
    output: str


@dataclass(frozen=True)
class Reasoning:
    """A reasoning summary, shown to the caller as a reasoning item."""

    summary: str
    encrypted_content: str | None = None
    """The model's encrypted reasoning, when the request includes `reasoning.encrypted_content`."""


@dataclass(frozen=True)
class Usage:
    """Tokens a model call used; the Response's `usage` adds up every one yielded."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0


class AgentError(Exception):
    """A failure the caller should see: the response fails with this code and message.

    Prefer a code of OpenAI's `ResponseError` (`server_error`, `rate_limit_exceeded`,
    `invalid_prompt`, ...): strict clients check the code against that list. Any other
    exception fails the response with a generic message (details go to the log).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Incomplete(Exception):
    """Raise to end the response `incomplete`, keeping what was said so far.

    `reason` is OpenAI's: `max_output_tokens` or `content_filter`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Output = str | FunctionCall | FunctionCallOutput | Reasoning | Usage | dict[str, Any]
"""What an agent yields. A dict is a complete Responses output item, sent as is."""


@dataclass
class Turn:
    """One request to the agent, with everything it may need."""

    items: list[dict[str, Any]]
    """The whole conversation as Responses input items: prior turns' inputs and outputs
    (from `previous_response_id` or `conversation`), then this request's input."""
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Tools declared in the request (client-side function tools among them)."""
    tool_choice: Any = "auto"
    metadata: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    response_id: str = ""
    session_id: str = ""
    user_id: str | None = None
    """`x-agent-user-id`: the end user's partition key (protocol 2.0.0; None locally). One
    container serves many users: key anything you keep between turns by it."""
    foundry_call_id: str | None = None
    """`x-agent-foundry-call-id`: forward it unchanged on your own calls to Foundry."""
    manifest: Manifest | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the caller disconnects or cancels; stop work soon after."""

    # The request's generation options, as it gave them (None: not given, use the default).
    text: dict[str, Any] | None = None
    """`{"format": {"type": "text" | "json_object" | "json_schema", ...}, "verbosity": ...}`"""
    reasoning: dict[str, Any] | None = None
    """`{"effort": ..., "summary": ...}`"""
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    """Tokens the whole response may generate; raise `Incomplete("max_output_tokens")` at it."""
    max_tool_calls: int | None = None
    """Tool calls the agent may run for this response; further calls are to be ignored."""
    parallel_tool_calls: bool | None = None
    """False: run at most one tool call at a time."""
    truncation: str | None = None
    include: list[str] | None = None
    top_logprobs: int | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None

    def generation_options(self) -> dict[str, Any]:
        """The options the request gave, by their Responses API names, to pass to a model."""
        return {name: getattr(self, name) for name in OPTIONS if getattr(self, name) is not None}

    @property
    def user_text(self) -> str:
        """The text of the last user message (empty if there is none)."""
        for item in reversed(self.items):
            if item.get("type", "message") == "message" and item.get("role") == "user":
                return message_text(item)
        return ""


OPTIONS = (
    "text", "reasoning", "temperature", "top_p", "max_output_tokens", "max_tool_calls",
    "parallel_tool_calls", "truncation", "include", "top_logprobs", "service_tier",
    "safety_identifier", "prompt_cache_key", "prompt_cache_retention",
)  # fmt: skip
"""The Turn's generation options (the fields after `cancelled`)."""


def message_text(item: dict[str, Any]) -> str:
    """The text of a message item, whatever its content's shape."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(
        part.get("text", "")
        for part in parts
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
    )


Agent = Callable[[Turn], AsyncIterator[Output]]
"""An agent: an async generator function that takes a Turn and yields Output."""
