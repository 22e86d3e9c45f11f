"""Log records to the telemetry backends, with the trace and span they were logged in.

Every record at LOG_LEVEL goes out with the trace and span it was logged in, except the
access line (the response's span already records each request) and the exporters' own
records (exporting those would log again, without end).
"""

from __future__ import annotations

import logging

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import Logger, LoggerProvider

from ..hosting import access

SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
NOT_EXPORTED = (
    access.__name__,
    "opentelemetry",
    "azure.monitor",
    "azure.core",
    "urllib3",
    "requests",
)


class ExportHandler(logging.Handler):
    """A logging handler that emits each record through an OpenTelemetry logger provider."""

    def __init__(self, provider: LoggerProvider) -> None:
        super().__init__()
        self.provider = provider
        self._loggers: dict[str, Logger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(NOT_EXPORTED):
            return
        logger = self._loggers.get(record.name)
        if logger is None:
            logger = self._loggers[record.name] = self.provider.get_logger(record.name)
        logger.emit(
            timestamp=int(record.created * 1e9),
            severity_number=SEVERITY.get(record.levelno, SeverityNumber.UNSPECIFIED),
            severity_text=record.levelname,
            body=record.getMessage(),
            exception=record.exc_info[1] if record.exc_info else None,
        )
