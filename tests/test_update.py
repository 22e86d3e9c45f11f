"""`copier update` applies template changes and keeps every customisation."""

from __future__ import annotations

import shutil
import subprocess
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


def template_repo(tmp_path: Path) -> Path:
    """This checkout's template (with uncommitted changes) as a fresh repo tagged v0.1.0."""
    repo = tmp_path / "template-repo"
    listed = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
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
    assert "<<<<<<<" not in all_text(project)
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

    tools = yaml.safe_load((project / "agent.yaml").read_text())["tools"]
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

    assert yaml.safe_load((project / "agent.yaml").read_text())["tools"] == []
    for path, text in edits.items():
        assert path.read_text() == text, path


def test_hand_edit_of_agent_yaml_survives_an_update(scenario: tuple[Path, Path]) -> None:
    repo, project = scenario
    manifest = project / "agent.yaml"
    manifest.write_text(
        manifest.read_text().replace("environment_variables: {}", "environment_variables:\n  LOG_LEVEL: debug")
    )
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
    assert "API_KEY: looks like a secret" in result.stderr
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == before


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
