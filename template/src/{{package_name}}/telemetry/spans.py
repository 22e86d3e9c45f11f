"""The spans: `invoke_agent` per response, `chat` per model call, `execute_tool` per tool run.

Attribute names follow the OpenTelemetry GenAI semantic conventions, plus the ones the
Foundry portal uses to list a trace under its agent and project (`microsoft.*`). Every
span, including those other libraries make while a response runs, carries the agent's
identity, the project and the session (`Enrich`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..hosting import tracing
from ..hosting.manifest import Manifest
from ..hosting.turn import FunctionCall, Turn
from . import lean
from .content import json_text, messages_json
from .flush import Flusher

AGENT_PROVIDER = "AzureAI Hosted Agents"
"""`gen_ai.provider.name` of the response span, as Microsoft's hosting library sets it."""
PROPAGATOR = TraceContextTextMapPropagator()
NO_PARENT = otel_context.Context()
FINISHED = ("completed", "failed", "incomplete", "cancelled")
INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}

_response_identity: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "response_identity", default=MappingProxyType({})
)
"""The session and conversation of the response being made in this task, for `Enrich`."""


@dataclass(frozen=True)
class Identity:
    """Who is answering: the agent and its Foundry project, as the platform names them."""

    agent_name: str
    agent_version: str
    agent_id: str
    project_id: str

    @classmethod
    def from_env(cls, manifest: Manifest, env: Mapping[str, str]) -> Identity:
        name = env.get("FOUNDRY_AGENT_NAME") or manifest.name
        version = env.get("FOUNDRY_AGENT_VERSION", "")
        # As Microsoft's host resolves it: the agent's identity, else name:version.
        agent_id = env.get("FOUNDRY_AGENT_INSTANCE_CLIENT_ID") or (
            f"{name}:{version}" if version else name
        )
        return cls(name, version, agent_id, env.get("FOUNDRY_PROJECT_ARM_ID", ""))

    def attributes(self) -> dict[str, str]:
        found = {
            "microsoft.foundry": "True",
            "gen_ai.agent.name": self.agent_name,
            "gen_ai.agent.version": self.agent_version,
            "gen_ai.agent.id": self.agent_id,
            "microsoft.foundry.project.id": self.project_id,
        }
        return {key: value for key, value in found.items() if value}


