"""Which agent session a response belongs to (returned in `x-agent-session-id`).

The rule, first match wins: the body's `agent_session_id`; the platform's session
(`FOUNDRY_AGENT_SESSION_ID`, which a memory-snapshot restore may change); the previous
response's session; a hash of the conversation id; a new random id. Every session id is
echoed in a header and stored, so each one is checked: a malformed one in the request is
refused, and one found in an old record is not inherited.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .errors import ProtocolError
from .identity import VISIBLE
from .items import random_hex

log = logging.getLogger(__name__)

MAX_CHARS = 128


def well_formed(session_id: Any) -> bool:
    """1-128 printable ASCII characters, no spaces: safe in a header and a log line."""
    return (
        isinstance(session_id, str)
        and 0 < len(session_id) <= MAX_CHARS
        and VISIBLE.fullmatch(session_id) is not None
    )


class Sessions:
    """The platform session this process serves, and the rule that picks a response's session."""

    def __init__(self, platform_session_id: str, agent_name: str) -> None:
        self.agent_name = agent_name
        self.platform_session_id = ""
        self.adopt(platform_session_id)

    def adopt(self, platform_session_id: str) -> None:
        """Serve the platform's session `platform_session_id` (at start, and after a restore)."""
        if platform_session_id and not well_formed(platform_session_id):
            log.warning(
                "ignoring FOUNDRY_AGENT_SESSION_ID: not 1-%d printable characters", MAX_CHARS
            )
            platform_session_id = ""
        self.platform_session_id = platform_session_id

    def session_id(self, requested: Any, previous: str, conversation_id: str | None) -> str:
        """The session of a new response; 400 when the request's `agent_session_id` is malformed."""
        if requested is not None and requested != "":
            if not well_formed(requested):
                raise ProtocolError(
                    400,
                    f"Invalid 'agent_session_id': use 1-{MAX_CHARS} printable ASCII characters, "
                    "no spaces.",
                    "agent_session_id",
                    "invalid_value",
                )
            return requested
        if self.platform_session_id:
            return self.platform_session_id
        if previous and well_formed(previous):
            return previous
        if conversation_id:
            key = f"{self.agent_name}:{conversation_id}".encode()
            return hashlib.sha256(key).hexdigest()[:63]
        return random_hex(63)
