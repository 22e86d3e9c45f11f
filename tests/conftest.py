"""Fixtures shared by the template's tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import BIN, TEMPLATE, run


def min_copier_version() -> str:
    """`_min_copier_version` from copier.yml."""
    match = re.search(r'^_min_copier_version: "([0-9.]+)"', (TEMPLATE / "copier.yml").read_text(), re.M)
    assert match, "copier.yml must set _min_copier_version"
    return match.group(1)


@pytest.fixture(scope="session", params=["latest", "floor"])
def copier_bin(request: pytest.FixtureRequest) -> Path:
    """The copier CLI of this environment, and the oldest release copier.yml allows."""
    if request.param == "latest":
        return BIN / "copier"
    version = min_copier_version()
    venv = TEMPLATE / "build" / f"copier-{version}"
    binary = venv / "bin" / "copier"
    if not binary.exists():
        run([str(BIN / "uv"), "venv", "--quiet", str(venv)], cwd=TEMPLATE)
        run(
            [
                str(BIN / "uv"),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                f"copier=={version}.*",
            ],
            cwd=TEMPLATE,
        )
    return binary
