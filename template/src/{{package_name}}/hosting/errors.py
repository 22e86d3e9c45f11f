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


RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error", "rate_limit_exceeded", "invalid_prompt", "data_residency_mismatch",
        "bio_policy", "vector_store_timeout", "invalid_image", "invalid_image_format",
        "invalid_base64_image", "invalid_image_url", "image_too_large", "image_too_small",
        "image_parse_error", "image_content_policy_violation", "invalid_image_mode",
        "image_file_too_large", "unsupported_image_media_type", "empty_image_file",
        "failed_to_download_image", "image_file_not_found",
    }
)  # fmt: skip
"""OpenAI's `ResponseError` codes: what a failed Response's `error.code` should be where one
fits (strict clients check it against this list)."""

INTERNAL = "The server had an error while processing your request."
"""The only text a client sees about an unexpected failure; details go to the log."""
