"""Load: wrk runs at a fixed concurrency, and a sequential client for time to first byte."""

from __future__ import annotations

import dataclasses
import http.client
import os
import re
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from errors import BenchError
from servers import Running

SCRIPT = Path(__file__).with_name("post.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx/3xx answers plus socket errors
    cpu_us: float = 0.0  # server CPU time per request: steadier than rates on a busy machine
    wrk_busy: float = 0.0  # wrk's CPU time over the run's duration: near 1.0, wrk is the limit


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise BenchError(f"wrk printed a latency of {value!r}, which is not a duration")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]


def _parse(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise BenchError(f"wrk printed no {pattern!r}:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(find(r"(\d+) requests in")[1]),
        per_second=float(find(r"Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)\s*$")[1]),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)\s*$")[1]),
        bad=(int(non_2xx[1]) if non_2xx else 0)
        + (sum(int(n) for n in errors.groups()) if errors else 0),
    )


def wrk_command(wrk_path: str, server: Running, seconds: float, connections: int) -> list[str]:
    """wrk with one thread (the other core is the server's), POSTing $BENCH_BODY to /responses."""
    return [
        *(wrk_path, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"),
        *("--timeout", "10s", "-s", str(SCRIPT), f"{server.url}/responses"),
    ]


def wrk(wrk_path: str, server: Running, body: str, seconds: float, connections: int) -> WrkResult:
    """POST `body` to /responses from `connections` connections for `seconds`."""
    cpu_before = server.cpu_seconds()
    wrk_before = _children_cpu()
    result = subprocess.run(
        wrk_command(wrk_path, server, seconds, connections),
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_BODY": body},
        timeout=seconds + 30,
        check=False,
    )
    if result.returncode:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip()}")
    cpu = server.cpu_seconds() - cpu_before
    parsed = _parse(result.stdout)
    return dataclasses.replace(
        parsed,
        cpu_us=cpu / max(parsed.requests, 1) * 1e6,
        wrk_busy=(_children_cpu() - wrk_before) / seconds,
    )


def best(runs: list[WrkResult], more_errors: int = 0) -> WrkResult:
    """The best value of each metric over `runs`; the errors of every run, plus `more_errors`."""
    return WrkResult(
        requests=max(run.requests for run in runs),
        per_second=max(run.per_second for run in runs),
        p50_ms=min(run.p50_ms for run in runs),
        p99_ms=min(run.p99_ms for run in runs),
        bad=sum(run.bad for run in runs) + more_errors,
        cpu_us=min(run.cpu_us for run in runs),
        wrk_busy=max(run.wrk_busy for run in runs),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_to_first_byte(server: Running, body: str, count: int) -> float:
    """Median ms from sending a streamed create to its first body byte, over `count` requests.

    One request at a time on one keep-alive connection, so it is latency, not queueing.
    """
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request(
                "POST", "/responses", body=body, headers={"Content-Type": "application/json"}
            )
            answer = connection.getresponse()
            first = answer.read1(1)
            times.append((time.perf_counter() - started) * 1e3)
            if answer.status != 200 or not first:
                raise BenchError(f"{server.spec.name}: streamed request answered {answer.status}")
            answer.read()
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(f"{server.spec.name}: a streamed request failed: {error!r}") from None
    finally:
        connection.close()
    return statistics.median(times)
