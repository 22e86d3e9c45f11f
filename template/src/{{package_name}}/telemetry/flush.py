"""Export as soon as a response ends, on a thread of its own, so no reply waits for it.

The platform may freeze the sandbox right after a reply, so waiting for the batch
processors' timer (5 s) loses spans. Each response's end wakes one thread that flushes the
providers at once; the responses that end while it works, or in the PAUSE after it, go in
its next pass. Under load that makes one export per PAUSE instead of one per response (an
export is an HTTP request, and per response they halved the server's throughput), while a
response that ends alone, the one after which a sandbox may be frozen, is exported at once.
A slow collector delays only this thread (each exporter bounds its own requests, OTLP and
Azure Monitor at 10 s); when it falls behind, the processors' queues drop the oldest
spans, never a reply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger(__name__)

PAUSE = 0.1
"""Seconds between two flushes."""


class Flushable(Protocol):
    def force_flush(self, timeout_millis: int = ...) -> bool: ...

    def shutdown(self) -> None: ...


class Flusher:
    """One daemon thread that flushes `providers` whenever `wake()` is called."""

    def __init__(self, providers: Sequence[Flushable]) -> None:
        self.providers = providers
        self._wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry-flush", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a flush; returns at once."""
        if not self._wanted.is_set():  # the lock is taken only when the thread sleeps
            self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            self._flush()
            time.sleep(PAUSE)

    def _flush(self) -> None:
        for provider in self.providers:
            try:
                provider.force_flush()
            except Exception:  # the exporters log their own failures; keep the thread alive
                log.debug("flush failed", exc_info=True)

    def flush(self, timeout: float) -> None:
        """Flush now, waiting at most `timeout` seconds (the flush goes on after that)."""
        now = threading.Thread(target=self._flush, name="telemetry-flush-now", daemon=True)
        now.start()
        now.join(timeout)

    def close(self, timeout: float) -> None:
        """Flush and shut the providers down, waiting at most `timeout` seconds."""
        last = threading.Thread(target=self._shutdown, name="telemetry-close", daemon=True)
        last.start()
        last.join(timeout)

    def _shutdown(self) -> None:
        for provider in self.providers:
            provider.shutdown()
