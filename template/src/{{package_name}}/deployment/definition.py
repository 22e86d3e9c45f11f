"""The hosted-agent definition sent to create_version, built from agent.yaml per SDK line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..hosting.manifest import Manifest
from .sdk import Line

# The current platform generation; azd sends it on every create (see README, Deploy).
CURRENT_METADATA = {"enableVnextExperience": "true"}
TOOLS_NOTE = (
    "tools are not part of the definition on azure-ai-projects 2.3+; "
    "the server passes agent.yaml's tools to the model at run time"
)


@dataclass(frozen=True)
class Request:
    """Everything create_version sends: the definition model and the version's fields."""

    definition: Any
    description: str
    metadata: dict[str, str]

    def body(self) -> dict[str, Any]:
        """The JSON body as the SDK serializes it (what --dry-run prints)."""
        body = {
            "definition": self.definition.as_dict(),
            "description": self.description,
            "metadata": self.metadata,
        }
        return {key: value for key, value in body.items() if value}


def environment(manifest: Manifest) -> dict[str, str]:
    """The container's environment: agent.yaml's variables plus the model deployment."""
    return {**manifest.environment_variables, "MODEL_DEPLOYMENT_NAME": manifest.model_deployment}


def build(manifest: Manifest, image: str, line: Line, metadata: dict[str, str]) -> Request:
    """The create_version request for the installed SDK line."""
    if line == "b3":
        return Request(_b3(manifest, image), manifest.description, dict(metadata))
    return Request(
        _current(manifest, image), manifest.description, {**CURRENT_METADATA, **metadata}
    )


def _current(manifest: Manifest, image: str) -> Any:
    from azure.ai.projects.models import (
        ContainerConfiguration,
        HostedAgentDefinition,
        ProtocolVersionRecord,
    )

    return HostedAgentDefinition(
        cpu=manifest.cpu,
        memory=manifest.memory,
        container_configuration=ContainerConfiguration(image=image),
        protocol_versions=[
            ProtocolVersionRecord(protocol="responses", version=manifest.protocol_version)
        ],
        environment_variables=environment(manifest),
    )


def _b3(manifest: Manifest, image: str) -> Any:
    # Names that exist only in 2.0.0b3; the skill document's shape.
    from azure.ai.projects.models import (  # type: ignore[attr-defined]
        AgentProtocol,
        ImageBasedHostedAgentDefinition,
        ProtocolVersionRecord,
    )

    return ImageBasedHostedAgentDefinition(
        # The service now rejects the skill document's "v1": send the manifest's version.
        container_protocol_versions=[
            ProtocolVersionRecord(
                protocol=AgentProtocol.RESPONSES, version=manifest.protocol_version
            )
        ],
        cpu=manifest.cpu,
        memory=manifest.memory,
        image=image,
        # Function tools run inside the container; the definition lists the hosted ones.
        tools=manifest.hosted_tools or None,
        environment_variables=environment(manifest),
    )
