"""The code-deploy zip of a rendered project runs on its own, as the platform would run it.

The zip deploy.py sends with `deploy --code` is unpacked into a clean folder, its
requirements.txt installed into a fresh venv (nothing of the project installed), and its
entry point `python -m <package>` started there: it must serve /readiness and answer.

Needs PyPI (or uv's cache) for the fresh venv, like test_deploy_b3.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from helpers import BIN, render, run

PACKAGE = "zip_agent"
# Builds the zip with the rendered project's own code (it needs only PyYAML from this venv).
BUILD = f"""
import sys
from pathlib import Path
from {PACKAGE}.deployment import bundle
zipped, problems = bundle.build(Path("."), "zip-agent")
assert not problems, problems
Path(sys.argv[1]).write_bytes(zipped.data)
print(zipped.runtime)
"""


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip, unpacked into a folder that holds nothing else."""
    base = tmp_path_factory.mktemp("code")
    project = render(base / "zip-agent", {"agent_name": "zip-agent"})
    archive = base / "zip-agent.zip"
    env = {"PYTHONPATH": str(project / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    runtime = run([sys.executable, "-c", BUILD, str(archive)], cwd=project, env=env).stdout.strip()
    assert runtime == "python_3_12"  # the Copier default python_version, from the Dockerfile
    folder = base / "unpacked"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_the_unpacked_zip_installs_into_a_fresh_venv_and_serves(unpacked: Path, tmp_path: Path) -> None:
    assert {path.name for path in unpacked.iterdir()} == {"azure.yaml", "requirements.txt", PACKAGE}
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run([str(BIN / "uv"), "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=unpacked)
    install = [str(BIN / "uv"), "pip", "install", "--quiet", "--python", str(python), "-r", "requirements.txt"]
    run(install, cwd=unpacked, timeout=900)
    found = run([str(python), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=unpacked).stdout
    assert Path(found.strip()).is_relative_to(unpacked)  # the zip's code, nothing installed

    port = free_port()
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "LANG", "SYSTEMROOT")}
    env = {**keep, "HOME": str(tmp_path), "HOST": "127.0.0.1", "PORT": str(port)}
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(python), "-m", PACKAGE], cwd=unpacked, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, _ = get(f"http://127.0.0.1:{port}/readiness")
                    break
                except OSError:
                    assert server.poll() is None, log.read_text(encoding="utf-8")
                    assert time.monotonic() < deadline, "no /readiness within 60 s"
                    time.sleep(0.2)
            assert status == 200
            status, body = get(f"http://127.0.0.1:{port}/responses", {"input": "hello"})
            assert status == 200 and json.loads(body)["status"] == "completed"
        finally:
            server.terminate()
            server.wait(timeout=30)
