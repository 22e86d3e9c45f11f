"""The update task's line about agent.py: printed only when agent.py does not fit the answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TEMPLATE

NOTE = TEMPLATE / "hooks" / "framework_note.py"
AGENTS = {
    "none": "from .agentkit.model_agent import model_agent\n",
    "langgraph": "from .agentkit.langgraph_adapter import run_graph\n",
    "agent-framework": "from .agentkit.agent_framework_adapter import run_agent\n",
    "own": "async def agent(turn):\n    yield 'mine'\n",
}


def note(tmp_path: Path, agent: str, answer: str) -> str:
    package = tmp_path / "src" / "my_agent"
    package.mkdir(parents=True)
    (package / "agent.py").write_text(AGENTS[agent])
    command = [sys.executable, str(NOTE), "my_agent", answer]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    ("agent", "answer"),
    [("none", "none"), ("own", "none"), ("langgraph", "langgraph"), ("agent-framework", "agent-framework")],
)
def test_no_line_when_agent_py_fits_the_answer(tmp_path: Path, agent: str, answer: str) -> None:
    assert note(tmp_path, agent, answer) == ""


@pytest.mark.parametrize(
    ("agent", "answer"),
    [("none", "langgraph"), ("own", "agent-framework"), ("langgraph", "agent-framework"), ("langgraph", "none")],
)
def test_one_line_says_how_to_switch(tmp_path: Path, agent: str, answer: str) -> None:
    (line,) = note(tmp_path, agent, answer).splitlines()
    assert line.startswith(f"agent_framework is now {answer}, but src/my_agent/agent.py (yours)")
    assert "git mv src/my_agent/agent.py src/my_agent/agent_before.py" in line
    assert "copier update --trust --defaults" in line