class Enrich(SpanProcessor):
    """Stamp the identity on spans that lack it (those other libraries make)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity.attributes()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if span.attributes and "gen_ai.agent.name" in span.attributes:
            return  # one of ours: it has everything already
        span.set_attributes({**self.identity, **_response_identity.get()})

    def on_end(self, span: ReadableSpan) -> None:
        pass


class OtelTracer(tracing.Tracer):
    """The hooks, making OpenTelemetry spans."""

    def __init__(
        self,
        tracer: SdkTracer,
        identity: Identity,
        capture: bool,
        flusher: Flusher | None = None,
        description: str = "on",
    ) -> None:
        self.tracer = tracer
        self.scope = InstrumentationScope(__package__)
        """The scope of `tracer` (made with this package's name), for the response spans."""
        self.response_name = f"invoke_agent {identity.agent_name}"
        self.identity = identity
        self.static = identity.attributes()
        self.capture = capture
        self.flusher = flusher
        self.description = description

    def response(
        self, response: dict[str, Any], turn: Turn, headers: Mapping[str, str]
    ) -> ResponseSpan:
        per_response = {"microsoft.session.id": turn.session_id}
        conversation = response.get("conversation")
        if conversation:
            per_response["gen_ai.conversation.id"] = conversation["id"]
        reference = response.get("agent_reference") or {}
        attributes = {
            **self.static,
            **per_response,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": AGENT_PROVIDER,
            "gen_ai.response.id": response["id"],
            "gen_ai.request.model": response["model"] or "",
        }
        if reference.get("version") and not self.identity.agent_version:
            # The platform names the version in the request when its environment does not.
            attributes["gen_ai.agent.version"] = reference["version"]
        request_id = headers.get("x-request-id")
        if request_id:
            attributes["request.id"] = request_id
        if self.capture:
            attributes["gen_ai.input.messages"] = messages_json(turn.items)
            if turn.instructions:
                attributes["gen_ai.system_instructions"] = turn.instructions
        # The caller's trace when it sent `traceparent`, else a new one (never whatever this
        # task had current before).
        parent = PROPAGATOR.extract(headers) if "traceparent" in headers else NO_PARENT
        span = lean.start_span(
            self.tracer, self.scope, self.response_name, parent, SpanKind.SERVER, attributes
        )
        # Current for the rest of this request's task (uvicorn runs each request in a task of
        # its own), so the agent's spans are its children; never detached, as the task ends
        # with the request. Background runs copy it into their task when it is created.
        otel_context.attach(trace.set_span_in_context(span, parent))
        _response_identity.set(per_response)
        if self.flusher is not None:
            self.flusher.response_started()
        return ResponseSpan(span, self)

    def model_call(
        self, model: str, base_url: str, messages: list[dict[str, Any]], instructions: str | None
    ) -> ModelCallSpan:
        address = urlsplit(base_url)
        host = address.hostname or ""
        provider = "azure.ai.openai" if host.endswith(".azure.com") else "openai"
        attributes: dict[str, Any] = {
            **self.static,
            **_response_identity.get(),
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "server.address": host,
        }
        if address.port:
            attributes["server.port"] = address.port
        if self.capture:
            attributes["gen_ai.input.messages"] = messages_json(messages)
            if instructions:
                attributes["gen_ai.system_instructions"] = instructions
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes)
        # Not made current: the call runs inside the agent's generator, which may be closed
        # from another context; the span's context goes out in the request's headers instead.
        headers: dict[str, str] = {}
        PROPAGATOR.inject(headers, trace.set_span_in_context(span))
        return ModelCallSpan(span, headers, self.capture)

    def tool_call(self, call: FunctionCall) -> ToolSpan:
        attributes = {
            **self.static,
            **_response_identity.get(),
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.call_id,
            "gen_ai.tool.type": "function",
        }
        if self.capture:
            attributes["gen_ai.tool.call.arguments"] = call.arguments
        span = self.tracer.start_span(f"execute_tool {call.name}", attributes=attributes)
        return ToolSpan(span, self.capture)

    def trace_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        PROPAGATOR.inject(headers)
        return headers

    def trace_ids(self) -> tuple[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return format(context.trace_id, "032x"), format(context.span_id, "016x")

    def flush(self, timeout: float) -> None:
        if self.flusher is not None:
            self.flusher.flush(timeout)

    def close(self) -> None:
        if self.flusher is not None:
            self.flusher.close(timeout=3.0)


class ResponseSpan(tracing.ResponseTrace):
    """The `invoke_agent` span of one response."""

    def __init__(self, span: trace.Span, tracer: OtelTracer) -> None:
        self.span = span
        """A `LeanSpan`, or a non-recording one when the sampler leaves the trace out."""
        self.tracer = tracer
        self.ended = False

    def end(self, response: dict[str, Any]) -> None:
        if self.ended:  # a refused response's trace ends before its run is forgotten
            return
        self.ended = True
        span = self.span
        status = response["status"]
        if status not in FINISHED:  # the agent crashed before anything was sent
            status = "failed"
        ended: dict[str, Any] = {}
        usage = response.get("usage")
        if usage:
            ended["gen_ai.usage.input_tokens"] = usage["input_tokens"]
            ended["gen_ai.usage.output_tokens"] = usage["output_tokens"]
        if status != "completed":  # every attribute costs a little on every response
            ended["gen_ai.response.status"] = status
        if status == "failed":
            error = response.get("error") or {"code": "server_error", "message": "server error"}
            ended["error.type"] = error["code"]
            span.set_status(StatusCode.ERROR, error["message"])
        if self.tracer.capture and response.get("output"):
            ended["gen_ai.output.messages"] = messages_json(response["output"])
        if ended and isinstance(span, lean.LeanSpan):
            span.attributes.update(ended)  # the server's own: no checks needed
        span.end()
        if self.tracer.flusher is not None:
            self.tracer.flusher.response_ended()


class ModelCallSpan(tracing.ModelCallTrace):
    """The `chat` span of one model call."""

    def __init__(self, span: Span, headers: dict[str, str], capture: bool) -> None:
        self.span = span
        self.headers = headers
        self.capture = capture

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if isinstance(error, Exception):
            code = getattr(error, "code", None) or type(error).__name__
            self.span.set_attribute("error.type", code)
            if code != "cancelled":
                self.span.set_status(StatusCode.ERROR, str(error))
        self.span.end()

    def record(self, response: Any) -> None:
        span = self.span
        reason = _finish_reason(response)
        span.set_attributes(
            {
                "gen_ai.response.id": response.id,
                "gen_ai.response.model": response.model or "",
                "gen_ai.response.finish_reasons": (reason,),
            }
        )
        usage = response.usage
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            cached = getattr(usage.input_tokens_details, "cached_tokens", 0)
            if cached:
                span.set_attribute("gen_ai.usage.cache_read.input_tokens", cached)
        if self.capture and response.output:
            span.set_attribute("gen_ai.output.messages", messages_json(response.output, reason))


class ToolSpan(tracing.ToolTrace):
    """The `execute_tool` span of one function-tool run, current while the tool runs."""

    def __init__(self, span: Span, capture: bool) -> None:
        self.span = span
        self.capture = capture
        self._token: object = None

    def __enter__(self) -> ToolSpan:
        # Current, so the tool's own calls (trace_headers(), instrumented clients) nest in it;
        # the tool runs within this block in one task, so attach and detach pair up.
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        if isinstance(error, Exception):
            self.failed(type(error).__name__)
        self.span.end()

    def failed(self, error_type: str) -> None:
        self.span.set_attribute("error.type", error_type)
        self.span.set_status(StatusCode.ERROR)

    def returned(self, output: str) -> None:
        if self.capture:
            self.span.set_attribute("gen_ai.tool.call.result", json_text(output))


def _finish_reason(response: Any) -> str:
    """The semantic conventions' finish reason for a model Response."""
    if response.status == "completed":
        calls = any(item.type == "function_call" for item in response.output or [])
        return "tool_call" if calls else "stop"
    if response.status == "incomplete":
        details = response.incomplete_details
        return INCOMPLETE_REASONS.get(getattr(details, "reason", None) or "", "length")
    return "error"
