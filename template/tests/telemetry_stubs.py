"""Local stand-ins for the telemetry backends, on 127.0.0.1: an OTLP/HTTP receiver and the
Application Insights ingestion endpoint. Each records what it receives, decoded.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

QUIET_AZURE_MONITOR = {
    # The exporter's own usage reports and remote configuration go to Microsoft's endpoints,
    # which tests must not call.
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
}


class Stub:
    """An HTTP server on a free port that records what is POSTed to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.delay = 0.0
        """Seconds to wait before answering (a slow collector)."""
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Stub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request; subclasses decode and answer."""
        return 200, b"", "application/x-protobuf"

    def record(self, path: str, body: bytes) -> None:
        with self._changed:
            self.received.append((path, body))
            self._changed.notify_all()

    def wait_for(self, found: Callable[[], list[Any]], timeout: float = 10.0) -> list[Any]:
        """Wait until `found()` is non-empty; return it (empty after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := found()) and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
        return result


class OtlpReceiver(Stub):
    """OTLP/HTTP: `POST /v1/traces` and `/v1/logs` with protobuf bodies."""

    def spans(self) -> list[dict[str, Any]]:
        """Every span received: name, kind, ids (hex), attributes, status code."""
        found = []
        for path, body in list(self.received):
            if path != "/v1/traces":
                continue
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = _attributes(resource.resource.attributes).get("service.name")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        found.append(
                            {
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "attributes": _attributes(span.attributes),
                                "status": span.status.code,
                                "service": service,
                            }
                        )
        return found

    def logs(self) -> list[dict[str, Any]]:
        """Every log record received: body, severity, trace and span ids (hex)."""
        found = []
        for path, body in list(self.received):
            if path != "/v1/logs":
                continue
            request = ExportLogsServiceRequest.FromString(body)
            for resource in request.resource_logs:
                for scope in resource.scope_logs:
                    for record in scope.log_records:
                        found.append(
                            {
                                "body": record.body.string_value,
                                "severity": record.severity_text,
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                            }
                        )
        return found


class IngestionEndpoint(Stub):
    """Application Insights' ingestion: `POST .../track` with a JSON list of envelopes."""

    @property
    def connection_string(self) -> str:
        key = "00000000-0000-0000-0000-000000000000"
        return f"InstrumentationKey={key};IngestionEndpoint={self.url}/"

    def answer(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        count = len(self.envelopes_in(body))
        reply = {"itemsReceived": count, "itemsAccepted": count, "errors": []}
        return 200, json.dumps(reply).encode(), "application/json"

    @staticmethod
    def envelopes_in(body: bytes) -> list[dict[str, Any]]:
        text = body.decode()
        return (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines()]
        )

    def envelopes(self, kind: str) -> list[dict[str, Any]]:
        """Every envelope of `kind` received, e.g. "RequestData", "RemoteDependencyData"."""
        return [
            envelope
            for path, body in list(self.received)
            if path.endswith("/track")
            for envelope in self.envelopes_in(body)
            if envelope["data"]["baseType"] == kind
        ]


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            found[pair.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            found[pair.key] = getattr(value, kind) if kind else None
    return found


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector would

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            path = self.path.split("?")[0]
            if stub.delay:
                time.sleep(stub.delay)
            status, reply, kind = stub.answer(path, body)
            stub.record(path, body)
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            with contextlib.suppress(OSError):  # an exporter that gave up waiting
                self.wfile.write(reply)

    return Handler
