"""The server's log: one handler on stderr, lines for people or JSON lines for machines.

    LOG_LEVEL   debug, info (default), warning, error or critical
    LOG_FORMAT  text (default) or json; always json while telemetry export is on

A JSON line has `time` (UTC), `level`, `logger` and `message`, the structured fields a record
carries (the access line's `method`, `path`, `status`, `duration_ms`, `request_id`,
`response_id`), `trace_id` and `span_id` when telemetry is on, and `exception`.
Neither format writes message content: the server logs ids, never what users say.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from .codec import encode

FIELDS = ("method", "path", "status", "duration_ms", "request_id", "response_id")
"""Structured fields a record may carry (`extra=`), written as their own JSON keys."""
CORRELATION = ("trace_id", "span_id")
CHATTY = (
    "httpx2",
    "azure.identity",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.monitor.opentelemetry.exporter",
)
"""Libraries that log every request or step at info: kept at warning unless LOG_LEVEL=debug."""

console: logging.Handler | None = None
"""The stderr handler, once `configure` has run (telemetry adds trace ids to it)."""


def configure(level: str, json_lines: bool) -> logging.Handler:
    """Send every log record at `level` (a LOG_LEVEL name) and above to stderr."""
    global console
    # Nothing here writes the caller's file and line, thread or process: not working them
    # out takes about a third off each log call (the access line is one per request).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
        logging.logAsyncioTasks = False
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(JsonLines() if json_lines else Text())
    root = logging.getLogger()
    root.handlers = [console]
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
    return console


class _Clock:
    """A time to the millisecond; the date and seconds are formatted once per second."""

    def __init__(self, pattern: str, millis: str, utc: bool) -> None:
        self.pattern = pattern
        self.millis = millis
        self.convert = time.gmtime if utc else time.localtime
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(self.pattern, self.convert(second))
        return self.millis % (self._text, (created - second) * 1000)


class Text(logging.Formatter):
    """`2026-12-02 10:00:00.123 INFO my_agent.hosting.access: POST /responses 200 ...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._clock = _Clock("%Y-%m-%d %H:%M:%S", "%s.%03d", utc=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self._clock(record.created)


class JsonLines(logging.Formatter):
    """One JSON object per line, with the record's structured fields as keys."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S", "%s.%03dZ", utc=True)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._clock(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in FIELDS:
            if name in fields:
                line[name] = fields[name]
        for name in CORRELATION:
            if name in fields:
                line[name] = fields[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return encode(line).decode()
