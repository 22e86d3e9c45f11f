"""Your agent. This file is yours: `copier update` never changes it.

The server calls `agent(turn)` for every request and streams whatever it yields:
strings are text, `FunctionCall`, `FunctionCallOutput` and `Reasoning` are structured
output, a dict is a complete output item (see hosting/turn.py). Raise `AgentError`
to fail the response with a message the caller sees.

By default the agent answers with the Foundry model deployment named in azure.yaml,
using the tools listed there and the functions in tools/. Without
FOUNDRY_PROJECT_ENDPOINT (on your machine, in tests), or with OFFLINE_AGENT=1, the
offline agent answers instead: it needs no network. Replace the body with your own
logic; the smallest agent is

    async def agent(turn: Turn) -> AsyncIterator[Output]:
        yield f"Hello! You said: {turn.user_text}"
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .agentkit.model_agent import model_agent, model_configured
from .agentkit.offline import offline_agent
from .hosting import Output, Turn


def agent(turn: Turn) -> AsyncIterator[Output]:
    """Answer one turn with the model when one is configured, else offline.

    It hands back the chosen agent's stream itself, rather than re-yielding each output.
    """
    answer = model_agent if model_configured() else offline_agent
    return answer(turn)
