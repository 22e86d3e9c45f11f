"""Model failures, as AgentErrors whose message says what to fix.

The `openai` client has already retried 429s, 5xx answers and timeouts (with
exponential backoff and jitter, MODEL_MAX_RETRIES times) before any of these is seen.
Codes are OpenAI's `ResponseError` codes where one fits (`server_error`,
`rate_limit_exceeded`, `invalid_prompt`, or the model's own when it is one of them);
the README's table lists the agent's own codes for the rest.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
from azure.core.exceptions import ClientAuthenticationError

from ..hosting.errors import RESPONSE_ERROR_CODES
from ..hosting.turn import AgentError, Incomplete
from .agent_settings import ModelSettings

log = logging.getLogger(__name__)

CONTENT_FILTER = "content_filter"
SERVER_ERROR = "server_error"
MODEL_FAILURES = (openai.OpenAIError, ClientAuthenticationError)
"""What a model call may raise besides AgentError."""


def model_error(error: Exception, settings: ModelSettings, response_id: str = "") -> AgentError:
    """The AgentError for an exception the `openai` client raised for response `response_id`."""
    # The caller sees what to fix; the log also gets the URL and the full error.
    log.warning("model call to %s failed (response %s): %r", settings.base_url, response_id, error)
    where = f"model deployment '{settings.deployment}'"
    tries = settings.max_retries
    retries = f"after {tries} {'retry' if tries == 1 else 'retries'}" if tries else "(no retries)"
    if isinstance(error, openai.APITimeoutError):
        return AgentError(
            SERVER_ERROR,
            f"The {where} did not answer within {settings.timeout_seconds:g} s {retries}; "
            "retry later or raise MODEL_TIMEOUT_SECONDS",
        )
    if isinstance(error, ClientAuthenticationError):
        return AgentError(
            "model_auth_failed",
            "No Microsoft Entra token for the model: sign in with `az login` when running "
            "locally; hosted, the agent's managed identity is used",
        )
    if isinstance(error, openai.APIConnectionError):
        return AgentError(
            SERVER_ERROR,
            f"Cannot reach the endpoint of the {where}; check FOUNDRY_PROJECT_ENDPOINT "
            "and the network",
        )
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return AgentError(
            "model_auth_failed",
            f"The {where} refused the credentials (HTTP {error.status_code}); locally, "
            "`az login` as a user with the Foundry User role on the project; hosted, the "
            "agent's identity needs no role for the project's own models: check the endpoint",
        )
    if isinstance(error, openai.NotFoundError):
        return AgentError(
            "model_deployment_not_found",
            f"The {where} does not exist (HTTP 404); deploy the model in the Foundry project "
            "or set MODEL_DEPLOYMENT_NAME in azure.yaml's env to an existing deployment",
        )
    if isinstance(error, openai.RateLimitError):
        return AgentError(
            "rate_limit_exceeded",
            f"The {where} is rate limited (HTTP 429) {retries}; raise the deployment's "
            "tokens-per-minute quota or retry later",
        )
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return AgentError(
            SERVER_ERROR,
            f"The {where} failed (HTTP {error.status_code}) {retries}; retry later",
        )
    code = _code(error.body) if isinstance(error, openai.APIError) else None
    if code == CONTENT_FILTER:
        return content_filtered()
    if isinstance(error, openai.APIStatusError):
        return AgentError(
            code if code in RESPONSE_ERROR_CODES else "model_request_rejected",
            f"The {where} rejected the request (HTTP {error.status_code}): {error.message}",
        )
    if isinstance(error, openai.APIError):
        return AgentError(SERVER_ERROR, f"The {where} failed while answering: {error.message}")
    return AgentError(SERVER_ERROR, f"The {where} call failed ({type(error).__name__})")


def failed_response(response: Any, settings: ModelSettings) -> Exception:
    """What ends the turn when the model's response ended failed or incomplete.

    An incomplete answer (the token limit, the content filter on the output) ends this
    response incomplete too, with the same reason and what was said so far.
    """
    error = getattr(response, "error", None)
    incomplete = getattr(response, "incomplete_details", None)
    reason = getattr(incomplete, "reason", None)
    if error is None and reason:
        return Incomplete(reason)
    code = getattr(error, "code", None)
    if code == CONTENT_FILTER:
        return content_filtered()
    if error is not None:
        return AgentError(
            code if code in RESPONSE_ERROR_CODES else SERVER_ERROR,
            f"The model deployment '{settings.deployment}' failed: {code}: {error.message}",
        )
    return AgentError(
        "model_incomplete",
        "The model stopped before finishing without saying why; shorten the conversation "
        "or the task",
    )


def content_filtered() -> AgentError:
    """The model's content filter refused the request: OpenAI's code for a refused prompt."""
    return AgentError(
        "invalid_prompt",
        "The model's content filter blocked this request or its answer; rephrase it, or "
        "review the deployment's content filter settings in Foundry",
    )


def _code(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code")
        return code if isinstance(code, str) else None
    return None
