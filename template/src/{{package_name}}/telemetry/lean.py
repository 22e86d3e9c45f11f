"""The response span, made in a few microseconds instead of the SDK span's forty.

Every response makes one `invoke_agent` span. The SDK's `Tracer.start_span` checks each
attribute, takes locks and builds an object graph on the way: a fifth of what a request
costs the server. The attributes the server sets are strings and numbers it built itself,
so `LeanSpan` keeps them in a plain dict and, when it ends, hands the span processors the
`ReadableSpan` the SDK would. Ids, sampling (OTEL_TRACES_SAMPLER), resource and processors
are the SDK tracer's; the default sampler's decision (follow the parent, else sample) is
taken without the objects it makes, 3 us a span. What other code sets on the span
(`trace.get_current_span()`) is checked as the SDK checks it. Processors see the span when
it ends, not when it starts.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

SAMPLED = TraceFlags(TraceFlags.SAMPLED)
NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
UNSET = Status(StatusCode.UNSET)


def start_span(
    tracer: SdkTracer,
    scope: InstrumentationScope,
    name: str,
    context: Context,
    kind: SpanKind,
    attributes: dict[str, Any],
) -> trace.Span:
    """A span that starts now, child of the span in `context` if it has a valid one."""
    parent: SpanContext | None = trace.get_current_span(context).get_span_context()
    if parent is not None and parent.is_valid:
        trace_id = parent.trace_id
    else:
        parent = None
        trace_id = tracer.id_generator.generate_trace_id()
    if tracer.sampler is DEFAULT_ON:  # its decision, without the objects it makes for it
        recording = sampled = parent is None or parent.trace_flags.sampled
        trace_state = parent.trace_state if parent is not None else None
    else:
        result = tracer.sampler.should_sample(context, trace_id, name, kind, attributes)
        recording, sampled = result.decision.is_recording(), result.decision.is_sampled()
        trace_state = result.trace_state
        if result.attributes.keys() != attributes.keys():  # a sampler that adds or drops some
            attributes = dict(result.attributes)
    span_context = SpanContext(
        trace_id,
        tracer.id_generator.generate_span_id(),
        is_remote=False,
        trace_flags=SAMPLED if sampled else NOT_SAMPLED,
        trace_state=trace_state,
    )
    if not recording:
        return trace.NonRecordingSpan(span_context)
    return LeanSpan(tracer, scope, name, span_context, parent, kind, attributes)


class LeanSpan(trace.Span):
    """A recording span whose own attributes are a plain dict."""

    def __init__(
        self,
        tracer: SdkTracer,
        scope: InstrumentationScope,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> None:
        self.attributes = attributes
        """The server's own attributes: strings, numbers and tuples of them, never checked."""
        self._tracer = tracer
        self._scope = scope
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._start = time.time_ns()
        self._status = UNSET
        self._checked: BoundedAttributes | None = None
        self._events: list[Event] = []
        self._links: list[Link] = []
        self._ended = False

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._ended:
            return
        if self._checked is None:
            self._checked = BoundedAttributes(immutable=False)
        self._checked[key] = value

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if not self._ended:
            checked = BoundedAttributes(attributes=attributes)
            self._events.append(Event(name, checked, timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not self._ended and context.is_valid:
            self._links.append(Link(context, BoundedAttributes(attributes=attributes)))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended or self._status.status_code is StatusCode.OK:
            return  # as the SDK: OK is final
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        found = {
            "exception.type": kind.__qualname__
            if module in ("builtins", "")
            else f"{module}.{kind.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
            **(attributes or {}),
        }
        self.add_event("exception", found, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        attributes = self.attributes
        if self._checked:
            attributes = {**attributes, **self._checked}
        ended = EndedSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=self._tracer.resource,
            attributes=attributes,
            events=self._events,
            links=self._links,
            kind=self._kind,
            status=self._status,
            start_time=self._start,
            end_time=end_time or time.time_ns(),
            instrumentation_scope=self._scope,
        )
        self._tracer.span_processor.on_end(ended)

    def __repr__(self) -> str:
        return f"LeanSpan({self._name!r}, {self._context!r})"


class EndedSpan(ReadableSpan):
    """What a LeanSpan hands the span processors when it ends.

    Its dropped counts are plain zeros, where the SDK's properties test the type of each
    collection on every read (0.5 us a span in the exporter): a LeanSpan bounds neither
    its attributes nor its events nor its links, so it drops none.
    """

    dropped_attributes = 0
    dropped_events = 0
    dropped_links = 0
