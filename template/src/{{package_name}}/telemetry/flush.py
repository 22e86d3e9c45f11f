"""Export as responses end, on a thread of its own, so no reply waits for it.

The platform may freeze the sandbox right after a reply, so a batch processor's timer
(5 s) would lose spans. Here every exporter has an `Outbox` that holds what waits for it,
and one thread sends them all:

- when a response ends and no other is running nor starts within GRACE (the moment after
  which a sandbox may be frozen), at once;
- while responses keep coming, at most once per PAUSE, with everything that ended in the
  meantime. Under load that makes one export per PAUSE instead of one per response: an
  export is an HTTP request (about a millisecond of CPU), and per response they halved the
  server's throughput. The SDK's `force_flush` would not do: it exports until its queue is
  empty, which under load it never is, so it sent a request for every few spans;
- a log record asks for a pass within PAUSE; another library's span goes with the next
  pass, at the latest after IDLE seconds.

A slow collector delays only this thread (each exporter bounds its own requests, OTLP and
Azure Monitor at 10 s); while it is behind, an outbox keeps the newest QUEUE items and
drops the oldest, never delaying a reply.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

log = logging.getLogger(__name__)

PAUSE = 0.2
"""Seconds between two passes while responses keep coming."""
GRACE = 0.005
"""Seconds without a new response after which the server counts as idle."""
IDLE = 5.0
"""Seconds at most before what ended outside a response is sent."""
QUEUE = 2048
"""Items an outbox holds at most (the SDK's batch processors hold as many)."""
BATCH = 512
"""Items per export request at most (the SDK's batch processors send as many)."""


class Exporter(Protocol):
    def export(self, batch: Sequence[Any], /) -> Any: ...

    def shutdown(self) -> None: ...


class Outbox:
    """What waits for one exporter: the newest QUEUE items, sent `batch` at a time."""

    def __init__(self, exporter: Exporter, batch: int = BATCH) -> None:
        self.exporter = exporter
        self.batch = batch
        self.dropped = 0
        self._items: deque[Any] = deque(maxlen=QUEUE)
        self._sending = threading.Lock()

    def add(self, item: Any) -> None:
        if len(self._items) == QUEUE:
            self.dropped += 1
        self._items.append(item)

    def send(self) -> None:
        """Export what is held now (not what arrives meanwhile: that is the next pass's)."""
        with self._sending:
            held = len(self._items)
            while held:  # only this method takes items out, so `held` are there
                batch = [self._items.popleft() for _ in range(min(held, self.batch))]
                held -= len(batch)
                try:
                    self.exporter.export(batch)
                except Exception:  # the exporters log their own failures; keep going
                    log.debug("export failed", exc_info=True)
            dropped, self.dropped = self.dropped, 0
        if dropped:
            log.warning(
                "telemetry: %d items dropped, the collector is slower than the server; "
                "check its address and load",
                dropped,
            )


class Flusher:
    """One daemon thread that sends every outbox when asked (`wake`), or every IDLE s."""

    def __init__(self, outboxes: Sequence[Outbox]) -> None:
        self.outboxes = outboxes
        self.running = 0
        """Responses started and not ended yet (counted on the event loop's thread)."""
        self.started = 0
        """Responses started since the process began."""
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry-flush", daemon=True)
        self._thread.start()

    def response_started(self) -> None:
        self.running += 1
        self.started += 1

    def response_ended(self) -> None:
        """Ask for a pass: within PAUSE, or at once if no other response is running."""
        self.running -= 1
        if not self.running and not self._idle.is_set():  # an Event locks only when unset
            self._idle.set()
        self.wake()

    def wake(self) -> None:
        """Ask for a pass within PAUSE. Returns at once."""
        if not self._wanted.is_set():
            self._wanted.set()

    def _run(self) -> None:
        # Nothing the exporters do (their HTTP requests) makes spans of its own.
        otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            self._wanted.wait(IDLE)
            self._wanted.clear()
            self._idle.clear()  # this pass sends what ended before it
            self._send()
            self._pause()

    def _pause(self) -> None:
        """Wait PAUSE, or until the server is idle: no response running, none new for GRACE."""
        deadline = time.monotonic() + PAUSE
        while (left := deadline - time.monotonic()) > 0 and self._idle.wait(left):
            self._idle.clear()
            started = self.started
            time.sleep(GRACE)
            if self.started == started and not self.running:
                return
            # Busy: look again a little later, not after every response (each look takes
            # the interpreter lock from the event loop).
            time.sleep(min(4 * GRACE, max(0.0, deadline - time.monotonic())))

    def _send(self) -> None:
        for outbox in self.outboxes:
            outbox.send()

    def flush(self, timeout: float) -> None:
        """Send now, waiting at most `timeout` seconds (the sending goes on after that)."""
        self._join(self._send, "telemetry-flush-now", timeout)

    def close(self, timeout: float) -> None:
        """Send what is held and shut the exporters down, waiting at most `timeout` seconds."""
        self._join(self._shutdown, "telemetry-close", timeout)

    def _shutdown(self) -> None:
        self._send()
        for outbox in self.outboxes:
            outbox.exporter.shutdown()

    @staticmethod
    def _join(work: Any, name: str, timeout: float) -> None:
        started = time.monotonic()
        thread = threading.Thread(target=work, name=name, daemon=True)
        thread.start()
        thread.join(max(0.0, timeout - (time.monotonic() - started)))


class SpanOutbox(SpanProcessor):
    """Put each sampled span that ends into an outbox."""

    def __init__(self, outbox: Outbox, flusher: Flusher) -> None:
        self.outbox = outbox
        self.flusher = flusher

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if span.context.trace_flags.sampled:
            self.outbox.add(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flusher.flush(timeout_millis / 1000)
        return True


class LogOutbox(LogRecordProcessor):
    """Put each log record into an outbox and ask for a pass."""

    def __init__(self, outbox: Outbox, flusher: Flusher) -> None:
        self.outbox = outbox
        self.flusher = flusher

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = copy.copy(log_record.log_record)
        record.context = otel_context.Context()  # the record keeps its ids, not the context
        self.outbox.add(
            ReadableLogRecord(
                log_record=record,
                resource=log_record.resource,
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )
        self.flusher.wake()

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flusher.flush(timeout_millis / 1000)
        return True
