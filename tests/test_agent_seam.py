"""agent.py is the user's seam: a five-line generator replaces it and the project still passes."""

from __future__ import annotations

from pathlib import Path

from helpers import check_project, render

FIVE_LINE_AGENT = '''"""My agent: it says the user's words back."""

from collections.abc import AsyncIterator

from .hosting import Output, Turn


async def agent(turn: Turn) -> AsyncIterator[Output]:
    """Stream the reply one word at a time."""
    for word in f"You said: {turn.user_text}".split(" "):
        yield word + " "
'''

ITS_TEST = '''"""Tests of my agent."""

import asyncio

from my_agent.agent import agent
from my_agent.hosting import Turn


def test_it_says_the_words_back() -> None:
    async def reply() -> list[str]:
        return [word async for word in agent(Turn(items=[{"role": "user", "content": "a b"}]))]

    assert asyncio.run(reply()) == ["You ", "said: ", "a ", "b "]
'''


def test_a_five_line_agent_replaces_the_default_and_the_project_passes(tmp_path: Path) -> None:
    project = render(tmp_path / "p", {"function_tools": {"get_time": "The current UTC time"}})
    agent = project / "src" / "my_agent" / "agent.py"
    assert "model_agent if model_configured() else offline_agent" in agent.read_text()
    agent.write_text(FIVE_LINE_AGENT, encoding="utf-8")
    (project / "tests" / "test_agent.py").write_text(ITS_TEST, encoding="utf-8")
    check_project(project)  # the smoke tests stream this agent's reply through the server
