"""The model-backed agent: your Foundry model deployment, with its tools and yours.

Each turn streams one Responses API call to the model deployment with the hosted
tools from azure.yaml and the functions in tools/. When the model calls one of those
functions, the agent runs it here, shows the call and its output, and asks the model
again, up to MAX_TOOL_ROUNDS times. Functions the request itself declared are returned
to the caller instead, which runs them and continues with `function_call_output`.
The request's generation options go to every model call; `max_output_tokens` and
`max_tool_calls` hold for the whole turn, so each call gets what is left of them.
Settings: see agent_settings.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing
from typing import Any, TypeVar

from ..hosting import tracing
from ..hosting.turn import (
    AgentError,
    FunctionCall,
    FunctionCallOutput,
    Incomplete,
    Output,
    Reasoning,
    Turn,
    Usage,
)
from .agent_settings import ModelSettings, model_configured, tool_timeout
from .function_tools import TOOLS_PACKAGE, FunctionTool, load_tools
from .model_request import call_item, model_input, model_options, model_tools, output_item

__all__ = ["model_agent", "model_configured"]

T = TypeVar("T")
MIN_OUTPUT_TOKENS = 16
"""The least `max_output_tokens` a model call takes."""


class _Cancelled(Exception):
    """The caller cancelled the turn; stop quietly."""

    code = "cancelled"  # what a trace of the model call says ended it


class _Budget:
    """What is left of the turn's `max_output_tokens` and `max_tool_calls`."""

    def __init__(self, turn: Turn) -> None:
        self.tokens = turn.max_output_tokens
        self.tool_calls = turn.max_tool_calls
        self.one_call_at_a_time = turn.parallel_tool_calls is False

    def spend(self, output: Output) -> None:
        if isinstance(output, Usage) and self.tokens is not None:
            self.tokens -= output.output_tokens
        elif (
            self.tool_calls is not None
            and isinstance(output, dict)
            and str(output.get("type", "")).endswith("_call")  # a hosted tool ran
        ):
            self.tool_calls = max(self.tool_calls - 1, 0)

    def options(self) -> dict[str, Any]:
        """This call's share; Incomplete when no tokens are left for another call."""
        options: dict[str, Any] = {}
        if self.tokens is not None:
            if self.tokens < MIN_OUTPUT_TOKENS:
                raise Incomplete("max_output_tokens")
            options["max_output_tokens"] = self.tokens
        if self.tool_calls == 0:
            options["tool_choice"] = "none"  # further tool calls would be ignored anyway
        elif self.tool_calls is not None:
            options["max_tool_calls"] = self.tool_calls
        return options

    def allowed(self, calls: list[FunctionCall]) -> list[FunctionCall]:
        """The calls to act on; the rest are ignored, as the Responses API ignores them."""
        if self.one_call_at_a_time:
            calls = calls[:1]
        if self.tool_calls is not None:
            calls = calls[: self.tool_calls]
        return calls


async def model_agent(turn: Turn, tools_package: str = TOOLS_PACKAGE) -> AsyncIterator[Output]:
    """Answer the turn with the model, running the functions of `tools_package` (by default
    your tools/ folder) in a bounded loop."""
    settings = ModelSettings.from_env(turn.manifest)
    functions = load_tools(tools_package)
    client_side = {tool.get("name") for tool in turn.tools if tool.get("type") == "function"}
    history = model_input(turn.items)
    budget = _Budget(turn)
    try:
        for round_number in range(settings.max_tool_rounds):
            # A forced tool_choice ("required", a named function) holds for the first call
            # only; forcing it again after the tools ran would loop until MAX_TOOL_ROUNDS.
            options = {"tool_choice": turn.tool_choice if round_number == 0 else "auto"}
            options.update(budget.options())
            text, calls = "", []
            # aclosing: if the server stops listening, the model's stream closes right away.
            round_ = _model_round(turn, settings, functions, history, options)
            async with aclosing(round_) as outputs:
                async for output in outputs:
                    budget.spend(output)
                    if isinstance(output, FunctionCall):
                        calls.append(output)
                        continue
                    if isinstance(output, str):
                        text += output
                    yield output
            if text:
                history.append({"role": "assistant", "content": text})
            calls = budget.allowed(calls)
            if not calls:
                return
            for call in calls:
                yield call
                if call.name in client_side:
                    continue
                if budget.tool_calls is not None:
                    budget.tool_calls -= 1
                result = await _unless_cancelled(_run(call, functions), turn.cancelled)
                yield FunctionCallOutput(call.call_id, result)
                history += [call_item(call), output_item(call.call_id, result)]
            if any(call.name in client_side for call in calls):
                return  # the caller runs its own functions, then continues the conversation
    except _Cancelled:
        return
    raise AgentError(
        "tool_rounds_exhausted",
        f"The model still called tools after {settings.max_tool_rounds} rounds; "
        "raise MAX_TOOL_ROUNDS or make the tools' answers more conclusive",
    )


