"""The version lifecycle with the sync client (azure.ai.projects.AIProjectClient)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .definition import Request
from .lifecycle import (
    SMOKE_INPUT,
    Progress,
    b3_unsupported,
    check_settled,
    route_body,
    smoke_text,
    status,
)
from .sdk import line


def connect(endpoint: str, credential: Any | None = None, **options: Any) -> Any:
    """An AIProjectClient; DefaultAzureCredential unless a credential is given.

    `options` go to azure-core (e.g. connection_verify=<CA file>, retry_total=...).
    """
    from azure.ai.projects import AIProjectClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return AIProjectClient(endpoint=endpoint, credential=credential, **options)


def create(client: Any, name: str, request: Request) -> Any:
    """Create a version of the agent; returns its AgentVersionDetails."""
    return client.agents.create_version(
        agent_name=name,
        definition=request.definition,
        description=request.description or None,
        metadata=request.metadata or None,
    )


def wait(
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
        time.sleep(min(poll, max(timeout - elapsed, 0)))
        details = client.agents.get_version(
            agent_name=details["name"], agent_version=details["version"]
        )


def deploy(
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
    created = create(client, name, request)
    details = wait(client, created, timeout=timeout, poll=poll, progress=progress)
    if route_traffic and line() != "b3":
        route(client, name, details["version"])
    return details


def route(client: Any, name: str, version: str) -> None:
    """Send all of the agent endpoint's traffic to one version."""
    if line() == "b3":
        raise b3_unsupported("routing")
    client.agents.update_details(name, route_body(version))


def smoke(client: Any, name: str) -> str:
    """One request through the agent endpoint; returns the reply's text."""
    if line() == "b3":
        raise b3_unsupported("the smoke request")
    openai = client.get_openai_client(agent_name=name)
    return smoke_text(openai.responses.create(input=SMOKE_INPUT).output_text)


def versions(client: Any, name: str) -> list[Any]:
    """Every version of the agent, newest first (the SDK follows the pages)."""
    return list(client.agents.list_versions(agent_name=name, order="desc"))


def show(client: Any, name: str, version: str) -> Any:
    """One version's details."""
    return client.agents.get_version(agent_name=name, agent_version=version)


def delete(client: Any, name: str, version: str, *, force: bool = False) -> Any:
    """Delete one version; `force` also ends its sessions (2.3+)."""
    # Only send force when asked: 2.0.0b3's delete_version has no such parameter.
    extra = {"force": True} if force else {}
    return client.agents.delete_version(agent_name=name, agent_version=version, **extra)


def invoke(
    client: Any, name: str, text: str, previous: str | None = None
) -> Iterator[str | dict[str, Any]]:
    """Stream a reply: text deltas, then {"id": ..., "status": ...} of the response."""
    if line() == "b3":
        raise b3_unsupported("invoke")
    openai = client.get_openai_client(agent_name=name)
    extra = {"previous_response_id": previous} if previous else {}
    for event in openai.responses.create(input=text, stream=True, **extra):
        if event.type == "response.output_text.delta":
            yield event.delta
        elif event.type in ("response.completed", "response.failed", "response.incomplete"):
            yield {"id": event.response.id, "status": event.response.status}
