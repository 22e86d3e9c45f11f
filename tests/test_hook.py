"""The manifest hook is deterministic, idempotent, and never touches user code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TEMPLATE, render

HOOK = TEMPLATE / "hooks" / "write_manifest.py"
TOOLS = {"function_tools": {"get_weather": "Weather", "get_time": "Time"}}


def run_hook(project: Path, operation: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HOOK), ".copier-answers.yml", operation],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for p in project.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("hook") / "p", TOOLS)


def test_running_twice_gives_the_same_bytes(project: Path) -> None:
    before = snapshot(project)
    assert run_hook(project, "update").returncode == 0
    assert run_hook(project, "update").returncode == 0
    assert snapshot(project) == before


def test_temporary_renders_get_no_tool_stubs(project: Path, tmp_path: Path) -> None:
    """Outside a git work tree, as in Copier's temp renders during update, no stubs appear."""
    tools = project / "src" / "my_agent" / "tools"
    for stub in ("get_weather.py", "get_time.py"):
        (tools / stub).unlink()
    assert run_hook(project, "update").returncode == 0
    assert sorted(p.name for p in tools.glob("*.py")) == ["__init__.py"]
    assert run_hook(project, "copy").returncode == 0
    assert sorted(p.name for p in tools.glob("*.py")) == ["__init__.py", "get_time.py", "get_weather.py"]


def test_existing_tool_module_is_never_overwritten(project: Path) -> None:
    mine = project / "src" / "my_agent" / "tools" / "get_weather.py"
    mine.write_text("def get_weather(query: str) -> str:\n    return 'mine'\n")
    assert run_hook(project, "copy").returncode == 0
    assert "'mine'" in mine.read_text()


def test_hand_broken_answers_are_refused_with_one_line(project: Path) -> None:
    answers = project / ".copier-answers.yml"
    original = answers.read_text()
    answers.write_text(original.replace("environment_variables: {}", "environment_variables: {PORT: '1'}"))
    manifest_before = (project / "azure.yaml").read_bytes()
    try:
        result = run_hook(project, "copy")
    finally:
        answers.write_text(original)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: remove PORT: the platform sets it; declaring it breaks readiness"
    ]
    assert (project / "azure.yaml").read_bytes() == manifest_before
