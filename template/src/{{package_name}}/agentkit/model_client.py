"""The `openai` client for the model, signed in with Microsoft Entra ID.

Imported at start-up when the model-backed agent will answer (serve.py), else only on
a first model call: `openai` and `azure-identity` take time and memory the offline
server does not need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import openai

from .agent_settings import TOKEN_SCOPE, ModelSettings

# httpx2 logs every request at INFO; one line per model call drowns the server's log.
logging.getLogger("httpx2").setLevel(logging.WARNING)

_clients: dict[tuple[ModelSettings, asyncio.AbstractEventLoop], openai.AsyncOpenAI] = {}


def client_for(settings: ModelSettings) -> openai.AsyncOpenAI:
    """One client (one connection pool) per settings and event loop, made on first use."""
    key = (settings, asyncio.get_running_loop())
    if key not in _clients:
        _clients.clear()  # an earlier loop's client cannot be used from this one
        _clients[key] = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or _entra_token_provider(),
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )
    return _clients[key]


def _entra_token_provider() -> Callable[[], Awaitable[str]]:
    """Tokens for Foundry from DefaultAzureCredential: the agent's identity when hosted,
    your `az login` when run locally. The provider caches tokens until they expire."""
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    provider = get_bearer_token_provider(DefaultAzureCredential(), TOKEN_SCOPE)

    async def token() -> str:
        # The sync credential may call a metadata endpoint or the az CLI: keep it off the loop.
        return await asyncio.to_thread(provider)

    return token
