"""The server's log: one handler on stderr, lines for people or JSON lines for machines.

    LOG_LEVEL   debug, info (default), warning, error or critical
    LOG_FORMAT  text (default) or json; always json while telemetry export is on

A JSON line has `time` (UTC), `level`, `logger` and `message`, the structured fields a
record carries (the access line's `method`, `path`, `status`, `duration_ms`, `request_id`,
`response_id`), `trace_id` and `span_id` when telemetry is on, and `exception`.
Neither format writes message content: the server logs ids, never what users say.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from json.encoder import encode_basestring as _quoted
from typing import Any, TextIO

from . import tracing
from .codec import encode

FIELDS = ("method", "path", "status", "duration_ms", "request_id", "response_id")
"""The access line's fields, written as their own JSON keys (also from a record's `extra=`)."""
CHATTY = (
    "httpx2",
    "azure.identity",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.monitor.opentelemetry.exporter",
)
"""Libraries that log every request or step at info: kept at warning unless LOG_LEVEL=debug."""


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

    def line(self, created: float, level: str, name: str, message: str, values: Any) -> str:
        return f"{self._clock(created)} {level} {name}: {message}"


class JsonLines(logging.Formatter):
    """One JSON object per line, with the record's structured fields as keys."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S", "%s.%03dZ", utc=True)

    def format(self, record: logging.LogRecord) -> str:
        found = record.__dict__
        fields = {name: found[name] for name in FIELDS if name in found}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        fields: dict[str, Any] | tuple[Any, ...],
    ) -> str:
        if isinstance(fields, tuple):  # an access line's values, in the order of FIELDS
            return self._access(created, level, name, message, fields)
        entry = {
            "time": self._clock(created),
            "level": level,
            "logger": name,
            "message": message,
            **fields,
        }
        ids = tracing.tracer.trace_ids()
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        return encode(entry).decode()

    def _access(
        self, created: float, level: str, name: str, message: str, values: tuple[Any, ...]
    ) -> str:
        """The line `line` would make of an access line's values, in half the time: no dict
        for orjson. `_quoted` writes a string as orjson does (every code point compared); the
        status is an int and the duration a float, both the server's own.
        """
        method, path, status, duration, request_id, response_id = values
        text = (
            f'{{"time":"{self._clock(created)}","level":{_quoted(level)},'
            f'"logger":{_quoted(name)},"message":{_quoted(message)},'
            f'"method":{_quoted(method)},"path":{_quoted(path)},"status":{status:d},'
            f'"duration_ms":{duration!r},"request_id":{_quoted(request_id)},'
            f'"response_id":{_quoted(response_id)}'
        )
        ids = tracing.tracer.trace_ids()
        return f'{text},"trace_id":"{ids[0]}","span_id":"{ids[1]}"}}' if ids else text + "}"


class _Lines:
    """Lines written once per turn of the event loop: one system call for many requests."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending: list[str] = []

    def add(self, line: str) -> None:
        if not self.pending:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: write it now
                self.stream.write(line + "\n")
                return
        self.pending.append(line)

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()


_formatter: Text | JsonLines = Text()
_lines = _Lines(sys.stderr)


def configure(level: str, json_lines: bool) -> None:
    """Send every log record at `level` (a LOG_LEVEL name) and above to stderr."""
    global _formatter, _lines
    # Nothing here writes the caller's file and line, thread or process: not working them
    # out takes about a third off each log call.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
        logging.logAsyncioTasks = False
    _formatter = JsonLines() if json_lines else Text()
    _lines = _Lines(sys.stderr)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_formatter)
    root = logging.getLogger()
    root.handlers = [console]
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)


def access_line(logger: logging.Logger, level: int, message: str, values: tuple[Any, ...]) -> None:
    """Write an access line (`values` in the order of FIELDS) the way the console writes
    records, batched with the other lines of this turn of the event loop. A log record
    would cost several times more, once per request.
    """
    if logger.isEnabledFor(level):
        name = "INFO" if level == logging.INFO else logging.getLevelName(level)
        _lines.add(_formatter.line(time.time(), name, logger.name, message, values))
