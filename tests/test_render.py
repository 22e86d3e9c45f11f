"""Rendered projects install, pass their own tests and lint, and reflect the answers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import check_project, render, run

LONG_NAME = ("9a-" * 21)[:62] + "z"  # digit first: the package is agent_<name>, 69 characters
assert len(LONG_NAME) == 63

MATRIX: dict[str, dict[str, Any]] = {
    "smallest": {
        "agent_name": "a",
        "description": 'Says "hi" \\ and {{ braces }} back',
        "python_version": "3.11",
        "resources": "0.5/1Gi",
        "code_interpreter": True,
    },
    "hosted-tools": {
        "agent_name": "my-agent-2",
        "python_version": "3.13",
        "resources": "2/4Gi",
        "acr_name": "myregistry01",
        "file_search_vector_store_ids": "vs_abc, vs_def",
        "mcp_servers": {"github": "https://api.githubcopilot.com/mcp/"},
        "tools": [
            {
                "type": "mcp",
                "server_label": "docs",
                "server_url": "https://learn.microsoft.com/api/mcp",
                "require_approval": "never",
                "allowed_tools": ["search"],
            }
        ],
        "environment_variables": {
            "LOG_LEVEL": "info",
            "MAX_TOKENS": 800,
            "FEATURE_X": True,
            "SEARCH_API_KEY": "${{connections.search.credentials.key}}",
        },
    },
    "function-tools": {
        "agent_name": LONG_NAME,
        "function_tools": {"get_weather": "Current weather for a city"},
        "tools": [{"type": "function", "name": "lookup_order", "description": "Find an order"}],
    },
    "langgraph": {
        "agent_name": "graph-agent",
        "agent_framework": "langgraph",
        "function_tools": {"get_weather": "Current weather for a city"},
    },
    "agent-framework": {
        "agent_name": LONG_NAME[:-1] + "f",
        "agent_framework": "agent-framework",
        "function_tools": {"get_weather": "Current weather for a city"},
    },
}
FRAMEWORK_PACKAGES = {
    "none": [],
    "langgraph": ["langgraph", "langchain-openai"],
    "agent-framework": ["agent-framework-core", "agent-framework-openai"],
}


def manifest(project: Path) -> dict[str, Any]:
    """azure.yaml's agent service, with its key as `name`."""
    data = yaml.safe_load((project / "azure.yaml").read_text())
    assert not (project / "agent.yaml").exists()
    [(name, service)] = data["services"].items()
    assert service["host"] == "azure.ai.agent"
    return {"name": name, **service}


def test_defaults_install_with_plain_pip_and_pass(tmp_path: Path) -> None:
    project = render(tmp_path / "x")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    run([str(venv / "bin" / "pip"), "install", "--quiet", "-e", ".[dev]"], cwd=project)
    run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=project)
    assert manifest(project)["name"] == "my-agent"


@pytest.mark.parametrize("variant", MATRIX)
def test_variant_passes_its_own_tests_and_lint(tmp_path: Path, variant: str) -> None:
    answers = MATRIX[variant]
    project = render(tmp_path / variant, answers)
    check_project(project)
    data = manifest(project)
    cpu, memory = answers.get("resources", "1/2Gi").split("/")
    assert data["name"] == answers["agent_name"]
    assert data["description"] == answers.get("description", "A hosted agent for Azure AI Foundry.")
    assert data["container"] == {"resources": {"cpu": cpu, "memory": memory}}
    assert data["protocols"] == [{"protocol": "responses", "version": "2.0.0"}]
    framework = answers.get("agent_framework", "none")
    lock = (project / "requirements.lock").read_text()
    for framework_packages in FRAMEWORK_PACKAGES.values():
        for name in framework_packages:
            assert (f"\n{name}==" in lock) == (name in FRAMEWORK_PACKAGES[framework]), name


def test_manifest_lists_every_tool_kind(tmp_path: Path) -> None:
    project = render(tmp_path / "p", MATRIX["hosted-tools"])
    data = manifest(project)
    assert data["tools"] == [
        {"type": "file_search", "vector_store_ids": ["vs_abc", "vs_def"]},
        {"type": "mcp", "server_label": "github", "server_url": "https://api.githubcopilot.com/mcp/"},
        MATRIX["hosted-tools"]["tools"][0],
    ]
    assert data["env"] == {
        "MODEL_DEPLOYMENT_NAME": "gpt-4.1-mini",
        "LOG_LEVEL": "info",
        "MAX_TOKENS": "800",
        "FEATURE_X": "true",
        "SEARCH_API_KEY": "${{connections.search.credentials.key}}",
    }
    assert data["docker"] == {"remoteBuild": True, "image": "my-agent-2", "registry": "myregistry01.azurecr.io"}


def test_each_function_tool_gets_a_stub_module(tmp_path: Path) -> None:
    project = render(tmp_path / "p", MATRIX["function-tools"])
    tools = project / "src" / ("agent_" + LONG_NAME.replace("-", "_")) / "tools"
    assert sorted(p.name for p in tools.glob("*.py")) == [
        "__init__.py",
        "get_weather.py",
        "lookup_order.py",
    ]
    assert "def get_weather(" in (tools / "get_weather.py").read_text()
    names = [t["name"] for t in manifest(project)["tools"]]
    assert names == ["get_weather", "lookup_order"]


def test_package_name_of_a_digit_led_agent_is_importable(tmp_path: Path) -> None:
    project = render(tmp_path / "p", {"agent_name": "2fast"})
    assert (project / "src" / "agent_2fast" / "agent.py").exists()
