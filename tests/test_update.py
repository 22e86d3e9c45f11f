"""`copier update` applies template changes and keeps every customisation."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import helpers
import pytest
import yaml
from helpers import TEMPLATE, copier

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(cwd: Path, *args: str) -> str:
    import os

    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert result.returncode == 0, result.stderr
    return result.stdout


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)


def copy_checkout(repo: Path) -> None:
    """Copy this checkout's files (uncommitted changes included, ignored files left out)."""
    listed = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)


def template_repo(tmp_path: Path) -> Path:
    """This checkout's template (with uncommitted changes) as a fresh repo tagged v0.1.0."""
    repo = tmp_path / "template-repo"
    copy_checkout(repo)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "v0.1.0", tag="v0.1.0")
    return repo


def all_text(project: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in project.rglob("*") if p.is_file() and ".git" not in p.parts)


@pytest.fixture
def scenario(tmp_path: Path, copier_bin: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A template at v0.1.0 and a project copied from it and committed.

    Every copier call in these tests runs once with the latest Copier and once with
    the oldest release copier.yml allows.
    """
    monkeypatch.setattr(helpers, "DEFAULT_COPIER", copier_bin)
    repo = template_repo(tmp_path)
    project = tmp_path / "project"
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "-d",
        "function_tools={get_weather: Current weather for a city}",
        str(repo),
        str(project),
    )
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated")
    return repo, project


USER_AGENT = '''"""My agent, my rules."""

from collections.abc import AsyncIterator

from .hosting import Output, Turn


async def agent(turn: Turn) -> AsyncIterator[Output]:
    yield "Custom: " + turn.user_text
'''
USER_TOOL = '''def get_weather(query: str) -> str:
    """Current weather for a city."""
    return f"Sunny in {query}"
'''


def customise(project: Path) -> dict[Path, str]:
    """Edit the agent and its tool, add a tool and a file of our own; commit. Returns the edits."""
    package = project / "src" / "my_agent"
    edits = {
        package / "agent.py": USER_AGENT,
        package / "tools" / "get_weather.py": USER_TOOL,
        package / "tools" / "convert_units.py": "def convert_units(query: str) -> str:\n    return query\n",
        package / "prompts.py": 'SYSTEM = "Be brief."\n',
        project / "tests" / "test_agent.py": "def test_mine() -> None:\n    assert True\n",
        project / "NOTES.md": "My notes.\n",
    }
    for path, text in edits.items():
        path.write_text(text)
    commit_all(project, "customised")
    return edits


def change_template(repo: Path, tag: str) -> str:
    """Change a template-owned file and tag a new version; returns the added line."""
    line = f"# Changed in {tag}.\n"
    settings = repo / "template" / "src" / "{{package_name}}" / "hosting" / "settings.py"
    settings.write_text(settings.read_text() + line)
    commit_all(repo, tag, tag=tag)
    return line


def assert_clean_merge(project: Path) -> None:
    assert not re.search(r"^<<<<<<< ", all_text(project), re.MULTILINE)
    assert not list(project.rglob("*.rej"))


def test_update_applies_template_change_and_keeps_user_edits(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    edits = customise(project)
    line = change_template(repo, "v0.2.0")

    copier("update", "--trust", "--defaults", "--quiet", cwd=project)

    assert (project / "src" / "my_agent" / "hosting" / "settings.py").read_text().endswith(line)
    for path, text in edits.items():
        assert path.read_text() == text, path
    assert_clean_merge(project)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"


def test_changed_tools_answer_updates_manifest_and_adds_stub_only(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    edits = customise(project)

    copier(
        "update",
        "--trust",
        "--defaults",
        "--quiet",
        "-d",
        "function_tools={get_weather: Current weather for a city, get_time: The time now}",
        cwd=project,
    )

    tools = yaml.safe_load((project / "azure.yaml").read_text())["services"]["my-agent"]["tools"]
    assert sorted(t["name"] for t in tools) == ["get_time", "get_weather"]
    stub = project / "src" / "my_agent" / "tools" / "get_time.py"
    assert "def get_time(" in stub.read_text()
    for path, text in edits.items():
        assert path.read_text() == text, path
    assert_clean_merge(project)


def test_removing_a_tool_from_the_answers_keeps_its_module(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    edits = customise(project)

    copier("update", "--trust", "--defaults", "--quiet", "-d", "function_tools={}", cwd=project)

    assert yaml.safe_load((project / "azure.yaml").read_text())["services"]["my-agent"]["tools"] == []
    for path, text in edits.items():
        assert path.read_text() == text, path


def test_hand_edit_of_azure_yaml_survives_an_update(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    manifest = project / "azure.yaml"
    model = "      MODEL_DEPLOYMENT_NAME: gpt-4.1-mini\n"
    manifest.write_text(manifest.read_text().replace(model, model + "      LOG_LEVEL: debug\n"))
    commit_all(project, "hand edit")
    change_template(repo, "v0.2.0")

    copier("update", "--trust", "--defaults", "--quiet", cwd=project)

    assert "LOG_LEVEL: debug" in manifest.read_text()
    assert_clean_merge(project)


def test_refused_update_leaves_the_project_as_it_was(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    customise(project)
    change_template(repo, "v0.2.0")
    before = git(project, "rev-parse", "HEAD")

    result = copier(
        "update",
        "--trust",
        "--defaults",
        "--quiet",
        "-d",
        "environment_variables={API_KEY: x}",
        cwd=project,
        check=False,
    )

    assert result.returncode != 0
    assert "for secret API_KEY" in result.stderr
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == before


# The last commit whose template wrote agent.yaml (main before azure.yaml), as v0.1.0.
AGENT_YAML_COMMIT = "6051d22792107add8c26708467fb1bc9db67f066"


def test_agent_yaml_moves_into_azure_yaml_with_every_edit(
    tmp_path: Path, copier_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "DEFAULT_COPIER", copier_bin)
    if subprocess.run(["git", "cat-file", "-e", AGENT_YAML_COMMIT], cwd=TEMPLATE).returncode:
        pytest.skip(f"this checkout lacks commit {AGENT_YAML_COMMIT[:7]} (a shallow clone?)")
    repo = tmp_path / "template-repo"
    repo.mkdir()
    archive = subprocess.run(["git", "archive", AGENT_YAML_COMMIT], cwd=TEMPLATE, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "v0.1.0", tag="v0.1.0")
    project = tmp_path / "project"
    tools = "function_tools={get_weather: Weather}"
    copier("copy", "--trust", "--defaults", "--quiet", "-d", tools, str(repo), str(project))
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated")
    old = project / "agent.yaml"
    old.write_text(
        old.read_text()
        .replace("description: A hosted agent for Azure AI Foundry.", "description: Knows the weather.")
        .replace("environment_variables: {}", "environment_variables:\n  LOG_LEVEL: debug\n  RETRIES: 3")
        .replace("  acr_name: ''", "  acr_name: shopacr")
        + "- type: mcp\n  server_label: docs\n  server_url: https://learn.microsoft.com/api/mcp\n"
        + "  require_approval: never\n"
    )
    commit_all(project, "hand edits")
    git(repo, "rm", "-rq", ".")
    fresh = template_repo(tmp_path / "current")
    shutil.copytree(fresh, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    commit_all(repo, "v0.2.0", tag="v0.2.0")

    copier("update", "--trust", "--defaults", "--quiet", cwd=project)

    assert not old.exists()
    data = yaml.safe_load((project / "azure.yaml").read_text())
    service = data["services"]["my-agent"]
    assert service["host"] == "azure.ai.agent"
    assert service["description"] == "Knows the weather."
    assert service["env"] == {"MODEL_DEPLOYMENT_NAME": "gpt-4.1-mini", "LOG_LEVEL": "debug", "RETRIES": "3"}
    assert service["docker"]["registry"] == "shopacr.azurecr.io"
    assert service["protocols"] == [{"protocol": "responses", "version": "2.0.0"}]
    assert [tool.get("name") or tool["server_label"] for tool in service["tools"]] == ["get_weather", "docs"]
    assert_clean_merge(project)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"


# The last template that asked `protocol_version` (its default was 1.0.0): main before 0.2.0.
ASKED_PROTOCOL_VERSION = "6051d22792107add8c26708467fb1bc9db67f066"
PROTOCOL_NOTICE = "protocol_version 1.0.0 -> 2.0.0: the platform blocks protocol 1.0.0 since 2026-07-31"


def replace_with_checkout(repo: Path) -> None:
    """Make the repo's work tree this checkout's template (uncommitted changes included)."""
    for name in filter(None, git(repo, "ls-files", "-z").split("\0")):
        (repo / name).unlink()
    copy_checkout(repo)


def test_project_on_protocol_1_0_0_moves_to_2_0_0_with_one_line(
    tmp_path: Path, copier_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "DEFAULT_COPIER", copier_bin)
    repo = tmp_path / "template-repo"
    repo.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ASKED_PROTOCOL_VERSION], cwd=TEMPLATE, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "v0.1.0", tag="v0.1.0")
    project = tmp_path / "project"
    old_answers = {"protocol_version": "1.0.0", "environment_variables": {"SEARCH_URL": "${{connections.s.target}}"}}
    data = tmp_path / "old-answers.yml"
    data.write_text(yaml.safe_dump(old_answers))
    copier("copy", "--trust", "--defaults", "--quiet", "--data-file", str(data), str(repo), str(project))
    assert "protocol_version: 1.0.0" in (project / "agent.yaml").read_text()
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated")
    replace_with_checkout(repo)
    commit_all(repo, "v0.2.0", tag="v0.2.0")

    # The README's command (--defaults: questions new since then, e.g. agent_framework, take theirs)
    result = copier("update", "--trust", "--skip-answered", "--defaults", "--quiet", cwd=project)

    said = [line for line in (result.stdout + result.stderr).splitlines() if "1.0.0" in line]
    assert said == [PROTOCOL_NOTICE]
    assert not (project / "agent.yaml").exists()
    service = yaml.safe_load((project / "azure.yaml").read_text())["services"]["my-agent"]
    assert service["protocols"] == [{"protocol": "responses", "version": "2.0.0"}]
    assert service["env"] == {"MODEL_DEPLOYMENT_NAME": "gpt-4.1-mini", **old_answers["environment_variables"]}
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"
    assert "protocol_version" not in answers
    assert_clean_merge(project)

    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "updated")
    again = copier("update", "--trust", "--skip-answered", "--defaults", "--quiet", "--vcs-ref", "v0.2.0", cwd=project)
    assert "1.0.0" not in again.stdout + again.stderr  # said once, on the update that moved it


CONFLICTS = TEMPLATE / "migrations" / "check_conflicts.py"


def test_update_that_leaves_conflict_markers_fails_and_names_them(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    settings = project / "src" / "my_agent" / "hosting" / "settings.py"
    settings.write_text(settings.read_text() + "MINE = 1\n")
    commit_all(project, "edit a template file where the template changes too")
    change_template(repo, "v0.2.0")

    result = copier("update", "--trust", "--defaults", "--quiet", cwd=project, check=False)

    assert result.returncode != 0
    assert "error: resolve the conflicts the update left, then git add -A:\n  src/my_agent/hosting/settings.py\n" in (
        result.stderr
    )
    assert "git reset --hard && git clean -fd" in result.stderr
    check = [sys.executable, str(CONFLICTS)]
    assert subprocess.run(check, cwd=project, capture_output=True).returncode == 1  # while markers remain
    lines = settings.read_text().splitlines(keepends=True)
    settings.write_text("".join(line for line in lines if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))))
    assert subprocess.run(check, cwd=project, capture_output=True).returncode == 0


def test_changing_the_framework_adds_it_and_says_how_to_switch_agent_py(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    edits = customise(project)
    package = project / "src" / "my_agent"

    result = copier("update", "--trust", "--defaults", "-d", "agent_framework=langgraph", cwd=project)

    assert (package / "agentkit" / "langgraph_adapter.py").is_file()
    assert '"langgraph>=' in (project / "pyproject.toml").read_text()
    assert "\nlanggraph==" in (project / "requirements.lock").read_text()
    for path, text in edits.items():
        assert path.read_text() == text, path
    assert_clean_merge(project)
    notes = [line for line in (result.stdout + result.stderr).splitlines() if "agent_framework is now" in line]
    assert len(notes) == 1, result.stdout + result.stderr
    assert "src/my_agent/agent.py" in notes[0]

    # What the line says: set agent.py aside, commit, update again.
    commit_all(project, "langgraph")
    git(project, "mv", "src/my_agent/agent.py", "src/my_agent/agent_before.py")
    commit_all(project, "agent.py aside")
    result = copier("update", "--trust", "--defaults", cwd=project)
    assert "run_graph(build_graph, turn)" in (package / "agent.py").read_text()
    assert "agent_framework is now" not in result.stdout + result.stderr
