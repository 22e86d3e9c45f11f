"""Render the template and run commands in rendered projects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_COPIER = BIN / "copier"


def copier(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the copier CLI (DEFAULT_COPIER, this environment's unless a test swaps it)."""
    result = subprocess.run([str(DEFAULT_COPIER), *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode:
        raise AssertionError(f"copier {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def render(dst: Path, answers: Mapping[str, Any] | None = None, src: Path = TEMPLATE, ref: str = "HEAD") -> Path:
    """`copier copy --trust --defaults` with the answers given as a data file.

    `ref="HEAD"` (the default) renders the checkout as it is, uncommitted changes included;
    without `--vcs-ref` Copier would render the template's latest release tag instead.
    """
    data = dst.parent / f"{dst.name}-answers.yml"
    data.write_text(yaml.safe_dump(dict(answers or {})), encoding="utf-8")
    copier("copy", "--trust", "--defaults", "--quiet", "--vcs-ref", ref, "--data-file", str(data), str(src), str(dst))
    return dst


def run(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def install(project: Path) -> None:
    """Install a rendered project (editable, with its dev extra) into this environment."""
    run(
        [str(BIN / "uv"), "pip", "install", "--quiet", "--python", sys.executable, "-e", f"{project}[dev]"], cwd=project
    )


def check_project(project: Path) -> None:
    """Install a rendered project, then run its own tests and ruff."""
    install(project)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=project)
    run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=project)
