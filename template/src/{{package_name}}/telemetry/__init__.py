"""Telemetry: traces and logs exported with OpenTelemetry, to Azure Monitor and/or OTLP.

Template-owned. Imported only when an exporter is configured (see hosting/tracing.py):

    APPLICATIONINSIGHTS_CONNECTION_STRING   Azure Monitor (the platform sets it when the
                                            project has Application Insights)
    OTEL_EXPORTER_OTLP_ENDPOINT             any OTLP/HTTP collector (also the _TRACES_ and
                                            _LOGS_ variants, _HEADERS, _TIMEOUT, _PROTOCOL)
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true
                                            put messages, tool arguments and results on spans

setup.py builds the exporters and installs the hooks; spans.py makes the spans the server
asks for (lean.py the response's own); content.py writes captured messages; flush.py
exports as responses end; logs.py sends log records to the same backends.
"""

from .setup import install

__all__ = ["install"]
