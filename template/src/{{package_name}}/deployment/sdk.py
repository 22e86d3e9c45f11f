"""Which azure-ai-projects line is installed: the current one (2.3+) or 2.0.0b3."""

from __future__ import annotations

import re
from importlib import metadata
from typing import Literal

from .errors import DeployError, Refused

Line = Literal["current", "b3"]
INSTALL = 'pip install -e ".[deploy]"  (azure-ai-projects>=2.10,<3)'
# The first-preview backend the 2.0.0b3 line talks to; its definitions are still printed by
# --dry-run (to recognise the skill document's shape), never sent.
B3_RETIRED = (
    "azure-ai-projects 2.0.0b3 talks to the first-preview backend, retired on 2026-08-20; "
    f"nothing was sent: {INSTALL}"
)
NEWEST_FEATURES = (2, 10)  # code deploy, memory snapshots, session and telemetry settings


def installed_version() -> str:
    """The installed azure-ai-projects version."""
    try:
        return metadata.version("azure-ai-projects")
    except metadata.PackageNotFoundError:
        raise DeployError(f"azure-ai-projects is not installed; {INSTALL}") from None


def _release(version: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def line(version: str | None = None) -> Line:
    """The SDK line for a version, or a DeployError naming the version to install."""
    version = version or installed_version()
    if version == "2.0.0b3":
        return "b3"
    major, minor = _release(version)
    if major == 2 and minor >= 3:
        return "current"
    if major > 2:
        raise DeployError(f"azure-ai-projects {version} is newer than this tool knows; {INSTALL}")
    # 2.0.0b4 .. 2.2.x: hosted agents were preview-only and changed shape in every release.
    raise DeployError(
        f"azure-ai-projects {version} has a hosted-agent API this tool does not speak; {INSTALL}"
    )


def has_newest_features(version: str | None = None) -> bool:
    """True when the SDK has code deploy and the 2.10 definition fields."""
    version = version or installed_version()
    return line(version) == "current" and _release(version) >= NEWEST_FEATURES


def refuse_retired() -> None:
    """Refuse, before any request, to call the service from the 2.0.0b3 line."""
    if line() == "b3":
        raise Refused(B3_RETIRED)
