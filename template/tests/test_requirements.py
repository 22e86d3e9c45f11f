"""The locks agree with pyproject.toml, carry a sha256 for every file, and hold nothing unused.

requirements.lock is what the image and a code deploy install, and a local install too
(README: `pip install --require-hashes -r requirements-dev.lock`, then the project with
`--no-deps`); requirements-dev.lock adds the dev tools with the same pins. After changing the
dependencies in pyproject.toml, run `python scripts/lock.py`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1]
REGENERATE = "run `python scripts/lock.py`"
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def load_lock_script():
    spec = importlib.util.spec_from_file_location("lock", PROJECT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTRAS = load_lock_script().EXTRAS


def locked(name: str = "requirements.lock") -> dict[str, tuple[str, frozenset[str]]]:
    """Package name -> (pinned version, its hashes), from a lock."""
    text = (PROJECT / name).read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *hashes = line.split(" --hash")
        requirement = Requirement(requirement)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line!r} is not pinned with ==: {REGENERATE}"
        hashes = frozenset(f"--hash{value.strip()}" for value in hashes)
        assert hashes and all(HASH.match(value) for value in hashes), (
            f"{requirement.name} has no sha256 in {name}: {REGENERATE}"
        )
        pins[canonicalize_name(requirement.name)] = (specifier.version, hashes)
    return pins


def pyproject() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def image_requirements() -> list[Requirement]:
    """The dependencies and the extras the image installs, as pyproject.toml states them."""
    project = pyproject()
    lines = project["dependencies"] + [
        line for extra in EXTRAS for line in project["optional-dependencies"][extra]
    ]
    return [Requirement(line) for line in lines]


def test_every_requirement_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in image_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not requirements.lock: {REGENERATE}"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement.specifier}: "
            f"{REGENERATE}"
        )


def test_the_lock_holds_only_what_the_requirements_need() -> None:
    """Every pin is a requirement or a dependency of one (uvicorn[standard]'s extras were not)."""
    pins = locked()
    needed = set()
    todo = [(requirement, requirement.extras) for requirement in image_requirements()]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in needed:
            continue
        needed.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # for another platform (its own dependencies are in the lock's markers)
        for line in requires:
            dependency = Requirement(line)
            marker = str(dependency.marker or "")
            wanted = re.findall(r"extra == ['\"]([\w.-]+)['\"]", marker)
            if not wanted or set(wanted) & {canonicalize_name(e) for e in extras}:
                todo.append((dependency, dependency.extras))
    unused = sorted(set(pins) - needed)
    assert not unused, f"requirements.lock holds {unused}, which nothing requires: {REGENERATE}"


def test_the_dev_lock_has_the_same_pins() -> None:
    """What tests run locally and in CI is what the image runs, version and file alike."""
    pins, dev = locked(), locked("requirements-dev.lock")
    for name, (version, hashes) in pins.items():
        assert name in dev, f"requirements-dev.lock lacks {name}: {REGENERATE}"
        assert dev[name] == (version, hashes), (
            f"{name}: requirements.lock pins {version}, requirements-dev.lock {dev[name][0]} "
            f"(or other files): {REGENERATE}"
        )
    for line in pyproject()["optional-dependencies"]["dev"]:
        name = canonicalize_name(Requirement(line).name)
        assert name in dev or name == canonicalize_name(pyproject()["name"]), (
            f"{name} is a dev dependency but not in requirements-dev.lock: {REGENERATE}"
        )


def test_the_image_installs_the_lock_by_hash() -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text(encoding="utf-8")
    install = re.search(r"pip install (?:[^\n\\]|\\\n)*", dockerfile)
    assert install, "the Dockerfile installs nothing with pip"
    for option in ("--require-hashes", "--no-deps", "requirements.lock"):
        assert option in install[0], f"the Dockerfile's pip install lacks {option}"
