"""Microsoft's azure-ai-agentserver-responses serving the offline echo (`microsoft_echo:app`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from azure.ai.agentserver.responses import (
    CreateResponse,
    ResponseContext,
    ResponsesAgentServerHost,
    TextResponse,
)
from echo import echo_chunks

# Without an exporter configured, the default observability writes every log record, span and
# metric to the console as JSON (34 MB in one benchmark run): that would measure the console, not
# the library. In Foundry they go to Azure Monitor instead; here they are off, the library's
# fastest documented setting, so the comparison is conservative.
app = ResponsesAgentServerHost(configure_observability=None)


@app.response_handler
async def handler(
    request: CreateResponse, context: ResponseContext, cancellation_signal: asyncio.Event
) -> TextResponse:
    """Stream the same chunks as the offline agent, whether or not the client streams."""
    text = await context.get_input_text()

    async def chunks() -> AsyncIterator[str]:
        for chunk in echo_chunks(text):
            yield chunk

    return TextResponse(context, request, text=chunks())
