"""Bad answers fail before anything is written, with a message naming the entry and the fix.

The same cases go through the run-time rules (hosting/manifest.py), so Copier's
validators and the rules the hook, the server and deploy.py use cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helpers import TEMPLATE, copier, render

RULES_PATH = TEMPLATE / "template" / "src" / "{{package_name}}" / "hosting" / "manifest.py"

# (answers, words the message must contain); every entry here must be refused.
BAD: list[tuple[dict[str, Any], str]] = [
    ({"agent_name": "My_Agent"}, "agent_name 'My_Agent': use 1-63 lowercase"),
    ({"agent_name": "-agent"}, "starting and ending with a letter or digit"),
    ({"agent_name": "agent-"}, "starting and ending with a letter or digit"),
    ({"agent_name": "a" * 64}, "use 1-63 lowercase"),
    ({"package_name": "my-pkg"}, "package_name 'my-pkg'"),
    ({"package_name": "import"}, "reserved word"),
    ({"model_deployment": "gpt 4"}, "model_deployment 'gpt 4'"),
    ({"acr_name": "acr"}, "acr_name 'acr': use 5-50 letters and digits"),
    ({"acr_name": "my-registry"}, "acr_name 'my-registry'"),
    ({"image_repository": "My/Repo"}, "image_repository 'My/Repo'"),
    ({"python_version": "3.9"}, "3.9"),
    ({"resources": "1/4Gi"}, "1/4Gi"),
    ({"file_search_vector_store_ids": "vs 1"}, "vector store id 'vs 1'"),
    ({"file_search_vector_store_ids": "vs_1,vs_1"}, "'vs_1' is listed twice"),
    ({"mcp_servers": {"github": "http://example.com/mcp"}}, "mcp_servers.github: server_url"),
    ({"mcp_servers": {"9lives": "https://example.com"}}, "server_label '9lives'"),
    ({"mcp_servers": ["https://example.com"]}, "mcp_servers: give a mapping"),
    ({"function_tools": {"Get-Weather": "x"}}, "function name 'Get-Weather'"),
    ({"function_tools": {"class": "x"}}, "function name 'class'"),
    ({"function_tools": {"f": {"nested": 1}}}, "function_tools.f: the description"),
    ({"tools": {"type": "mcp"}}, "tools: give a YAML list"),
    ({"tools": [{"type": "web_search"}]}, "tools[0]: each tool needs a type"),
    ({"tools": [{"type": "file_search"}]}, "tools[0]: file_search needs vector_store_ids"),
    ({"tools": [{"type": "mcp", "server_label": "x", "server_url": "ftp://x"}]}, "server_url 'ftp://x'"),
    (
        {"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x", "require_approval": "maybe"}]},
        "require_approval",
    ),
    (
        {"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x", "allowed_tools": "a"}]},
        "allowed_tools",
    ),
    (
        {
            "mcp_servers": {"gh": "https://a"},
            "tools": [{"type": "mcp", "server_label": "gh", "server_url": "https://b"}],
        },
        "server_label 'gh' is used twice",
    ),
    (
        {"function_tools": {"f": "x"}, "tools": [{"type": "function", "name": "f"}]},
        "function 'f' is defined twice",
    ),
    ({"code_interpreter": True, "tools": [{"type": "code_interpreter"}]}, "code_interpreter is listed twice"),
    ({"environment_variables": ["A=1"]}, "environment_variables: give a mapping"),
    ({"environment_variables": {"FOUNDRY_PROJECT_ENDPOINT": "https://x"}}, "FOUNDRY_PROJECT_ENDPOINT: reserved"),
    ({"environment_variables": {"AGENT_MODE": "x"}}, "AGENT_MODE: reserved"),
    ({"environment_variables": {"PORT": "8080"}}, "PORT: reserved"),
    ({"environment_variables": {"MODEL_DEPLOYMENT_NAME": "gpt"}}, "model_deployment sets MODEL_DEPLOYMENT_NAME"),
    ({"environment_variables": {"APPLICATIONINSIGHTS_CONNECTION_STRING": "x"}}, "reserved"),
    ({"environment_variables": {"1ST": "x"}}, "1ST: invalid name"),
    ({"environment_variables": {"MY-VAR": "x"}}, "MY-VAR: invalid name"),
    ({"environment_variables": {"Level": "1", "LEVEL": "2"}}, "duplicate name (names differ only in case)"),
    ({"environment_variables": {"OPENAI_API_KEY": "x"}}, "looks like a secret; keep secrets in Azure Key Vault"),
    ({"environment_variables": {"CLIENT_SECRET": "x"}}, "looks like a secret"),
    ({"environment_variables": {"DB_PASSWORD": "x"}}, "looks like a secret"),
    ({"environment_variables": {"GITHUB_TOKEN": "x"}}, "looks like a secret"),
    (
        {"environment_variables": {"STORAGE": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b=="}},
        "looks like a key or connection string",
    ),
    ({"environment_variables": {"DB_URL": "postgres://user:pw@db:5432/x"}}, "key or connection string"),
    ({"environment_variables": {"X": "sk-abcdefghijklmnopqrstuvwx"}}, "key or connection string"),
    ({"environment_variables": {"X": "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRg=="}}, "key or connection string"),
    ({"environment_variables": {"X": {"nested": 1}}}, "the value must be plain text"),
]

GOOD_ENVIRONMENTS: list[dict[str, Any]] = [
    {"LOG_LEVEL": "debug", "MAX_TOKENS": 512, "KEYVAULT_URL": "https://kv.vault.azure.net/"},
    {"CLIENT_ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "TIMEOUT_SECONDS": 30.5, "DRY": False},
    {"GREETING": "Hello, world! This is a long sentence of plain words."},
]


def load_rules() -> ModuleType:
    spec = importlib.util.spec_from_file_location("template_manifest_rules", RULES_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


RULES = load_rules()


def default_answers() -> dict[str, Any]:
    """The answers `--defaults` gives, as the hook reads them from the answers file."""
    return {
        "agent_name": "my-agent",
        "description": "d",
        "package_name": "my_agent",
        "model_deployment": "gpt-4.1-mini",
        "resources": "1/2Gi",
        "protocol_version": "1.0.0",
        "acr_name": "",
        "image_repository": "my-agent",
        "code_interpreter": False,
        "file_search_vector_store_ids": "",
        "mcp_servers": {},
        "function_tools": {},
        "tools": [],
        "environment_variables": {},
    }


@pytest.mark.parametrize(("answers", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_answer_fails_with_its_message_and_leaves_nothing(
    tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    data = tmp_path / "answers.yml"
    data.write_text(yaml.safe_dump(answers))
    dst = tmp_path / "project"
    result = copier(
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "--vcs-ref=HEAD",
        "--data-file",
        str(data),
        str(TEMPLATE),
        str(dst),
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr.splitlines()[-1]
    assert not dst.exists()


RUNTIME_CHECKED = [
    (answers, message)
    for answers, message in BAD
    if not set(answers) & {"package_name", "model_deployment", "acr_name", "image_repository", "python_version"}
]


@pytest.mark.parametrize(("answers", "message"), RUNTIME_CHECKED, ids=[m for _, m in RUNTIME_CHECKED])
def test_run_time_rules_refuse_the_same_answers(answers: dict[str, Any], message: str) -> None:
    with pytest.raises(RULES.ManifestError):
        RULES.manifest_from_answers({**default_answers(), **answers})


@pytest.mark.parametrize("variables", GOOD_ENVIRONMENTS)
def test_plain_environment_variables_pass_both_checks(tmp_path: Path, variables: dict[str, Any]) -> None:
    RULES.check_environment_variables(variables)
    project = render(tmp_path / "p", {"environment_variables": variables})
    [service] = yaml.safe_load((project / "azure.yaml").read_text())["services"].values()
    assert sorted(service["env"]) == sorted(["MODEL_DEPLOYMENT_NAME", *variables])


def test_http_mcp_url_is_allowed_for_localhost(tmp_path: Path) -> None:
    project = render(tmp_path / "p", {"mcp_servers": {"local": "http://localhost:8000/mcp"}})
    assert "http://localhost:8000/mcp" in (project / "azure.yaml").read_text()


def test_empty_registry_is_allowed_at_copy_time(tmp_path: Path) -> None:
    project = render(tmp_path / "p", {"acr_name": ""})
    [service] = yaml.safe_load((project / "azure.yaml").read_text())["services"].values()
    assert "registry" not in service["docker"]  # azd falls back to AZURE_CONTAINER_REGISTRY_ENDPOINT


def test_copy_without_trust_exits_4_and_writes_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "project"
    result = copier("copy", "--defaults", "--quiet", "--vcs-ref=HEAD", str(TEMPLATE), str(dst), check=False)
    assert result.returncode == 4
    assert "unsafe" in result.stderr
    assert not dst.exists()
