"""The tracing hooks: what the server and the agent kit tell telemetry, and the no-op default.

Three moments are traced: a response (`Tracer.response`, from its start until the run
ends), a model call (`Tracer.model_call`) and a function-tool run (`Tracer.tool_call`).
`tracer` does nothing until `start_telemetry` finds an exporter configured; only then is
the telemetry package (OpenTelemetry) imported, and it replaces `tracer` with one that
makes spans. Off, every hook returns a shared object whose methods do nothing.

Code that calls other services can carry the trace on with `trace_headers()`:

    headers = {"authorization": ..., **trace_headers()}
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manifest import Manifest
    from .turn import FunctionCall, Turn

log = logging.getLogger(__name__)

EXPORT_VARIABLES = (
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
"""Setting any of these turns telemetry export on."""

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class ResponseTrace:
    """One response's trace. This no-op is what every response gets while telemetry is off."""

    def end(self, response: dict[str, Any]) -> None:
        """The run is over: `response` holds its final status, error and usage."""


class ModelCallTrace:
    """One call to the model, used as `with tracer.model_call(...) as call:`."""

    headers: Mapping[str, str] = _NO_HEADERS
    """Trace context to send with the call (`traceparent`); empty while telemetry is off."""

    def __enter__(self) -> ModelCallTrace:
        return self

    def __exit__(self, *error: object) -> None:
        """The call ended; an exception escaping the block marks it failed (its `code`, if it
        has one, is the error type; `cancelled` is not a failure)."""

    def record(self, response: Any) -> None:
        """The model's final Response (an `openai` object): ids, status and token usage."""


class ToolTrace:
    """One function-tool run, used as `with tracer.tool_call(call) as run:`."""

    def __enter__(self) -> ToolTrace:
        return self

    def __exit__(self, *error: object) -> None:
        """The run ended."""

    def failed(self, error_type: str) -> None:
        """The tool failed (`timeout`, `invalid_arguments` or the exception's class name)."""

    def returned(self, output: str) -> None:
        """What the tool returned to the model."""


NO_TRACE = ResponseTrace()
"""The trace of every response while telemetry is off."""
_NO_MODEL_CALL = ModelCallTrace()
_NO_TOOL = ToolTrace()


class Tracer:
    """The hooks. This no-op default is replaced by the telemetry package when it is on."""

    description = "off"
    """What the start-up line says about telemetry."""

    def response(
        self, response: dict[str, Any], turn: Turn, headers: Mapping[str, str]
    ) -> ResponseTrace:
        """A response starts; `headers` may carry the caller's `traceparent`.

        The trace is made current for the rest of the calling task, so what the agent
        does (in that task or in tasks it starts) belongs to it.
        """
        return NO_TRACE

    def model_call(
        self, model: str, base_url: str, messages: list[dict[str, Any]], instructions: str | None
    ) -> ModelCallTrace:
        """A call to `model` at `base_url` with this input is about to be made."""
        return _NO_MODEL_CALL

    def tool_call(self, call: FunctionCall) -> ToolTrace:
        """A function tool is about to run for `call`."""
        return _NO_TOOL

    def trace_headers(self) -> dict[str, str]:
        """`traceparent` (and `tracestate`) of the current span, for an outbound call."""
        return {}

    def trace_ids(self) -> tuple[str, str] | None:
        """(trace id, span id) of the current span, in hex, for log lines; None when off."""
        return None

    def flush(self, timeout: float) -> None:
        """Export what is held now, waiting at most `timeout` seconds (before a snapshot)."""

    def close(self) -> None:
        """Export what is still held, within a few seconds; the process is about to exit."""


tracer = Tracer()
"""The hooks in use: call them as `tracing.tracer.<hook>(...)`, never bind the object."""


def trace_headers() -> dict[str, str]:
    """Headers that continue the current trace on an outbound call ({} while telemetry is off)."""
    return tracer.trace_headers()


def export_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when a variable asks for traces and logs to be exported."""
    env = os.environ if env is None else env
    return any(env.get(name, "").strip() for name in EXPORT_VARIABLES)


def start_telemetry(manifest: Manifest, env: Mapping[str, str] | None = None) -> None:
    """Import and install the telemetry package when export is configured; else nothing.

    Missing telemetry libraries are logged, not fatal: the agent still serves.
    """
    global tracer
    if not export_configured(env):
        return
    package = __package__.rpartition(".")[0]
    try:
        telemetry = importlib.import_module(f"{package}.telemetry")
    except ImportError as error:
        log.warning(
            "telemetry is configured but cannot load (%s); install it with "
            "pip install -e '.[telemetry]'",
            error,
        )
        return
    tracer = telemetry.install(manifest, os.environ if env is None else env)
