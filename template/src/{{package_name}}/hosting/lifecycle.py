"""The platform's lifecycle hooks for memory snapshots.

With `enable_memory_snapshot`, the platform snapshots a warm process and restores it into
sessions later. Before the snapshot it calls `POST /_agent/before-snapshot`: the store
makes everything acknowledged durable. After a restore it calls `POST /_agent/after-restore`
with the session the process now serves; its environment overrides are applied (the
session id changes) and the process stays bound to that session: a restore into another
one is refused with 409 `session_mismatch`. Both are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .codec import DecodeError, decode
from .errors import ProtocolError
from .sessions import Sessions, well_formed
from .store import Store

log = logging.getLogger(__name__)

SESSION_VARIABLE = "FOUNDRY_AGENT_SESSION_ID"
OK = {"status": "ok"}


@dataclass(frozen=True)
class Restore:
    """The checked body of an after-restore call."""

    session_id: str
    restore_id: str
    environment: dict[str, str]


@dataclass
class Lifecycle:
    """What the hooks remember: the session the process is bound to, the restores done."""

    store: Store
    sessions: Sessions
    bound_session_id: str | None = None
    restores: set[str] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def before_snapshot(self, request: Request) -> dict[str, Any]:
        await _json_object(request, "before_snapshot")
        async with self._lock:
            await self.store.flush()
        return OK

    async def after_restore(self, request: Request) -> dict[str, Any]:
        restore = _restore(await _json_object(request, "after_restore"))
        async with self._lock:
            bound = self.bound_session_id
            if bound is not None and bound != restore.session_id:
                raise ProtocolError(
                    409,
                    "The restored process is already assigned to another session.",
                    code="session_mismatch",
                    type="conflict",
                )
            if restore.restore_id in self.restores:
                return OK
            self.bound_session_id = restore.session_id
            os.environ.update(restore.environment)
            os.environ[SESSION_VARIABLE] = restore.session_id
            self.sessions.adopt(restore.session_id)
            self.restores.add(restore.restore_id)
        log.info("restored into session %s (restore %s)", restore.session_id, restore.restore_id)
        return OK


async def _json_object(request: Request, what: str) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        body = decode(await request.body()) if kind == "application/json" else None
    except DecodeError:
        body = None
    if not isinstance(body, dict):
        raise _invalid(what, "send a JSON object with content-type application/json")
    return body


def _restore(body: dict[str, Any]) -> Restore:
    context = body.get("session_context")
    if not isinstance(context, dict):
        raise _invalid("after_restore", "session_context must be an object")
    session_id, restore_id = context.get("session_id"), context.get("restore_id")
    overrides = context.get("session_env_overrides") or {}
    if not well_formed(session_id):
        raise _invalid("after_restore", "session_id must be 1-128 printable characters")
    if not (isinstance(restore_id, str) and restore_id):
        raise _invalid("after_restore", "restore_id must be a non-empty string")
    if not (
        isinstance(overrides, dict)
        and all(
            isinstance(key, str)
            and isinstance(value, str)
            and key
            and "=" not in key
            and "\0" not in key + value
            for key, value in overrides.items()
        )
    ):
        raise _invalid("after_restore", "session_env_overrides must map names to strings")
    if overrides.get(SESSION_VARIABLE, session_id) != session_id:
        raise _invalid("after_restore", f"{SESSION_VARIABLE} must equal session_id")
    return Restore(session_id, restore_id, dict(overrides))


def _invalid(what: str, fix: str) -> ProtocolError:
    return ProtocolError(
        400,
        f"The {what.replace('_', '-')} request is invalid: {fix}.",
        code=f"invalid_{what}_request",
    )