async def _run(call: FunctionCall, functions: dict[str, FunctionTool]) -> str:
    tool = functions.get(call.name)
    if tool is None:
        return f"error: there is no tool named {call.name}; use one of: {', '.join(functions)}"
    return await tool.run(call, tool_timeout())


async def _model_round(
    turn: Turn,
    settings: ModelSettings,
    functions: dict[str, FunctionTool],
    history: list[dict[str, Any]],
    round_options: dict[str, Any],
) -> AsyncIterator[Output]:
    """One streamed model call: text, reasoning and hosted tool items, then its function calls."""
    # Imported here, not at the top: the offline server never pays for openai and azure.
    from .model_client import client_for
    from .model_errors import MODEL_FAILURES, failed_response, model_error

    options = model_options(turn)
    tools = model_tools(turn, functions)
    if tools:
        options.update(round_options, tools=tools)
    else:  # tool options without tools are an error to the model
        options.pop("parallel_tool_calls", None)
        if "max_output_tokens" in round_options:
            options["max_output_tokens"] = round_options["max_output_tokens"]
    if turn.instructions:
        options["instructions"] = turn.instructions
    client = client_for(settings)
    stream = None
    with tracing.tracer.model_call(
        settings.deployment, settings.base_url, history, turn.instructions
    ) as call:
        headers = dict(call.headers)  # the trace context, when telemetry is on
        if turn.foundry_call_id:
            headers["x-agent-foundry-call-id"] = turn.foundry_call_id
        try:
            stream = await _unless_cancelled(
                client.responses.create(
                    model=settings.deployment,
                    input=history,
                    stream=True,
                    store=False,  # this server keeps the history; the model service need not
                    extra_headers=headers,
                    **options,
                ),
                turn.cancelled,
            )
            events = stream.__aiter__()
            while True:
                event = await _unless_cancelled(anext(events, None), turn.cancelled)
                if event is None:
                    return
                if event.type in ("response.output_text.delta", "response.refusal.delta"):
                    yield event.delta
                elif event.type == "response.output_item.done":
                    output = _finished_item(event.item)
                    if output is not None:
                        yield output
                elif event.type == "response.completed":
                    call.record(event.response)
                    if event.response.usage:
                        yield _usage(event.response.usage)
                elif event.type in ("response.failed", "response.incomplete"):
                    call.record(event.response)
                    raise failed_response(event.response, settings)
        except MODEL_FAILURES as error:
            raise model_error(error, settings, turn.response_id) from None
        finally:
            if stream is not None:
                await stream.close()


def _usage(usage: Any) -> Usage:
    """The model's token counts, details included where it sends them."""
    cached = getattr(usage.input_tokens_details, "cached_tokens", 0) or 0
    written = getattr(usage.input_tokens_details, "cache_write_tokens", 0) or 0
    reasoning = getattr(usage.output_tokens_details, "reasoning_tokens", 0) or 0
    return Usage(usage.input_tokens, usage.output_tokens, cached, reasoning, written)


def _finished_item(item: Any) -> Output | None:
    """What a finished model output item becomes (messages were streamed as text already)."""
    if item.type == "function_call":
        return FunctionCall(item.name, item.arguments, item.call_id)
    if item.type == "reasoning":
        summary = "\n\n".join(part.text for part in item.summary or [])
        encrypted = getattr(item, "encrypted_content", None)
        return Reasoning(summary, encrypted) if summary or encrypted else None
    if item.type == "message":
        return None
    return item.to_dict()  # a hosted tool's trace (code interpreter, file search, MCP)


async def _unless_cancelled(work: Awaitable[T], cancelled: asyncio.Event) -> T:
    """Await `work`, but stop it and raise _Cancelled as soon as `cancelled` is set."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancelled.wait())
    try:
        done, _ = await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        await asyncio.wait((task,))  # let the cancelled work unwind before the caller goes on
        raise _Cancelled
    return task.result()
