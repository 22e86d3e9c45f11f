"""Model failures, as AgentErrors whose message says what to fix.

The `openai` client has already retried 429s, 5xx answers and timeouts (with
exponential backoff and jitter, MODEL_MAX_RETRIES times) before any of these is seen.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
from azure.core.exceptions import ClientAuthenticationError

from ..hosting.turn import AgentError
from .agent_settings import ModelSettings

log = logging.getLogger(__name__)

CONTENT_FILTER = "content_filter"
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
            "model_timeout",
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
            "model_unreachable",
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
            "or set model_deployment in agent.yaml to an existing deployment",
        )
    if isinstance(error, openai.RateLimitError):
        return AgentError(
            "model_rate_limited",
            f"The {where} is rate limited (HTTP 429) {retries}; raise the deployment's "
            "tokens-per-minute quota or retry later",
        )
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return AgentError(
            "model_unavailable",
            f"The {where} failed (HTTP {error.status_code}) {retries}; retry later",
        )
    if isinstance(error, openai.APIError) and _code(error.body) == CONTENT_FILTER:
        return content_filtered()
    if isinstance(error, openai.APIStatusError):
        return AgentError(
            "model_request_rejected",
            f"The {where} rejected the request (HTTP {error.status_code}): {error.message}",
        )
    if isinstance(error, openai.APIError):
        return AgentError("model_error", f"The {where} failed while answering: {error.message}")
    return AgentError("model_error", f"The {where} call failed ({type(error).__name__})")


def failed_response(response: Any, settings: ModelSettings) -> AgentError:
    """The AgentError for a model response that ended failed or incomplete."""
    error = getattr(response, "error", None)
    incomplete = getattr(response, "incomplete_details", None)
    if getattr(error, "code", None) == CONTENT_FILTER or (
        getattr(incomplete, "reason", None) == CONTENT_FILTER
    ):
        return content_filtered()
    if error is not None:
        return AgentError(
            "model_error",
            f"The model deployment '{settings.deployment}' failed: {error.code}: {error.message}",
        )
    reason = getattr(incomplete, "reason", None) or "unknown"
    return AgentError(
        "model_incomplete",
        f"The model stopped before finishing ({reason}); shorten the conversation or the task",
    )


def content_filtered() -> AgentError:
    return AgentError(
        CONTENT_FILTER,
        "The model's content filter blocked this request or its answer; rephrase it, or "
        "review the deployment's content filter settings in Foundry",
    )


def _code(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code")
        return code if isinstance(code, str) else None
    return None
