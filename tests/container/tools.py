"""The container tools of the container tests: buildah, a local registry, processes.

tests/container/setup.sh installs the tools and makes BASE_IMAGE; everything here uses the
storage it describes in build/container/storage.conf.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "container"
SETUP = "bash tests/container/setup.sh"
BASE_IMAGE = "localhost/pybase:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ENV = {**os.environ, "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf")}
# chroot isolation and the host's network: no daemon, no namespaces to set up.
RUN_FLAGS = ["--isolation", "chroot", "--network", "host"]
TOOLS = ("buildah", "podman", "debootstrap", "docker-registry")


def unavailable() -> str | None:
    """Why the tools cannot be installed on this machine, or None when they can."""
    if sys.platform != "linux":
        return "the container tools run on Linux only"
    if not shutil.which("apt-get"):
        return "the container tools are installed with apt-get (Debian or Ubuntu)"
    return None


def not_ready() -> str | None:
    """What is missing for the container tests, or None when they can run."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not installed: run `{SETUP}` first"
    if not (CACHE / "storage.conf").exists() or buildah("images", "-q", BASE_IMAGE, check=False).returncode:
        return f"base image {BASE_IMAGE} is missing: run `{SETUP}` first"
    return None


def buildah(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run buildah on the test storage; failing, raise with its output."""
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, env=ENV, timeout=timeout, check=False)
    if check and result.returncode:
        raise AssertionError(f"buildah {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def build_flags() -> list[str]:
    """Build flags for this machine: the local base image and the host's CA bundle."""
    flags = [*RUN_FLAGS, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    if CA_BUNDLE.exists():  # pip in the build trusts what the host trusts (proxies included)
        flags += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    return flags


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float) -> float:
    """Poll url until it answers 200; return the seconds it took. Fail if process exits."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer in {seconds:g} s")


def descendants(pid: int) -> list[int]:
    """The process ids below pid, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def container_process(runner: subprocess.Popen[bytes], argv0: str) -> int:
    """The pid of the process `buildah run` started in the container (its PID 1 there)."""
    for pid in descendants(runner.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].decode() == argv0:
            return pid
    raise AssertionError(f"no {argv0} below buildah run (pid {runner.pid})")


@contextmanager
def working_container(image: str) -> Iterator[str]:
    """A buildah working container of image, removed afterwards."""
    name = buildah("from", "--pull=never", image).stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name, check=False)


@contextmanager
def registry() -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (free port, temporary storage); yields host:port."""
    with tempfile.TemporaryDirectory(prefix="registry-") as root:
        host = f"127.0.0.1:{free_port()}"
        config = Path(root, "config.yml")
        config.write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {root}/data\nhttp:\n  addr: {host}\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"http://{host}/v2/", process, 20)
            yield host
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_in(container: str, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a command in a working container as its configured user."""
    return buildah("run", *RUN_FLAGS, container, "--", *command, check=False, timeout=120)
