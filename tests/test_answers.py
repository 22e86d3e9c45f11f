"""Bad answers fail before anything is written, with a message naming the entry and the fix.

The same cases go through the run-time rules (hosting/manifest.py), so Copier's
validators and the rules the hook, the server and deploy.py use cannot drift apart.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import helpers
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
    ({"environment_variables": ["A=1"]}, "give environment_variables as `NAME: value` pairs"),
    (
        {"environment_variables": {"FOUNDRY_PROJECT_ENDPOINT": "https://x"}},
        "rename FOUNDRY_PROJECT_ENDPOINT: FOUNDRY_* and AGENT_* names are the platform's",
    ),
    ({"environment_variables": {"AGENT_MODE": "x"}}, "rename AGENT_MODE: FOUNDRY_* and AGENT_*"),
    ({"environment_variables": {"PORT": "8080"}}, "remove PORT: the platform sets it; declaring it breaks readiness"),
    ({"environment_variables": {"HOME": "/tmp"}}, "remove HOME: the platform sets it to /home/session"),
    ({"environment_variables": {"MODEL_DEPLOYMENT_NAME": "gpt"}}, "the model_deployment answer sets it"),
    (
        {"environment_variables": {"APPLICATIONINSIGHTS_CONNECTION_STRING": "x"}},
        "remove APPLICATIONINSIGHTS_CONNECTION_STRING: the platform sets it",
    ),
    ({"environment_variables": {"1ST": "x"}}, "rename 1ST: use letters, digits and _"),
    ({"environment_variables": {"MY-VAR": "x"}}, "rename MY-VAR:"),
    ({"environment_variables": {"LEVEL": "2", "Level": "1"}}, "keep one of LEVEL and Level: names differ only in case"),
    (
        {"environment_variables": {"SEARCH_API_KEY": "abc123def456ghi789"}},
        "use ${{connections.<name>.credentials.<field>}} for secret SEARCH_API_KEY",
    ),
    ({"environment_variables": {"OPENAI_API_KEY": "x"}}, "for secret OPENAI_API_KEY"),
    ({"environment_variables": {"CLIENT_SECRET": "x"}}, "for secret CLIENT_SECRET"),
    ({"environment_variables": {"DB_PASSWORD": "x"}}, "for secret DB_PASSWORD"),
    ({"environment_variables": {"GITHUB_TOKEN": "x"}}, "for secret GITHUB_TOKEN"),
    ({"environment_variables": {"STORAGE_KEY_2": "x"}}, "for secret STORAGE_KEY_2"),
    ({"environment_variables": {"SB_CONNECTION_STRING": "x"}}, "for secret SB_CONNECTION_STRING"),
    (
        {"environment_variables": {"SEARCH_API_KEY": "${{connections.search.credential.key}}"}},
        "for secret SEARCH_API_KEY",
    ),
    (
        {"environment_variables": {"STORAGE": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b=="}},
        "use ${{connections.<name>.credentials.<field>}} for STORAGE's secret",
    ),
    ({"environment_variables": {"DB_URL": "postgres://user:pw@db:5432/x"}}, "for DB_URL's secret"),
    ({"environment_variables": {"X": "sk-abcdefghijklmnopqrstuvwx"}}, "for X's secret"),
    ({"environment_variables": {"X": "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRg=="}}, "for X's secret"),
    ({"environment_variables": {"X": {"nested": 1}}}, "give X one line of text, a number or true/false"),
]
ENVIRONMENT_REFUSALS = [(a, m) for a, m in BAD if "environment_variables" in a]


GOOD_ENVIRONMENTS: list[dict[str, Any]] = [
    {"LOG_LEVEL": "debug", "MAX_TOKENS": 512, "KEYVAULT_URL": "https://kv.vault.azure.net/"},
    {"KEY_VAULT_URL": "https://kv.vault.azure.net/", "MONKEY": "banana", "TOKEN_LIMIT": 4000, "SECRET_NAME": "db"},
    {
        "SEARCH_API_KEY": "${{connections.search.credentials.key}}",
        "SEARCH_ENDPOINT": "${{connections.search.target}}",
        "SEARCH_INDEX": "${{connections.search.metadata.index_name}}",
        "SB_CONNECTION_STRING": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=${{connections.sb.credentials.key}}",
    },
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=${{connections.otel.credentials.key}}",
    },
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
    if "environment_variables" in answers:  # word for word what deploy.py and the hook say
        with pytest.raises(RULES.ManifestError) as refused:
            RULES.check_environment_variables(yaml.safe_load(data.read_text())["environment_variables"])
        assert result.stderr.splitlines()[-1].endswith(f"'environment_variables': {refused.value}")


RUNTIME_CHECKED = [
    (answers, message)
    for answers, message in BAD
    if not set(answers) & {"package_name", "model_deployment", "acr_name", "image_repository", "python_version"}
]


@pytest.mark.parametrize(("answers", "message"), RUNTIME_CHECKED, ids=[m for _, m in RUNTIME_CHECKED])
def test_run_time_rules_refuse_the_same_answers(answers: dict[str, Any], message: str) -> None:
    with pytest.raises(RULES.ManifestError):
        RULES.manifest_from_answers({**default_answers(), **answers})


@pytest.mark.parametrize(("answers", "message"), ENVIRONMENT_REFUSALS, ids=[m for _, m in ENVIRONMENT_REFUSALS])
def test_environment_refusal_is_the_same_short_line_in_copier_and_deploy(answers: dict[str, Any], message: str) -> None:
    """Copier cuts a validation message at the terminal's width: each fits in 80 columns."""
    with pytest.raises(RULES.ManifestError) as refused:
        RULES.check_environment_variables(answers["environment_variables"])
    assert message in str(refused.value)
    assert len(str(refused.value)) <= 80, str(refused.value)


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


def enter_through(command: list[str], timeout: float = 60) -> tuple[int | None, str]:
    """Run a command in a terminal and press Enter whenever it waits for input.

    Returns its exit code (None if it was still asking at the timeout) and what it printed.
    """
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "80", "LINES": "40"}
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown, deadline = b"", time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.4)[0]:
                try:
                    shown += os.read(leader, 65536)
                except OSError:  # the terminal closed: the command is ending
                    break
            else:
                os.write(leader, b"\r")  # quiet for a moment: it waits for an answer
        try:
            code: int | None = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return code, shown.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)


def test_pressing_enter_through_every_question_takes_the_defaults(tmp_path: Path) -> None:
    """Enter accepts each default; a multi-line prompt would add blank lines instead and never end."""
    dst = tmp_path / "project"
    command = [str(helpers.DEFAULT_COPIER), "copy", "--trust", "--vcs-ref=HEAD", str(TEMPLATE), str(dst)]
    code, shown = enter_through(command)
    assert code == 0, shown[-2000:]
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert answers["agent_name"] == "my-agent"
    for name, default in (("mcp_servers", {}), ("function_tools", {}), ("tools", []), ("environment_variables", {})):
        assert answers[name] == default, name
    service = yaml.safe_load((dst / "azure.yaml").read_text())["services"]["my-agent"]
    assert service["protocols"] == [{"protocol": "responses", "version": "2.0.0"}]
