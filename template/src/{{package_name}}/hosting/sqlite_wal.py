"""Keeping the SQLite store's write-ahead log (WAL) small, off the event loop.

Copying the WAL back into the database (a checkpoint) is the one slow step, about
10 ms per 1,000 pages: done on the event loop it stalled every request in flight, so
a thread does it (`Checkpointer`). The WAL starts over at the first commit after a
checkpoint that copied everything; under steady load, commits land during every
checkpoint, so once the WAL is past `WAL_PAGES` the loop copies the pages written
meanwhile itself. Few pages, but that pass stalls the loop for a time that grows with
the WAL (about 5 ms at 8 MB, 12 ms at 32 MB, measured under load), so the WAL is kept small.

Checkpoints follow the bytes written as well as the rows: a few large responses fill the
WAL as fast as thousands of short ones. When the WAL starts over it is cut back to
`WAL_LIMIT_BYTES` (SQLite's `journal_size_limit`), so one large response does not leave a
large file behind.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

WAL_PAGES = 2048
"""The WAL size (8 MB) past which the loop makes sure the next commit restarts it.

Under sustained load the loop's pass comes once per WAL_PAGES written: at 32 MB it came
four times less often but stalled for 12 ms, and p99.9 latency was twice as long.
"""

WAL_LIMIT_BYTES = 16 * 1024 * 1024
"""The size the WAL file is cut back to when it starts over."""


class Checkpointer:
    """A thread that copies the WAL into the database, off the event loop.

    It checkpoints after every `EVERY` rows or `EVERY_BYTES` bytes written, then has the
    loop call `done` with the number of pages in the WAL.
    """

    EVERY = 1024
    """Rows between checkpoints: about 600 pages, some 6 ms of copying on the thread.

    Each checkpoint also costs an fsync: every 256 rows cost 7 us more CPU per request.
    """

    EVERY_BYTES = 4 * 1024 * 1024
    """Bytes of rows between checkpoints, for rows far larger than the usual."""

    def __init__(self, path: Path, done: Callable[[int], None]) -> None:
        self.path = path
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._rows = 0
        self._bytes = 0
        self._busy = False
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def written(self, rows: int, size: int) -> None:
        """Count committed rows and their bytes; wake the thread when enough piled up."""
        self._rows += rows
        self._bytes += size
        if (self._rows >= self.EVERY or self._bytes >= self.EVERY_BYTES) and not self._busy:
            self._rows = self._bytes = 0
            if self._thread.is_alive():
                self._busy = True
                self._wanted.set()
            else:  # it could not open the database: checkpoint on the loop instead
                self._done(WAL_PAGES)

    def stop(self) -> None:
        """End the thread (blocking: run it in an executor)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as failure:
            log.warning("checkpoints of %s run on the event loop: %s", self.path, failure)
            return
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                pages = checkpoint(db, self.path)
                try:
                    self._loop.call_soon_threadsafe(self._finished, pages)
                except RuntimeError:  # the loop closed: the server is stopping
                    return
        finally:
            db.close()

    def _finished(self, pages: int) -> None:
        self._busy = False
        if not self._stopping:
            self._done(pages)


def checkpoint(db: sqlite3.Connection, path: Path) -> int:
    """Copy what it can of the WAL into the database now; the pages the WAL held.

    A checkpoint already running elsewhere is not a problem: this one is just skipped.
    """
    try:
        return db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    except sqlite3.OperationalError as failure:
        if "locked" not in str(failure) and "busy" not in str(failure):
            log.warning("could not checkpoint %s: %s", path, failure)
    except sqlite3.Error as failure:
        log.warning("could not checkpoint %s: %s", path, failure)
    return 0
