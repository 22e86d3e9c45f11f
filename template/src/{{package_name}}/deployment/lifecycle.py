"""What the sync and async operations share: the routing body, status reading, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import DeployError, known, one_line

Progress = Callable[[str, str, float], None]  # (version, status, seconds elapsed)
SMOKE_INPUT = "Reply with one short sentence: are you up?"


def route_body(version: str) -> dict[str, Any]:
    """The merge-patch that sends all traffic to one version (update_details)."""
    rule = {"agent_version": version, "traffic_percentage": 100, "type": "FixedRatio"}
    return {
        "agent_endpoint": {
            "version_selector": {"version_selection_rules": [rule]},
            "protocol_configuration": {"responses": {}},
        }
    }


def status(details: Any) -> str | None:
    """The version's status; None when the service reports none (counted as created)."""
    value = details.get("status")
    return str(value) if value is not None else None


def check_settled(details: Any, elapsed: float, timeout: float) -> bool:
    """True once the version is active; a DeployError when it failed or time ran out."""
    state = status(details)
    version = details.get("version")
    if state in (None, "active"):
        return True
    if state == "failed":
        error = details.get("error") or {}
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        said = one_line(f"{code}: {message}" if code and message else code or message)
        fix = known(code, message) or "read the container logs in the Foundry portal"
        raise DeployError(f"version {version} failed{f' ({said})' if said else ''}: {fix}")
    if state in ("deleting", "deleted"):
        raise DeployError(f"version {version} is {state}; deploy again")
    if elapsed >= timeout:
        raise DeployError(
            f"version {version} is still {state} after {elapsed:.0f}s; "
            f"check it later with `python deploy.py show {version}` or raise --timeout"
        )
    return False


def smoke_text(output_text: str) -> str:
    """The smoke reply, or a DeployError when the agent answered nothing."""
    if not output_text.strip():
        raise DeployError(
            'the smoke request got an empty reply; run `python deploy.py invoke "hello"` '
            "and read the container logs"
        )
    return one_line(output_text, 200)
