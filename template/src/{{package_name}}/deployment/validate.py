"""Checks made before anything is sent: each problem is one line with its fix."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

ENDPOINT_VARIABLES = ("FOUNDRY_PROJECT_ENDPOINT", "AZURE_AI_PROJECT_ENDPOINT")
ENDPOINT = re.compile(r"^https://[^\s/?#@]+/api/projects/[^\s/?#]+/?$")
ENDPOINT_FORM = "https://<account>.services.ai.azure.com/api/projects/<project>"
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
BLOCKED_PROTOCOL = "1.0.0"
# SessionConfiguration.idle_timeout_seconds. The REST API (azure-ai-projects 2.10.0, generated
# from the service's spec) says 120-14400; azd's azure.yaml schema says 300-3600. Which one the
# service enforces is unverified: deploy.py talks to the REST API, so it checks the API's range.
IDLE_TIMEOUT_RANGE = (120, 14400)


def endpoint(given: str | None) -> tuple[str, list[str]]:
    """The project endpoint from --endpoint or the environment, and its problems."""
    value = given or next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), "")
    if not value:
        return "", [
            f"no project endpoint: set FOUNDRY_PROJECT_ENDPOINT={ENDPOINT_FORM} or pass --endpoint"
        ]
    if not ENDPOINT.match(value):
        return value, [f"endpoint '{value}' is not a project endpoint; use {ENDPOINT_FORM}"]
    return value.rstrip("/"), []


def metadata(pairs: Mapping[str, str]) -> list[str]:
    """Problems with version metadata: at most 16 pairs, keys <= 64, values <= 512 characters."""
    problems = []
    if len(pairs) > METADATA_PAIRS:
        problems.append(f"metadata has {len(pairs)} pairs; keep at most {METADATA_PAIRS}")
    for key, value in pairs.items():
        if not key or len(key) > METADATA_KEY:
            problems.append(f"metadata key '{key[:70]}': use 1-{METADATA_KEY} characters")
        if len(value) > METADATA_VALUE:
            problems.append(
                f"metadata '{key}': the value has {len(value)} characters; "
                f"keep at most {METADATA_VALUE}"
            )
    return problems


def metadata_pairs(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Parse repeated --metadata KEY=VALUE options."""
    pairs: dict[str, str] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            problems.append(f"--metadata '{item}': write KEY=VALUE")
        else:
            pairs[key.strip()] = value
    return pairs, problems


def protocol(version: str) -> list[str]:
    """Problems with the protocol version azure.yaml declares."""
    if version == BLOCKED_PROTOCOL:
        return [
            f"protocol version {version}: the platform blocks protocol 1.0.0 since 2026-07-31; "
            "set version: 2.0.0 under protocols in azure.yaml"
        ]
    return []


def idle_timeout(seconds: int | None) -> list[str]:
    """Problems with --idle-timeout."""
    low, high = IDLE_TIMEOUT_RANGE
    if seconds is not None and not low <= seconds <= high:
        return [f"--idle-timeout {seconds}: use {low}-{high} seconds (the service default is 900)"]
    return []
