"""The agents' settings: how to reach the model and how long tools may run.

Standard library only, so choosing between the model and the offline agent costs
nothing at start-up; the `openai` and `azure-identity` imports wait until the model
agent is chosen.

    FOUNDRY_PROJECT_ENDPOINT  the Foundry project (the platform sets it); its /openai/v1 API
    MODEL_DEPLOYMENT_NAME     the model deployment (default: the one in azure.yaml's env)
    MODEL_BASE_URL            optional: another OpenAI-compatible Responses API base URL
    MODEL_API_KEY             optional: a static key instead of Microsoft Entra ID (tests)
    MODEL_TIMEOUT_SECONDS     longest wait to connect or for the model's next event (60)
    MODEL_MAX_RETRIES         retries of 429, 5xx and timeouts, with backoff and jitter (3)
    TOOL_TIMEOUT_SECONDS      longest run of one function tool (30)
    MAX_TOOL_ROUNDS           model calls per turn while it keeps calling tools (8)
    OFFLINE_AGENT             1: the offline agent answers even when an endpoint is set
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..hosting.manifest import Manifest
from ..hosting.settings import SettingsError, number_setting
from ..hosting.turn import AgentError

TOKEN_SCOPE = "https://ai.azure.com/.default"


@dataclass(frozen=True)
class ModelSettings:
    """Where the model is and how patiently to call it."""

    base_url: str
    deployment: str
    api_key: str = ""
    timeout_seconds: float = 60.0
    max_retries: int = 3
    max_tool_rounds: int = 8

    @classmethod
    def from_env(
        cls, manifest: Manifest | None, env: Mapping[str, str] | None = None
    ) -> ModelSettings:
        """Read the settings; a missing or bad value raises AgentError with the fix."""
        env = os.environ if env is None else env
        endpoint = env.get("FOUNDRY_PROJECT_ENDPOINT", "")
        base_url = env.get("MODEL_BASE_URL") or (
            f"{endpoint.rstrip('/')}/openai/v1" if endpoint else ""
        )
        deployment = env.get("MODEL_DEPLOYMENT_NAME") or (
            manifest.model_deployment if manifest else ""
        )
        if not base_url:
            raise AgentError(
                "model_not_configured", "No model endpoint: set FOUNDRY_PROJECT_ENDPOINT"
            )
        if not deployment:
            raise AgentError(
                "model_not_configured",
                "No model deployment: set MODEL_DEPLOYMENT_NAME (in azure.yaml's env)",
            )
        return cls(
            base_url=base_url,
            deployment=deployment,
            api_key=env.get("MODEL_API_KEY", ""),
            timeout_seconds=_number(env, "MODEL_TIMEOUT_SECONDS", 60.0),
            max_retries=int(_number(env, "MODEL_MAX_RETRIES", 3)),
            max_tool_rounds=max(1, int(_number(env, "MAX_TOOL_ROUNDS", 8))),
        )


def model_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when a model endpoint is set and OFFLINE_AGENT does not ask for the offline agent."""
    env = os.environ if env is None else env
    if not (env.get("FOUNDRY_PROJECT_ENDPOINT") or env.get("MODEL_BASE_URL")):
        return False  # checked first: the agent asks every turn, and a miss costs the most
    return env.get("OFFLINE_AGENT", "").strip().lower() not in ("1", "true", "yes")


def describe_model(manifest: Manifest | None, env: Mapping[str, str] | None = None) -> str:
    """Which agent the default agent.py picks, for the server's start-up line."""
    env = os.environ if env is None else env
    if not model_configured(env):
        endpoint = env.get("FOUNDRY_PROJECT_ENDPOINT") or env.get("MODEL_BASE_URL")
        return "offline: " + ("OFFLINE_AGENT is set" if endpoint else "no FOUNDRY_PROJECT_ENDPOINT")
    try:
        settings = ModelSettings.from_env(manifest, env)
    except AgentError as error:
        return f"model, not usable: {error.message}"
    return f"model deployment {settings.deployment} at {settings.base_url}"


def tool_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds one function tool may run (TOOL_TIMEOUT_SECONDS, default 30)."""
    return _number(os.environ if env is None else env, "TOOL_TIMEOUT_SECONDS", 30.0)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    """The server's number rule; read per turn, so a bad value fails the turn."""
    try:
        return number_setting(env, name, default)
    except SettingsError as error:
        raise AgentError("bad_setting", str(error)) from None
