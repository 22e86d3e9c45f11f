"""Where the generated server's time goes under load: py-spy samples it while wrk drives it."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import environments
import load
from errors import BenchError
from servers import ServerSpec, serve

RATE = 250  # samples per second
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def ensure_py_spy(python: Path) -> Path:
    """py-spy in the generated project's venv (installed once, not a project dependency)."""
    py_spy = python.parent / "py-spy"
    if not py_spy.exists():
        environments.step("installing py-spy into the generated project's venv, to profile")
        environments.install(python, ["py-spy"], "installing py-spy")
    return py_spy


def record(
    py_spy: Path, spec: ServerSpec, wrk_path: str, body: str, seconds: float, output: Path
) -> list[tuple[list[str], int]]:
    """Sample the server while wrk loads it; the stacks (outermost frame first) and counts."""
    with serve(spec) as (server, _):
        driver = subprocess.Popen(
            load.wrk_command(wrk_path, server, seconds + 2, 32),
            env={**os.environ, "BENCH_BODY": body},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            result = subprocess.run(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--duration",
                    f"{seconds:g}",
                    "--rate",
                    str(RATE),
                    "--nonblocking",
                    "--idle",
                    "--format",
                    "raw",
                    "--output",
                    output,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
                check=False,
            )
        finally:
            driver.kill()
            driver.wait()
    if result.returncode:
        raise BenchError(f"py-spy failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    stacks = []
    for line in output.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if count.isdigit():  # py-spy may end a stack with an empty frame name: skip such lines
            stacks.append((frames.split(";"), int(count)))
    return stacks


def _where(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy frame like `create (pkg/hosting/app.py:61)`."""
    match = _FRAME.match(frame)
    return (match["function"], match["file"]) if match else (frame, "?")


def _layer(file: str) -> str:
    """The package or module a file belongs to: `uvicorn`, `starlette`, `bench_agent/hosting`."""
    parts = file.split("/")
    if parts[0] == environments.PACKAGE and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def summary(stacks: list[tuple[list[str], int]], cpu_us: float, top: int = 12) -> str:
    """Self time by package and by function, and inclusive time in the generated code.

    Each share is also shown as microseconds of a request, taking the share of the server CPU
    per request measured for the table (the event loop is busy throughout under this load).
    """
    total = sum(count for _, count in stacks) or 1
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        function, file = _where(frames[-1])
        layers[_layer(file)] += count
        own[f"{function} ({file})"] += count
        # The generated code's own calls, each counted once per stack; not the start-up frames
        # (`<module>`, `main`) that hold every sample.
        mine = {
            f"{f} ({path})"
            for f, path in map(_where, frames)
            if path.startswith(f"{environments.PACKAGE}/") and f not in ("<module>", "main")
        }
        for name in mine:
            inclusive[name] += count

    def lines(title: str, rows: list[tuple[str, int]]) -> list[str]:
        return [
            title,
            *(
                f"  {100 * n / total:5.1f}% {cpu_us * n / total:6.1f} us  {name}"
                for name, n in rows
            ),
        ]

    return "\n".join(
        [
            f"{total} samples of wall-clock time (--idle: time blocked in a call counts too; the"
            " event loop's own work and waits show as Runner.run)",
            *lines("self time by package:", layers.most_common(top)),
            *lines("self time by function:", own.most_common(top)),
            *lines(f"inclusive time in {environments.PACKAGE}:", inclusive.most_common(top)),
        ]
    )
