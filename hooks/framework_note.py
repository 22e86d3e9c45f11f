"""Copier task on update: say how to switch agent.py when it does not use the chosen framework.

agent.py is yours (`_skip_if_exists`): changing `agent_framework` on `copier update` adds
the framework's packages and adapter but leaves agent.py as it was. When agent.py uses
another framework's adapter, or not the chosen one's, this prints one line saying how to
get the chosen framework's agent.py. Copier runs tasks in two fresh renders too; there
agent.py matches the answer, so the line is printed once, for the project.

Usage: framework_note.py PACKAGE_NAME AGENT_FRAMEWORK
"""

from __future__ import annotations

import sys
from pathlib import Path

ADAPTERS = {"agent-framework": "agent_framework_adapter", "langgraph": "langgraph_adapter"}


def note(package: str, framework: str, root: Path) -> str:
    """The line to print, or "" when agent.py already fits the answer."""
    agent = root / "src" / package / "agent.py"
    if not agent.is_file():
        return ""
    source = agent.read_text(encoding="utf-8")
    used = {name for name, adapter in ADAPTERS.items() if adapter in source}
    if used == ({framework} if framework in ADAPTERS else set()):
        return ""
    path = agent.relative_to(root).as_posix()
    aside = path.removesuffix(".py") + "_before.py"
    return (
        f"agent_framework is now {framework}, but {path} (yours) was kept as it was: to switch, "
        f"`git mv {path} {aside} && git commit -m 'Set agent.py aside'`, run `copier update --trust "
        f"--defaults` to get the {framework} agent.py, then carry your changes over from {aside}"
    )


if __name__ == "__main__":
    line = note(sys.argv[1], sys.argv[2], Path.cwd())
    if line:
        print(line)
