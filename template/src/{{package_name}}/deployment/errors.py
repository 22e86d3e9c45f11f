"""One error type for expected failures, and the translation of SDK errors into it."""

from __future__ import annotations

import json
from typing import Any

import openai
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

PULL_FIX = (
    "enable authentication-as-ARM on the registry "
    "(az acr config authentication-as-arm update --registry <acr> --status enabled) and give the "
    "project's managed identity Container Registry Repository Reader (or AcrPull) on it"
)
PROBE_FIX = (
    "the container must answer GET /readiness with 200 on 0.0.0.0:$PORT (8088); "
    f"run it locally (python -m {__package__.partition('.')[0]}) and read its logs"
)
SESSION_FIX = (
    "the agent session is not ready yet (cold start); retry in 15-30 s, and if it persists use "
    "at least 1 CPU / 2Gi and read the container logs"
)
# The agent identity reaches the project's models and session storage with no role assigned;
# only access beyond those defaults needs one (Foundry User, formerly Azure AI User).
IDENTITY_FIX = (
    "check MODEL_DEPLOYMENT_NAME; the agent's identity reaches the project's models and session "
    "storage with no role, anything else needs its own role (e.g. Foundry User on another "
    "account; deploy.py show <version> prints the principal id)"
)

# (text found in an error code or message, what it means and the fix), first match wins.
KNOWN: tuple[tuple[str, str], ...] = (
    ("imageerror", f"the platform could not pull the image; {PULL_FIX}"),
    ("failed to pull", f"the platform could not pull the image; {PULL_FIX}"),
    ("containerprobesfailed", f"the container failed its readiness probe; {PROBE_FIX}"),
    ("readiness", f"the container failed its readiness probe; {PROBE_FIX}"),
    ("session_not_ready", SESSION_FIX),
    (
        "unsupported responses protocol version",
        "the service rejected the protocol version; set version: 2.0.0 under protocols "
        "in azure.yaml",
    ),
    (
        "preview_feature_required",
        "the service asks for a preview opt-in this SDK does not send; "
        'pip install "azure-ai-projects>=2.10,<3"',
    ),
    ("permissiondenied", f"the agent's identity lacks a permission; {IDENTITY_FIX}"),
    ("authorizationfailed", f"the agent's identity lacks a permission; {IDENTITY_FIX}"),
)

BY_STATUS: dict[int, str] = {
    401: "the endpoint rejected your sign-in; run `az login` for the project's tenant and retry",
    403: (
        "your identity may not manage agents in this project; ask for the Foundry User role "
        "(formerly Azure AI User) on the Foundry project"
    ),
    404: (
        "not found; check the endpoint (https://<account>.services.ai.azure.com/api/projects/"
        "<project>), the agent name and the version"
    ),
    409: "the version still has sessions; retry after they end, or delete with --force",
    424: SESSION_FIX,
    500: f"the service or the agent failed; retry, and if an active version keeps failing, "
    f"{IDENTITY_FIX}",
}


class DeployError(Exception):
    """An expected failure: the message is one line with its cause and fix."""


class Refused(DeployError):
    """Refused before anything was sent (deploy.py exits 2)."""


def known(code: str, message: str) -> str | None:
    """The actionable line for a platform error code or message, if it is a known one."""
    text = f"{code} {message}".lower()
    return next((fix for needle, fix in KNOWN if needle in text), None)


def _error_body(response: Any) -> tuple[str, str]:
    """(code, message) from an error response body of the Foundry or OpenAI shape."""
    try:
        body = json.loads(response.text() if callable(response.text) else response.text)
    except (ValueError, TypeError, AttributeError):
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or error.get("type") or ""), str(error.get("message") or "")


def one_line(text: str, limit: int = 300) -> str:
    """The service's own words, on one line and bounded."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def translate(error: BaseException, endpoint: str = "") -> DeployError:
    """Turn an azure-core, azure-identity or openai error into a DeployError."""
    response = getattr(error, "response", None)
    if isinstance(error, HttpResponseError | openai.APIStatusError) and response is not None:
        status = getattr(error, "status_code", None)
        code, message = _error_body(response)
        fix = known(code, message) or BY_STATUS.get(status or 0)
        said = one_line(message or code or "no details in the response")
        return DeployError(f"{status} {said}" + (f": {fix}" if fix else ""))
    if isinstance(error, ClientAuthenticationError):
        first = one_line(str(error)).split(". ")[0].rstrip(".")
        return DeployError(
            f"no Azure sign-in ({first}); run `az login` (or use a managed identity) and retry"
        )
    if isinstance(error, ServiceRequestError | ServiceResponseError | openai.APIConnectionError):
        return DeployError(
            f"cannot reach {endpoint or 'the endpoint'}; check the endpoint URL and your network"
        )
    return DeployError(one_line(f"{type(error).__name__}: {error}"))
