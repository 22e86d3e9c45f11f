"""Copier migration run after every update: fail while the merge left conflicts.

Copier merges your edits of template-owned files back in; where it cannot, it writes
`<<<<<<<` markers (or `.rej` files with `--conflict rej`) and would still exit 0. This lists
every file that holds them, with the fix, and exits 1 so scripts and CI notice.

Usage: check_conflicts.py   (in the project, a git work tree)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MARKER = re.compile(rb"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)
FIX = """\
In each file keep the lines you want and delete the <<<<<<<, ======= and >>>>>>>
lines (apply, then delete, each .rej file). To undo the update instead:
git reset --hard && git clean -fd"""


def project_files() -> list[str]:
    """Tracked and new files, as git sees them (ignored files left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(set(filter(None, listed.split("\0"))))


def conflicted(names: list[str]) -> list[str]:
    """The files with conflict markers at the start of a line, and the .rej files."""
    found = []
    for name in names:
        path = Path(name)
        if name.endswith(".rej") or (path.is_file() and MARKER.search(path.read_bytes())):
            found.append(name)
    return found


def main() -> int:
    found = conflicted(project_files())
    if not found:
        return 0
    listing = "".join(f"\n  {name}" for name in found)
    print(f"error: resolve the conflicts the update left, then git add -A:{listing}", file=sys.stderr)
    print(FIX, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
