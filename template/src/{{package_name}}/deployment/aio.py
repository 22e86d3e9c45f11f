"""The version lifecycle with the async client (azure.ai.projects.aio), for your own code.

Use `async with connect(endpoint) as client:` then, for example,
`await deploy(client, manifest.name, build(manifest, line(), {}, image=image))`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from .definition import Request
from .lifecycle import (
    SMOKE_INPUT,
    Progress,
    check_settled,
    route_body,
    smoke_text,
    status,
)
from .sdk import refuse_retired


def connect(endpoint: str, credential: Any | None = None, **options: Any) -> Any:
    """An async AIProjectClient; the async DefaultAzureCredential unless one is given.

    Use it with `async with`; a credential you pass stays yours to close. `options` go to
    azure-core (e.g. connection_verify=<CA file>, retry_total=...).
    """
    refuse_retired()  # the 2.0.0b3 line's backend is gone: send nothing
    from azure.ai.projects.aio import AIProjectClient

    if credential is None:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return AIProjectClient(endpoint=endpoint, credential=credential, **options)


async def create(client: Any, name: str, request: Request) -> Any:
    """Create a version of the agent (from an image or, with request.code, a zip); returns its
    AgentVersionDetails."""
    fields = {
        "description": request.description or None,
        "metadata": request.metadata or None,
    }
    if request.code is not None:
        return await client.agents.create_version_from_code(
            name,
            definition=request.definition,
            code=request.code.stream(),
            code_zip_sha256=request.code.sha256,
            **fields,
        )
    return await client.agents.create_version(
        agent_name=name, definition=request.definition, **fields
    )


async def wait(
    client: Any,
    details: Any,
    *,
    timeout: float = 600,
    poll: float = 5,
    progress: Progress | None = None,
) -> Any:
    """Poll the version until it is active; DeployError when it fails or time runs out."""
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if progress:
            progress(details["version"], status(details) or "created", elapsed)
        if check_settled(details, elapsed, timeout):
            return details
        await asyncio.sleep(min(poll, max(timeout - elapsed, 0)))
        details = await client.agents.get_version(
            agent_name=details["name"], agent_version=details["version"]
        )


async def deploy(
    client: Any,
    name: str,
    request: Request,
    *,
    timeout: float = 600,
    poll: float = 5,
    progress: Progress | None = None,
    route_traffic: bool = True,
) -> Any:
    """Create a version, wait until it is active, then send all traffic to it."""
    created = await create(client, name, request)
    details = await wait(client, created, timeout=timeout, poll=poll, progress=progress)
    if route_traffic:
        await route(client, name, details["version"])
    return details


async def route(client: Any, name: str, version: str) -> None:
    """Send all of the agent endpoint's traffic to one version."""
    await client.agents.update_details(name, route_body(version))


async def smoke(client: Any, name: str) -> str:
    """One request through the agent endpoint; returns the reply's text."""
    openai = client.get_openai_client(agent_name=name)
    async with openai:
        return smoke_text((await openai.responses.create(input=SMOKE_INPUT)).output_text)


async def versions(client: Any, name: str) -> list[Any]:
    """Every version of the agent, newest first (the SDK follows the pages)."""
    return [v async for v in client.agents.list_versions(agent_name=name, order="desc")]


async def show(client: Any, name: str, version: str) -> Any:
    """One version's details."""
    return await client.agents.get_version(agent_name=name, agent_version=version)


async def agent(client: Any, name: str) -> Any:
    """The agent's details (AgentDetails): its state, enabled or disabled, and its endpoint."""
    return await client.agents.get(name)


async def delete(client: Any, name: str, version: str, *, force: bool = False) -> Any:
    """Delete one version; `force` also ends its sessions."""
    return await client.agents.delete_version(
        agent_name=name, agent_version=version, force=force or None
    )


async def invoke(
    client: Any, name: str, text: str, previous: str | None = None
) -> AsyncIterator[str | dict[str, Any]]:
    """Stream a reply: text deltas, then {"id": ..., "status": ...} of the response."""
    openai = client.get_openai_client(agent_name=name)
    extra = {"previous_response_id": previous} if previous else {}
    async with openai:
        async for event in await openai.responses.create(input=text, stream=True, **extra):
            if event.type == "response.output_text.delta":
                yield event.delta
            elif event.type in ("response.completed", "response.failed", "response.incomplete"):
                yield {"id": event.response.id, "status": event.response.status}
