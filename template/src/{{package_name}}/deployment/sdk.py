"""Which azure-ai-projects line is installed: the current one (2.3+) or 2.0.0b3."""

from __future__ import annotations

import re
from importlib import metadata
from typing import Literal

from .errors import DeployError

Line = Literal["current", "b3"]
INSTALL = 'pip install -e ".[deploy]"  (azure-ai-projects>=2.10,<3)'


def installed_version() -> str:
    """The installed azure-ai-projects version."""
    try:
        return metadata.version("azure-ai-projects")
    except metadata.PackageNotFoundError:
        raise DeployError(f"azure-ai-projects is not installed; {INSTALL}") from None


def line(version: str | None = None) -> Line:
    """The SDK line for a version, or a DeployError naming the version to install."""
    version = version or installed_version()
    if version == "2.0.0b3":
        return "b3"
    match = re.match(r"^(\d+)\.(\d+)", version)
    major, minor = (int(match[1]), int(match[2])) if match else (0, 0)
    if major == 2 and minor >= 3:
        return "current"
    if major > 2:
        raise DeployError(f"azure-ai-projects {version} is newer than this tool knows; {INSTALL}")
    # 2.0.0b4 .. 2.2.x: hosted agents were preview-only and changed shape in every release.
    raise DeployError(
        f"azure-ai-projects {version} has a hosted-agent API this tool does not speak; {INSTALL}"
    )
