"""Regenerate template/requirements.lock and template/requirements-dev.lock.

    .venv/bin/python scripts/lock_template.py              # after editing template/pyproject.toml.jinja
    .venv/bin/python scripts/lock_template.py --upgrade    # any arguments go to the project's lock.py

Renders the template with the default answers (uncommitted changes included), runs the
rendered project's `scripts/lock.py` there with the current locks in place (so unchanged pins
stay), and copies both locks back. Needs uv (requirements-dev.txt) and the package index.
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


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        render = [str(BIN / "copier"), "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
        subprocess.run([*render, str(ROOT), str(project)], check=True)
        for name in LOCKS:
            shutil.copyfile(ROOT / "template" / name, project / name)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        if subprocess.run([sys.executable, "scripts/lock.py", *argv], cwd=project, env=env).returncode:
            return 1
        for name in LOCKS:
            shutil.copyfile(project / name, ROOT / "template" / name)
    print("lock_template: template/requirements.lock and template/requirements-dev.lock written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
