"""Deleting stored responses past their retention: older than a cutoff, or past a count.

Deletes go a batch at a time through the store's write queue, so a long backlog (the
first start after retention was turned on) never holds the event loop for long; the rows
are counted once per pass, on the reader thread. Rows of
responses still running are never deleted, and rows whose creation time is unknown (0)
are never deleted by age, only by count, oldest first.
"""

from __future__ import annotations

import sqlite3

EXPIRE_BATCH = 200
"""Responses deleted per transaction."""

_FINISHED = "status NOT IN ('queued', 'in_progress')"
_BY_AGE = (
    "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses"
    f" WHERE created_at BETWEEN 1 AND ? AND {_FINISHED} LIMIT {EXPIRE_BATCH})"
)
_OLDEST = (
    "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses"
    f" WHERE {_FINISHED} ORDER BY created_at LIMIT ?)"
)


def expire_some(db: sqlite3.Connection, cutoff: float, oldest: int) -> int:
    """Delete up to EXPIRE_BATCH finished responses: created before `cutoff` (0: none), or
    else the `oldest` first (0: none); how many were deleted."""
    if cutoff:
        return db.execute(_BY_AGE, (cutoff,)).rowcount
    return db.execute(_OLDEST, (min(oldest, EXPIRE_BATCH),)).rowcount if oldest > 0 else 0
