"""The hosted-agent definition sent to create_version, built from azure.yaml per SDK line."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from ..hosting.manifest import Manifest
from .bundle import Bundle
from .sdk import Line

# The current platform generation; azd sends it on every create (see README, Deploy).
CURRENT_METADATA = {"enableVnextExperience": "true"}
TOOLS_NOTE = (
    "tools are not part of the definition on azure-ai-projects 2.3+; "
    "the server passes azure.yaml's tools to the model at run time"
)
PACKAGE = __package__.partition(".")[0]
# Code deploy runs the entry point itself, without the image's ENV: set what the image sets
# (listen on every interface, unbuffered logs).
CODE_ENVIRONMENT = {"HOST": "0.0.0.0", "PYTHONUNBUFFERED": "1"}
# The service installs requirements.txt (the pinned requirements.lock) for the runtime's
# Python and platform. "bundled" would ship prebuilt Linux wheels instead: tens of MB built
# for linux/amd64 on the deploying machine, which a Mac or Windows laptop cannot do reliably.
DEPENDENCY_RESOLUTION = "remote_build"


@dataclass(frozen=True)
class Options:
    """Version settings from the command line; unset ones are left to the service."""

    memory_snapshot: bool = False
    idle_timeout: int | None = None
    telemetry: dict[str, Any] | None = None

    def flags(self) -> list[str]:
        """The options in use, as the command line names them."""
        used = [
            ("--memory-snapshot", self.memory_snapshot),
            ("--idle-timeout", self.idle_timeout is not None),
            ("--otlp-endpoint", self.telemetry is not None),
        ]
        return [flag for flag, on in used if on]


@dataclass(frozen=True)
class Request:
    """Everything create_version sends: the definition model, the version's fields, the code."""

    definition: Any
    description: str
    metadata: dict[str, str]
    code: Bundle | None = field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        """The JSON body (for code, the multipart metadata part) as the SDK serializes it."""
        body = {
            "definition": self.definition.as_dict(),
            "description": self.description,
            "metadata": self.metadata,
        }
        return {key: value for key, value in body.items() if value}


def environment(manifest: Manifest) -> dict[str, str]:
    """The container's environment: azure.yaml's env (the model deployment included)."""
    return {**manifest.environment_variables, "MODEL_DEPLOYMENT_NAME": manifest.model_deployment}


def version_metadata(line: Line, metadata: dict[str, str]) -> dict[str, str]:
    """The metadata a version is created with: the user's, plus what the platform expects."""
    return dict(metadata) if line == "b3" else {**CURRENT_METADATA, **metadata}


def build(
    manifest: Manifest,
    line: Line,
    metadata: dict[str, str],
    *,
    image: str | None = None,
    code: Bundle | None = None,
    options: Options | None = None,
) -> Request:
    """The create_version request for the installed SDK line: an image, or code (2.10+)."""
    if line == "b3":
        definition = _b3(manifest, image or "")
    else:
        definition = _current(manifest, image, code, options or Options())
    return Request(definition, manifest.description, version_metadata(line, metadata), code)


def _current(manifest: Manifest, image: str | None, code: Bundle | None, options: Options) -> Any:
    from azure.ai.projects import models

    fields: dict[str, Any] = {}
    if code is not None:
        fields["code_configuration"] = models.CodeConfiguration(
            runtime=code.runtime,
            entry_point=["python", "-m", PACKAGE],
            dependency_resolution=DEPENDENCY_RESOLUTION,
        )
        fields["environment_variables"] = {**CODE_ENVIRONMENT, **environment(manifest)}
    else:
        fields["container_configuration"] = models.ContainerConfiguration(image=image)
        fields["environment_variables"] = environment(manifest)
    # Only fields in use: SDKs before 2.10 do not know these keywords.
    if options.memory_snapshot:
        fields["enable_memory_snapshot"] = True
    if options.idle_timeout is not None:
        fields["session_configuration"] = models.SessionConfiguration(
            idle_timeout_seconds=datetime.timedelta(seconds=options.idle_timeout)
        )
    if options.telemetry is not None:
        fields["telemetry_config"] = models.TelemetryConfig(options.telemetry)
    return models.HostedAgentDefinition(
        cpu=manifest.cpu,
        memory=manifest.memory,
        protocol_versions=[
            models.ProtocolVersionRecord(protocol="responses", version=manifest.protocol_version)
        ],
        **fields,
    )


def _b3(manifest: Manifest, image: str) -> Any:
    # Names that exist only in 2.0.0b3; the skill document's shape, printed by --dry-run.
    from azure.ai.projects.models import (  # type: ignore[attr-defined]
        AgentProtocol,
        ImageBasedHostedAgentDefinition,
        ProtocolVersionRecord,
    )

    return ImageBasedHostedAgentDefinition(
        # The service rejects the skill document's "v1": show the manifest's version.
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
