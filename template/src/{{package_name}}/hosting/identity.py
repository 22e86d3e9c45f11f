"""Who is asking, and which ids they carry: the platform's headers, checked.

Under protocol 2.0.0 one container serves many end users. The platform names each one in
`x-agent-user-id` (an opaque partition key) and gives every request a fresh
`x-agent-foundry-call-id` to forward on calls to Foundry services. Everything a user
stores belongs to their partition; requests without the header (local runs) share one.
Every id that comes in is input: a value the server would echo or store is checked for
its characters and length first, and refused with a 400 naming the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from .errors import ProtocolError
from .items import random_hex

USER = "x-agent-user-id"
CALL_ID = "x-agent-foundry-call-id"
RESPONSE_ID = "x-agent-response-id"
REQUEST_ID = "x-request-id"

VISIBLE = re.compile(r"[\x21-\x7e]+")
"""Printable ASCII without spaces: safe in a header, a log line and a storage key."""
RESPONSE_ID_FORM = re.compile(r"[A-Za-z0-9]{1,32}_[A-Za-z0-9]{48,50}")
"""Foundry's form: a prefix, `_`, then a 48- or 50-character body (e.g. `caresp_...`)."""
LIMITS = {USER: 256, CALL_ID: 4096, REQUEST_ID: 256}

_WANTED = frozenset(
    name.encode()
    for name in (
        "content-length",
        USER,
        CALL_ID,
        RESPONSE_ID,
        REQUEST_ID,
        "traceparent",  # the caller's trace, continued when telemetry is on
        "tracestate",
    )
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The end user a request acts for, as every store call sees it."""

    user: str = ""
    """`x-agent-user-id`; "" is the one partition of requests without it."""
    call_id: str | None = None
    """`x-agent-foundry-call-id`, forwarded unchanged on calls to Foundry services."""


LOCAL = Caller()


def headers(request: Request) -> dict[str, str]:
    """The request headers the protocol reads, found in one pass over the raw list.

    A malformed `x-request-id` is replaced by a new one at once, so every reply, the
    refusal included, carries a request id that is safe to echo; `caller()` refuses it.
    """
    found = request.scope.get("protocol.headers")
    if found is None:
        raw = request.scope["headers"]
        found = {key.decode(): value.decode("latin-1") for key, value in raw if key in _WANTED}
        given = found.get(REQUEST_ID)
        if given is not None and not _fits(REQUEST_ID, given):
            found[REQUEST_ID] = random_hex(32)
            request.scope["protocol.malformed"] = REQUEST_ID
        request.scope["protocol.headers"] = found
    return found


def caller(request: Request) -> Caller:
    """The checked Caller of a request; ProtocolError (400) naming a malformed header."""
    found = headers(request)
    malformed = request.scope.get("protocol.malformed")
    if malformed:
        raise _malformed(malformed)
    user = found.get(USER)
    call_id = found.get(CALL_ID)
    if user is None and call_id is None:
        return LOCAL
    return Caller(
        user=_checked(USER, user) if user else "",
        call_id=_checked(CALL_ID, call_id) if call_id else None,
    )


def response_id(request: Request) -> str | None:
    """The platform's `x-agent-response-id`, when given, in Foundry's id form."""
    value = headers(request).get(RESPONSE_ID)
    if not value:
        return None
    if not RESPONSE_ID_FORM.fullmatch(value):
        raise ProtocolError(
            400,
            f"Invalid '{RESPONSE_ID}' header: use a prefix, '_' and 48 or 50 letters and digits.",
            RESPONSE_ID,
            "invalid_value",
        )
    return value


def request_id(request: Request) -> str:
    """The caller's `x-request-id` (checked), or a new one; the same for the whole request."""
    found = headers(request)
    value = found.get(REQUEST_ID)
    if not value:
        value = found[REQUEST_ID] = random_hex(32)
    return value


def request_id_header(request: Request) -> tuple[bytes, bytes]:
    """`x-request-id` for the reply."""
    return (b"x-request-id", request_id(request).encode())


def _fits(name: str, value: str) -> bool:
    return len(value) <= LIMITS[name] and VISIBLE.fullmatch(value) is not None


def _checked(name: str, value: str) -> str:
    if not _fits(name, value):
        raise _malformed(name)
    return value


def _malformed(name: str) -> ProtocolError:
    return ProtocolError(
        400,
        f"Invalid '{name}' header: use 1-{LIMITS[name]} printable ASCII characters, no spaces.",
        name,
        "invalid_value",
    )
