"""Regenerate the template's locks: requirements.lock and requirements-dev.lock per framework.

    .venv/bin/python scripts/lock_template.py              # after editing template/pyproject.toml.jinja
    .venv/bin/python scripts/lock_template.py --upgrade    # any arguments go to the project's lock.py

Each `agent_framework` choice has its own pair of locks in template/ (file names guarded by
Jinja, so a project gets only its choice's). For each choice: render the template with it
(uncommitted changes included), put that choice's current locks in the project (so unchanged
pins stay), run the rendered project's `scripts/lock.py` there, and copy both locks back.
Needs uv (requirements-dev.txt) and the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCKS = ("requirements.lock", "requirements-dev.lock")
FRAMEWORKS = ("none", "agent-framework", "langgraph")


def template_lock(framework: str, name: str) -> Path:
    """The template file that renders as `name` for projects with this framework."""
    return ROOT / "template" / f"{{% if agent_framework == '{framework}' %}}{name}{{% endif %}}"


def relock(framework: str, argv: list[str], scratch: Path) -> bool:
    project = scratch / framework
    render = [str(BIN / "copier"), "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
    subprocess.run([*render, "-d", f"agent_framework={framework}", str(ROOT), str(project)], check=True)
    for name in LOCKS:
        if template_lock(framework, name).exists():
            shutil.copyfile(template_lock(framework, name), project / name)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if subprocess.run([sys.executable, "scripts/lock.py", *argv], cwd=project, env=env).returncode:
        return False
    for name in LOCKS:
        shutil.copyfile(project / name, template_lock(framework, name))
    return True


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        for framework in FRAMEWORKS:
            if not relock(framework, argv, Path(scratch)):
                print(f"lock_template: locking agent_framework={framework} failed", file=sys.stderr)
                return 1
            print(f"lock_template: the locks for agent_framework={framework} written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
