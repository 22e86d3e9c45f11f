"""Server processes: start one on 127.0.0.1, wait for /readiness, read its memory, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from errors import BenchError

READY_SECONDS = 30.0


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its command, where, and with which environment."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None


@dataclass
class Running:
    """A started server: its process and base URL."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS), in MB."""
        return self._status_mb("VmRSS:")

    def peak_rss_mb(self) -> float:
        """The highest resident memory of the server process so far (VmHWM), in MB."""
        return self._status_mb("VmHWM:")

    def _status_mb(self, field: str) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        raise BenchError(f"{self.spec.name}: no {field} in /proc/{self.process.pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", "/readiness")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        process.wait(timeout=10)


@contextmanager
def serve(spec: ServerSpec) -> Iterator[tuple[Running, float]]:
    """Start `spec`; yield it with the seconds from spawn to the first 200 on /readiness.

    The server runs in its own session, so Ctrl-C reaches only the benchmark, which then
    stops the server here.
    """
    host, port = "127.0.0.1", free_port()
    # HOST/PORT for `python -m <package>`, UVICORN_* for the uvicorn command line.
    address = {"HOST": host, "PORT": str(port), "UVICORN_HOST": host, "UVICORN_PORT": str(port)}
    # Every server runs offline: no Foundry or Azure setting reaches it from this shell.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDRY_", "AZURE_"))}
    env = {**inherited, **spec.env, **address}
    if "STATE_DIR" in spec.env:  # the generated server refuses a state dir that is missing
        Path(spec.env["STATE_DIR"]).mkdir(parents=True, exist_ok=True)
    log = open(spec.log, "ab") if spec.log else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(
        spec.argv,
        cwd=spec.cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while not _ready(host, port):
            if process.poll() is not None:
                raise BenchError(f"{spec.name} exited with {process.returncode}; see {spec.log}")
            if time.perf_counter() - started > READY_SECONDS:
                raise BenchError(f"{spec.name}: no 200 from /readiness in {READY_SECONDS:.0f} s")
            time.sleep(0.005)
        yield Running(spec, process, host, port), time.perf_counter() - started
    finally:
        _stop(process)
        if log is not subprocess.DEVNULL:
            log.close()


def cold_start(spec: ServerSpec) -> float:
    """Seconds from spawning a fresh server to its first 200 on /readiness."""
    with serve(spec) as (_, seconds):
        return seconds
