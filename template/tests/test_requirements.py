"""requirements.lock, which the image installs, agrees with pyproject.toml.

After changing the dependencies in pyproject.toml, regenerate the lock with the command at its
top (`uv pip compile ...`).
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate requirements.lock with the command at its top"
# The image's platform: extras' dependencies are checked as they resolve there.
IMAGE_PLATFORM = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
}


def locked() -> dict[str, str]:
    """Package name -> pinned version, from requirements.lock."""
    pins = {}
    for line in (PROJECT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line!r} is not pinned with ==: {REGENERATE}"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def dependencies() -> list[Requirement]:
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(line) for line in pyproject["project"]["dependencies"]]


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in dependencies():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not requirements.lock: {REGENERATE}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: "
            f"{REGENERATE}"
        )


def test_extras_of_dependencies_are_locked() -> None:
    pins = locked()
    for requirement in dependencies():
        for extra in requirement.extras:
            for line in importlib.metadata.requires(requirement.name) or []:
                needed = Requirement(line)
                if needed.marker and needed.marker.evaluate({**IMAGE_PLATFORM, "extra": extra}):
                    name = canonicalize_name(needed.name)
                    assert name in pins, (
                        f"{requirement.name}[{extra}] needs {name}, not in requirements.lock: "
                        f"{REGENERATE}"
                    )
