"""The store=foundry scenario: both real servers keep responses in a fake Foundry storage.

The fake is the generated project's own (tests/fake_foundry_storage.py: TLS with a test CA,
and the managed identity endpoint azure-identity signs in through), answering every call
after 20 ms. The generated server chooses Foundry storage with RESPONSE_STORE=foundry;
Microsoft's library with FOUNDRY_HOSTING_ENVIRONMENT, its FoundryStorageProvider taking
DefaultAzureCredential and FOUNDRY_PROJECT_ENDPOINT, like in a container. The target:
with storage round trips of 20 ms on a response's request path, throughput is at least 60%
of connections / (round trips x 0.02 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import checks
from environments import step
from errors import BenchError
from load import WrkResult, best, wrk
from servers import ServerSpec, serve

DELAY_SECONDS = 0.02
TARGET = 0.6
ROUND_TRIPS = {"non-streaming, store on": 1, "streamed, store on": 2}
"""Storage calls on a new response's request path: create; for a stream, also its end."""
ENV_LINES = 4


@contextmanager
def fake_storage(python: Path, project: Path, folder: Path) -> Iterator[dict[str, str]]:
    """Run the fake in its own process; yield the environment a server needs to use it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = project / "tests" / "fake_foundry_storage.py"
    process = subprocess.Popen(
        [str(python), str(script), str(folder), "--delay", str(DELAY_SECONDS)],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(ENV_LINES)]
        if not all("=" in line for line in lines):
            raise BenchError(f"the fake Foundry storage did not start (printed {lines!r})")
        yield dict(line.split("=", 1) for line in lines)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def specs(generated: ServerSpec, microsoft: ServerSpec, env: dict[str, str]) -> list[ServerSpec]:
    """Both servers again, each pointed at the fake storage."""
    ours = dataclasses.replace(
        generated,
        name="generated, store=foundry",
        # OFFLINE_AGENT: FOUNDRY_PROJECT_ENDPOINT alone would make the agent call a model.
        env={**generated.env, **env, "RESPONSE_STORE": "foundry", "OFFLINE_AGENT": "1"},
        log=generated.log.with_name("generated-foundry.log") if generated.log else None,
    )
    theirs = dataclasses.replace(
        microsoft,
        name="microsoft, Foundry storage",
        env={**microsoft.env, **env, "FOUNDRY_HOSTING_ENVIRONMENT": "bench"},
        log=microsoft.log.with_name("microsoft-foundry.log") if microsoft.log else None,
    )
    return [ours, theirs]


def measure(
    generated: ServerSpec,
    microsoft: ServerSpec,
    python: Path,
    build: Path,
    wrk_path: str,
    options: argparse.Namespace,
) -> dict[tuple[str, str], WrkResult]:
    """Best of `options.rounds` wrk runs per server and scenario, the servers taking turns."""
    results: dict[tuple[str, str], WrkResult] = {}
    folder = build / "foundry-storage"
    with fake_storage(python, generated.cwd, folder) as env, ExitStack() as stack:
        running = [stack.enter_context(serve(s))[0] for s in specs(generated, microsoft, env)]
        step("store=foundry: correctness checks against the fake storage")
        for server in running:
            created = checks.check_json(server, store=True)
            checks.check_stream(server)
            if not checks.is_stored(server, created):
                raise BenchError(f"{server.spec.name}: a stored response cannot be retrieved")
        for scenario in ROUND_TRIPS:
            body = checks.request_body(stream="streamed" in scenario, store=True)
            step(f"wrk, store=foundry, {scenario}: {options.rounds} round(s) per server")
            runs: dict[str, list[WrkResult]] = {server.spec.name: [] for server in running}
            errors: dict[str, int] = dict.fromkeys(runs, 0)
            for round_ in range(options.rounds):
                for server in running:
                    if round_ == 0:
                        warmup = wrk(wrk_path, server, body, options.warmup, options.connections)
                        errors[server.spec.name] += warmup.bad
                    result = wrk(wrk_path, server, body, options.seconds, options.connections)
                    runs[server.spec.name].append(result)
            for name, results_ in runs.items():
                results[name, scenario] = best(results_, errors[name])
    return results


def report(results: dict[tuple[str, str], WrkResult], connections: int) -> tuple[str, int]:
    """The rows of the scenario and how many targets the generated server missed."""
    lines = [
        f"store=foundry (fake storage answering after {DELAY_SECONDS * 1000:.0f} ms, "
        f"{connections} connections):",
        f"  {'scenario':26}{'round trips':>12}{'target req/s':>14}{'generated':>11}"
        f"{'CPU us':>8}{'microsoft':>11}{'CPU us':>8}{'gen/MS':>8}  verdict",
    ]
    missed = 0
    for scenario, trips in ROUND_TRIPS.items():
        target = TARGET * connections / (trips * DELAY_SECONDS)
        ours = results["generated, store=foundry", scenario]
        theirs = results["microsoft, Foundry storage", scenario]
        met = ours.per_second >= target and not ours.bad
        missed += not met
        ratio = ours.per_second / theirs.per_second if theirs.per_second else float("inf")
        lines.append(
            f"  {scenario:26}{trips:>12}{target:>14,.0f}{ours.per_second:>11,.0f}"
            f"{ours.cpu_us:>8,.0f}{theirs.per_second:>11,.0f}{theirs.cpu_us:>8,.0f}"
            f"{ratio:>7.1f}x  {'PASS' if met else 'FAIL'}"
            + (f" ({ours.bad} errors)" if ours.bad else "")
            + (f" (microsoft: {theirs.bad} errors)" if theirs.bad else "")
        )
    return "\n".join(lines), missed
