"""scripts/audit.py and scripts/pin_base_image.py against stand-ins for OSV and a registry.

Each stand-in is an HTTP server on 127.0.0.1 that answers as the real service's API does
(OSV's POST /v1/querybatch; the OCI distribution API with an anonymous bearer token).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "ab" * 32
NEWER = "sha256:" + "cd" * 32


def script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    servers = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class FakeOSV(BaseHTTPRequestHandler):
    """OSV's querybatch: one known vulnerability, in uvicorn's pinned version."""

    queries: list[dict] = []

    def do_POST(self) -> None:
        assert self.path == "/v1/querybatch"
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOSV.queries = body["queries"]
        results = [
            {"vulns": [{"id": "GHSA-test-0000-0001", "modified": "2026-01-01T00:00:00Z"}]}
            if query["package"]["name"] == "uvicorn"
            else {}
            for query in body["queries"]
        ]
        data = json.dumps({"results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_audit_asks_osv_about_every_pin_and_lists_what_it_knows(serve) -> None:
    result = script("audit.py", env={"OSV_API_URL": serve(FakeOSV)})
    assert result.returncode == 1, result.stderr
    assert "audit: uvicorn==" in result.stdout and "GHSA-test-0000-0001" in result.stdout
    assert "1 of" in result.stderr and "scripts/lock.py --upgrade" in result.stderr
    asked = {(q["package"]["name"], q["package"]["ecosystem"]) for q in FakeOSV.queries}
    assert ("uvicorn", "PyPI") in asked and ("pytest", "PyPI") in asked  # both locks


def test_audit_passes_with_the_finding_ignored(serve) -> None:
    url = serve(FakeOSV)
    result = script("audit.py", "--ignore", "GHSA-test-0000-0001", env={"OSV_API_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit: no known vulnerabilities in ")


def test_audit_says_in_one_line_when_osv_is_unreachable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = script("audit.py", "requirements.lock", env={"OSV_API_URL": url})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"audit: cannot reach OSV ({url}: ")
    assert result.stderr.count("\n") == 1 and "nothing was checked" in result.stderr


class FakeRegistry(BaseHTTPRequestHandler):
    """A registry that wants an anonymous bearer token, as Docker Hub and most others do."""

    digest = DIGEST

    def do_GET(self) -> None:  # the token endpoint
        assert self.path.startswith("/token?"), self.path
        assert "scope=repository%3Amirror%2Fpython%3Apull" in self.path
        self.answer(200, json.dumps({"token": "t0ken"}).encode())

    def do_HEAD(self) -> None:
        assert self.path == "/v2/mirror/python/manifests/3.12-slim", self.path
        if self.headers.get("Authorization") != "Bearer t0ken":
            realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
            self.answer(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'})
            return
        assert "application/vnd.oci.image.index.v1+json" in self.headers["Accept"]
        self.answer(200, b"", {"Docker-Content-Digest": FakeRegistry.digest})

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def dockerfile(tmp_path: Path) -> Path:
    """A copy of the project's Dockerfile whose base image lives on a registry host."""
    text = (PROJECT / "Dockerfile").read_text(encoding="utf-8")
    lines = [
        "ARG BASE_IMAGE=registry.example/mirror/python:3.12-slim"
        if line.startswith("ARG BASE_IMAGE=")
        else line
        for line in text.splitlines()
    ]
    path = tmp_path / "Dockerfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_pin_rewrites_the_base_image_line_and_moves_the_pin(serve, tmp_path: Path) -> None:
    path, url = dockerfile(tmp_path), serve(FakeRegistry)
    args = ("--dockerfile", str(path), "--registry-url", url)
    result = script("pin_base_image.py", *args)
    assert result.returncode == 0, result.stderr
    pinned = f"ARG BASE_IMAGE=registry.example/mirror/python:3.12-slim@{DIGEST}"
    assert pinned in path.read_text(encoding="utf-8").splitlines()

    FakeRegistry.digest = NEWER
    try:
        assert script("pin_base_image.py", *args).returncode == 0
    finally:
        FakeRegistry.digest = DIGEST
    text = path.read_text(encoding="utf-8")
    assert f"3.12-slim@{NEWER}" in text and DIGEST not in text
    # Everything else is as it was.
    original = (PROJECT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    changed = [a for a, b in zip(original, text.splitlines(), strict=True) if a != b]
    assert [line.split("=")[0] for line in changed] == ["ARG BASE_IMAGE"]


def test_pin_keeps_the_runtime_a_code_deploy_reads(serve, tmp_path: Path) -> None:
    path = dockerfile(tmp_path)
    script("pin_base_image.py", "--dockerfile", str(path), "--registry-url", serve(FakeRegistry))
    package = next(p.name for p in (PROJECT / "src").iterdir() if (p / "__main__.py").exists())
    bundle = import_module(f"{package}.deployment.bundle")
    match = bundle.BASE_IMAGE.search(path.read_text(encoding="utf-8"))
    assert match and match.groups() == ("3", "12")


def test_pin_says_in_one_line_when_the_registry_is_unreachable(tmp_path: Path) -> None:
    path = dockerfile(tmp_path)
    before = path.read_text(encoding="utf-8")
    url = f"http://127.0.0.1:{closed_port()}"
    result = script("pin_base_image.py", "--dockerfile", str(path), "--registry-url", url)
    assert result.returncode == 2
    assert result.stderr.startswith("pin: cannot reach the registry (")
    assert result.stderr.count("\n") == 1
    assert path.read_text(encoding="utf-8") == before
