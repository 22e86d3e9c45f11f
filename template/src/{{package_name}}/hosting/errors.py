"""One error type for everything the server refuses, and its wire envelope."""

from __future__ import annotations

from .codec import encode


class ProtocolError(Exception):
    """A request the server refuses: an HTTP status and the protocol's error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> bytes:
        """`{"error": {message, type, param, code}}`, as openai clients parse it."""
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """The error envelope as JSON bytes."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return encode({"error": error})


def not_found(response_id: str) -> ProtocolError:
    """The 404 for a response that is unknown, deleted, or was never stored."""
    return ProtocolError(
        404, f"Response with id '{response_id}' not found.", "response_id", "not_found"
    )


INTERNAL = "The server had an error while processing your request."
"""The only text a client sees about an unexpected failure; details go to the log."""
