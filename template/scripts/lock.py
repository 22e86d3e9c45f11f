"""Regenerate the two locks from pyproject.toml, with a sha256 for every file of every package.

- requirements.lock: the dependencies and EXTRAS; what the image, a code deploy and a local
  install run.
- requirements-dev.lock: the same pins (requirements.lock constrains it) plus the dev tools.

    python scripts/lock.py                         # after changing dependencies in pyproject.toml
    python scripts/lock.py --upgrade               # newest versions within pyproject.toml's ranges
    python scripts/lock.py --extra telemetry --extra other   # other extras in the image

Versions already in a lock are kept unless pyproject.toml rules them out or --upgrade is given.
Needs uv (`pip install uv`) and the package index. tests/test_requirements.py checks the result.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"
# The extras the image installs besides the dependencies (see the Dockerfile).
EXTRAS = ("telemetry",)
# The lowest Python the project supports: the locks hold every package any later one needs.
PYTHON = "3.11"


def compile_command(
    uv: list[str], output: str, image_extras: list[str], upgrade: bool
) -> list[str]:
    """The `uv pip compile` command that writes one lock (the dev lock adds the dev extra)."""
    extras = image_extras if output == RUNTIME_LOCK else [*image_extras, "dev"]
    if list(image_extras) == list(EXTRAS):  # the header then names the plain command
        image_extras = []
    command = [
        *uv,
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version",
        PYTHON,
        "--generate-hashes",
        "--no-annotate",
        "--custom-compile-command",
        " ".join(["python scripts/lock.py", *(f"--extra {extra}" for extra in image_extras)]),
        *(option for extra in extras for option in ("--extra", extra)),
        "pyproject.toml",
        "--output-file",
        output,
    ]
    if output == DEV_LOCK:
        command += ["--constraint", RUNTIME_LOCK]
    return command + (["--upgrade"] if upgrade else [])


def find_uv() -> list[str]:
    """uv on PATH, else the one installed in this Python's environment."""
    if found := shutil.which("uv"):
        return [found]
    try:
        import uv

        return [uv.find_uv_bin()]
    except (ImportError, FileNotFoundError):
        raise SystemExit("lock: uv not found; install it with `pip install uv`") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/lock.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--extra",
        action="append",
        help=f"an extra the image installs (repeat for more; default: {', '.join(EXTRAS)})",
    )
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    args = parser.parse_args(argv)
    extras = args.extra or list(EXTRAS)
    uv = find_uv()
    for output in (RUNTIME_LOCK, DEV_LOCK):
        command = compile_command(uv, output, extras, args.upgrade)
        if subprocess.run(command, cwd=PROJECT, check=False).returncode:
            print(f"lock: writing {output} failed (uv's message above)", file=sys.stderr)
            return 1
        print(f"lock: wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
