"""A stand-in OTLP/HTTP collector on 127.0.0.1: it reads each export and answers 200 at once.

The generated server exports its spans here in the "traces exported" rows, so the cost
measured is the server's (making, encoding and sending spans), not a collector's.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OtlpSink:
    """Use as a context manager; `url` is the OTEL_EXPORTER_OTLP_ENDPOINT to give a server."""

    def __init__(self) -> None:
        self.exports: dict[str, int] = {}
        """Requests received per path (/v1/traces, /v1/logs)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(sink: OtlpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector would

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            sink.exports[self.path] = sink.exports.get(self.path, 0) + 1
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    return Handler
