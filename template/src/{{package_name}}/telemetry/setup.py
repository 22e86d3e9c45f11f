"""Build the exporters the environment asks for and install the tracing hooks.

Why each library: `opentelemetry-sdk` makes spans and log records (flush.py batches them);
`opentelemetry-exporter-otlp-proto-http` sends them to any OTLP collector over HTTP
(otlp_spans.py writes its span requests faster);
`azure-monitor-opentelemetry-exporter` (Microsoft's) sends them to Application Insights,
where the Foundry portal's Traces view reads them. Only OTLP over HTTP is supported (gRPC
would add grpcio); another OTEL_EXPORTER_OTLP_PROTOCOL is refused with a warning.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from ..hosting.manifest import Manifest
from .flush import BATCH, Flusher, LogOutbox, Outbox, SpanOutbox
from .logs import ExportHandler
from .spans import Enrich, Identity, OtelTracer

log = logging.getLogger(__name__)

CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CAPTURE_ON = ("true", "1", "span_only", "span_and_event")
OTLP_PROTOCOL = "http/protobuf"


def install(manifest: Manifest, env: Mapping[str, str]) -> OtelTracer:
    """Set up export to every configured backend; return the hooks that make the spans."""
    identity = Identity.from_env(manifest, env)
    resource = HashedResource(Resource.create(_service_name(identity, env)))
    capture = env.get(CAPTURE, "").strip().lower() in CAPTURE_ON
    # Each exporter's outbox is sent by the flusher's thread as responses end (flush.py).
    span_outboxes, log_outboxes, backends = _outboxes(env, capture)
    flusher = Flusher(span_outboxes + log_outboxes)
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(Enrich(identity))
    for outbox in span_outboxes:
        provider.add_span_processor(SpanOutbox(outbox, flusher))
    trace.set_tracer_provider(provider)  # spans other libraries make go the same way
    if log_outboxes:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for outbox in log_outboxes:
            logger_provider.add_log_record_processor(LogOutbox(outbox, flusher))
        logging.getLogger().addHandler(ExportHandler(logger_provider))
    description = " and ".join(backends) or "configured, but no exporter could start"
    if capture:
        description += ", with message content"
    tracer = OtelTracer(provider.get_tracer(__package__), identity, capture, flusher, description)
    atexit.register(tracer.close)  # also in `--reload` children, which never return to serve.py
    return tracer


class HashedResource(Resource):
    """A Resource that works out its hash once.

    The OTLP encoder groups spans by resource, hashing it for every span, and a
    Resource's hash is its attributes written as JSON: a tenth of the export thread's time.
    A Resource never changes, so one hash does.
    """

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def _service_name(identity: Identity, env: Mapping[str, str]) -> dict[str, str]:
    """The agent's name, unless the environment names the service (the platform does)."""
    if env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        return {}
    return {"service.name": identity.agent_name}


def _outboxes(
    env: Mapping[str, str], capture: bool
) -> tuple[list[Outbox], list[Outbox], list[str]]:
    """(span outboxes, log outboxes, what each backend is called in the start-up line)."""
    spans: list[Outbox] = []
    logs: list[Outbox] = []
    backends: list[str] = []
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if connection:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorTraceExporter,
        )

        try:
            spans.append(Outbox(AzureMonitorTraceExporter(connection_string=connection)))
            logs.append(Outbox(AzureMonitorLogExporter(connection_string=connection)))
            backends.append("Azure Monitor")
        except ValueError as error:
            log.warning(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is not usable (%s); copy it again "
                "from the Application Insights resource",
                error,
            )
    for signal, outboxes in (("TRACES", spans), ("LOGS", logs)):
        endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        if not endpoint:
            continue
        protocol = (
            env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or OTLP_PROTOCOL
        ).strip()
        if protocol != OTLP_PROTOCOL:
            log.warning(
                "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported, %s are not sent over OTLP; "
                "use %s (a collector's port 4318)",
                protocol,
                signal.lower(),
                OTLP_PROTOCOL,
            )
            continue
        outboxes.append(_otlp_outbox(signal, capture))
        backend = f"OTLP {endpoint}"
        if backend not in backends:
            backends.append(backend)
    return spans, logs, backends


def _otlp_outbox(signal: str, capture: bool) -> Outbox:
    """The OTLP/HTTP exporter of one signal (it reads its endpoint, headers and timeout).

    Spans go SPANS_PER_REQUEST at a time, or the SDK's 512 when they carry message content,
    which can make one span megabytes.
    """
    if signal == "TRACES":
        from .otlp_spans import SPANS_PER_REQUEST, SpanExporter

        return Outbox(SpanExporter(), batch=BATCH if capture else SPANS_PER_REQUEST)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return Outbox(OTLPLogExporter())
