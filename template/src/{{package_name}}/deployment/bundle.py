"""The code-deploy zip: what ships without an image, built byte for byte alike from the same files.

The zip holds what the image holds (see Dockerfile): `azure.yaml`, the pinned dependencies
(`requirements.lock`, as the `requirements.txt` the service installs) and everything in
`src/` at the top level, so `python -m <package>` run from the unpacked folder finds the
package and the server finds `./azure.yaml`. Nothing else: no tests, caches, virtual
environments, git data, build outputs, `.image.json`, dotfiles (`.env`), key files, or
symbolic links (they may point anywhere).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..hosting.manifest import MANIFEST_FILE

# create_version_from_code takes at most 250 MB; counted in decimal megabytes to stay under
# either reading of "MB".
SIZE_LIMIT = 250_000_000
LOCK_FILE, REQUIREMENTS = "requirements.lock", "requirements.txt"
# Fixed metadata: the same files give the same bytes (and sha256) on every machine, so the
# service's dedup by hash sees an unchanged project. Stored, not deflated: compressed bytes
# may differ between zlib builds.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o100644 << 16
SECRET_SUFFIXES = (".pem", ".key", ".pfx", ".p12")
# CodeConfiguration.runtime values named by azure-ai-projects 2.10.0.
RUNTIMES = ("python_3_11", "python_3_12", "python_3_13")
BASE_IMAGE = re.compile(r"^ARG\s+BASE_IMAGE=\S*python:(\d+)\.(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Bundle:
    """The zip as it is sent, and the files in it."""

    name: str
    data: bytes
    files: tuple[str, ...]
    runtime: str

    @property
    def sha256(self) -> str:
        """The hex digest create_version_from_code sends as x-ms-code-zip-sha256."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def stream(self) -> io.BytesIO:
        """The zip as the SDK takes it: a seekable stream whose name ends with .zip."""
        stream = io.BytesIO(self.data)
        stream.name = self.name
        return stream


def _shipped(relative: Path, path: Path) -> bool:
    if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
        return False
    if any(part.endswith(".egg-info") for part in relative.parts):
        return False
    return not path.is_symlink() and path.suffix not in (".pyc", ".pyo", *SECRET_SUFFIXES)


def contents(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name in the zip, file) for everything that ships, sorted; and the problems."""
    problems = [
        f"{name} is missing; code deploy ships it ({fix})"
        for name, fix in (
            (MANIFEST_FILE, "copier update --trust --defaults writes it"),
            (LOCK_FILE, "regenerate it with the uv pip compile command in README.md"),
        )
        if not (root / name).is_file()
    ]
    source = root / "src"
    files = [
        (path.relative_to(source).as_posix(), path)
        for path in source.rglob("*")
        if path.is_file() and _shipped(path.relative_to(source), path)
    ]
    if not files:
        problems.append(f"{source} holds no code to ship")
    files += [(MANIFEST_FILE, root / MANIFEST_FILE), (REQUIREMENTS, root / LOCK_FILE)]
    return sorted(files), problems


def build(root: Path, name: str) -> tuple[Bundle | None, list[str]]:
    """The reproducible zip `<name>.zip` of the project at root, or the problems."""
    files, problems = contents(root)
    python, runtime_problems = runtime(root)
    problems += runtime_problems
    if problems:
        return None, problems
    total = sum(path.stat().st_size for _, path in files)
    if total > SIZE_LIMIT:
        return None, [_too_big(total)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for arcname, path in files:
            entry = zipfile.ZipInfo(arcname, date_time=ZIP_TIME)
            entry.create_system = 3  # unix, so the mode below is read
            entry.external_attr = FILE_MODE
            archive.writestr(entry, path.read_bytes())
    names = tuple(arcname for arcname, _ in files)
    bundle = Bundle(f"{name}.zip", buffer.getvalue(), names, python)
    if bundle.size > SIZE_LIMIT:
        return None, [_too_big(bundle.size)]
    return bundle, []


def _too_big(size: int) -> str:
    return (
        f"the code zip would be {size / 1e6:.0f} MB; code deploy takes at most "
        f"{SIZE_LIMIT / 1e6:.0f} MB: move data out of src/, or deploy a container image"
    )


def runtime(root: Path) -> tuple[str, list[str]]:
    """The code runtime for the image's Python (Dockerfile's BASE_IMAGE), and its problems."""
    dockerfile = root / "Dockerfile"
    try:
        match = BASE_IMAGE.search(dockerfile.read_text(encoding="utf-8"))
    except OSError:
        match = None
    if not match:
        return "", [
            f"{dockerfile}: no ARG BASE_IMAGE=...python:<version>...; code deploy runs "
            "the image's Python, so name it there (e.g. python:3.12-slim)"
        ]
    name = f"python_{match[1]}_{match[2]}"
    if name not in RUNTIMES:
        versions = ", ".join(r.removeprefix("python_").replace("_", ".") for r in RUNTIMES)
        return name, [f"Python {match[1]}.{match[2]}: code deploy runs Python {versions}"]
    return name, []
