"""Copier migration to 0.2.0: say why a project that declared protocol 1.0.0 now declares 2.0.0.

The 0.2.0 template no longer asks `protocol_version`: its hook always writes 2.0.0, so the
update itself moves the project. This prints the one line that says why, before the render.
It reads the answers file only, and changes nothing: with `--skip-answered` Copier would not
reload a rewritten answers file, and the question it would hold is gone anyway.

Usage: protocol_2_0_0.py ANSWERS_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

NOTICE = "protocol_version 1.0.0 -> 2.0.0: the platform blocks protocol 1.0.0 since 2026-07-31"


def main(argv: list[str]) -> int:
    answers = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8")) or {}
    if str(answers.get("protocol_version")) == "1.0.0":
        print(NOTICE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
