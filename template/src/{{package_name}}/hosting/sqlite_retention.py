"""Deleting stored responses past their retention: older than a cutoff, or past a count.

Deletes go a batch at a time through the store's write queue, so a long backlog (the
first start after retention was turned on) never holds the event loop for long. Rows of
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


def expire_some(db: sqlite3.Connection, cutoff: float, keep_count: int) -> int:
    """Delete up to EXPIRE_BATCH finished responses created before `cutoff` (0: none), then
    the oldest past the newest `keep_count` (0: no limit); how many were deleted."""
    deleted = db.execute(_BY_AGE, (cutoff,)).rowcount if cutoff else 0
    if keep_count and deleted < EXPIRE_BATCH:
        excess = db.execute("SELECT count(*) FROM responses").fetchone()[0] - keep_count
        if excess > 0:
            deleted += db.execute(_OLDEST, (min(excess, EXPIRE_BATCH - deleted),)).rowcount
    return deleted
