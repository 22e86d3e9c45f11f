"""Benchmark the generated server against Microsoft's library and the bare-Starlette floor.

Run with `make bench` (or `.venv/bin/python bench/run.py --help`). The three servers run on
127.0.0.1 under the same uvicorn with one worker each, answer correctness checks, then wrk loads
them in turn; one table compares them. BENCH_TEMPLATE benchmarks another template checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import os
import shutil
import signal
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import checks
import environments
import foundry
import limits
import profiling
from environments import step
from errors import BenchError
from load import WrkResult, best, time_to_first_byte, wrk
from otlp_sink import OtlpSink
from report import LIMITS, SERVERS, Measured, table
from servers import Running, ServerSpec, cold_start, serve

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build" / "bench"
_LOCKS: list[object] = []  # keeps the lock file open for the life of the process
SCENARIOS = {
    "non-streaming, store on": checks.request_body(stream=False, store=True),
    "non-streaming, store off": checks.request_body(stream=False, store=False),
    "streamed, store on": checks.request_body(stream=True, store=True),
}
EXPORTED = "non-streaming, store on"
"""The scenario the generated server also runs with its traces exported over OTLP."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--template",
        type=Path,
        default=Path(os.environ.get("BENCH_TEMPLATE") or ROOT),
        help="template checkout to render (default: $BENCH_TEMPLATE or this repo)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=os.environ.get("BENCH_SECONDS", "3"),  # argparse converts a string default
        help="duration of each measured wrk run (default 3, $BENCH_SECONDS)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=os.environ.get("BENCH_ROUNDS", "3"),
        help="measured wrk runs per server and scenario; the best value of each metric counts",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default=os.environ.get("BENCH_PROFILE") or "auto",
        help="profile the generated server with py-spy: auto = when a target is "
        "missed ($BENCH_PROFILE)",
    )
    parser.add_argument(
        "--only-export",
        action="store_true",
        help="measure only the generated server with and without OTLP export (one scenario)",
    )
    parser.add_argument(
        "--only-foundry",
        action="store_true",
        help="measure only the store=foundry scenario: both real servers on a fake storage",
    )
    parser.add_argument(
        "--only-limits",
        action="store_true",
        help="measure only the limit rows: a 4 MiB-input stream, 500 slow readers, p99 at "
        "256 connections (limits.py)",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold-starts", type=int, default=5, help="starts timed for cold start")
    parser.add_argument(
        "--ttfb-requests",
        type=int,
        default=50,
        help="sequential streamed requests timed for the first byte",
    )
    options = parser.parse_args()
    if options.profile not in ("auto", "always", "never"):
        parser.error(f"BENCH_PROFILE={options.profile!r}: use auto, always or never")
    if options.seconds <= 0 or options.rounds < 1:
        parser.error("--seconds must be above 0 and --rounds at least 1")
    return options


def _specs(project: Path, pythons: dict[str, Path]) -> dict[str, ServerSpec]:
    state = BUILD / "state"
    logs = BUILD / "logs"
    peers = str(BENCH / "peers")
    # The generated server's own uvicorn settings: warnings only, no access log.
    uvicorn = ["-m", "uvicorn", "--app-dir", peers, "--log-level", "warning", "--no-access-log"]
    return {
        "generated": ServerSpec(
            "generated",
            [str(pythons["generated"]), "-m", environments.PACKAGE],
            project,
            {"HOME": str(state / "generated"), "STATE_DIR": str(state / "generated")},
            logs / "generated.log",
        ),
        "microsoft": ServerSpec(
            "microsoft",
            [str(pythons["microsoft"]), *uvicorn, "microsoft_echo:app"],
            BENCH,
            {"HOME": str(state / "microsoft"), "AGENTSERVER_STATE_ROOT": str(state / "microsoft")},
            logs / "microsoft.log",
        ),
        "floor": ServerSpec(
            "floor",
            [str(pythons["floor"]), *uvicorn, "floor:app"],
            BENCH,
            {"HOME": str(state / "floor")},
            logs / "floor.log",
        ),
    }


def _cold_starts(specs: list[ServerSpec], runs: int) -> dict[str, float]:
    """Median cold start of each server, taking turns so a busy moment hits all of them."""
    times: dict[str, list[float]] = {spec.name: [] for spec in specs}
    for _ in range(runs):
        for spec in specs:
            times[spec.name].append(cold_start(spec))
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def _check(server: Running, options: argparse.Namespace) -> tuple[bool | None, float]:
    """Correctness before load; then whether store works and the time to first streamed byte."""
    created = checks.check_json(server, store=True)
    checks.check_json(server, store=False)
    checks.check_stream(server)
    stored = None if server.spec.name == "floor" else checks.is_stored(server, created)
    body = checks.request_body(stream=True, store=True)
    return stored, time_to_first_byte(server, body, options.ttfb_requests)


def _measure(
    specs: list[ServerSpec], wrk_path: str, options: argparse.Namespace
) -> dict[str, Measured]:
    """Every metric of every server.

    The machine is shared, so each scenario loads the servers in turn, round after round, and
    keeps each server's best value of each metric: load from elsewhere only ever makes a run
    slower. Errors are summed over every run, the warm-up's included.
    """
    step(f"cold starts: {options.cold_starts} per server, in turn")
    cold = _cold_starts(specs, options.cold_starts)
    with ExitStack() as stack:
        servers = [stack.enter_context(serve(spec))[0] for spec in specs]
        idle = {server.spec.name: server.rss_mb() for server in servers}
        step("correctness checks, then time to first streamed byte")
        checked = {server.spec.name: _check(server, options) for server in servers}
        loaded = dict.fromkeys(idle, 0.0)
        runs: dict[tuple[str, str], list[WrkResult]] = {}
        warmup_errors: Counter[tuple[str, str]] = Counter()
        for scenario, body in SCENARIOS.items():
            step(f"wrk, {scenario}: {options.rounds} round(s) of {options.seconds:g} s per server")
            for round_ in range(options.rounds):
                for server in servers:
                    key = (server.spec.name, scenario)
                    if round_ == 0:
                        warmup = wrk(wrk_path, server, body, options.warmup, options.connections)
                        warmup_errors[key] += warmup.bad
                    result = wrk(wrk_path, server, body, options.seconds, options.connections)
                    runs.setdefault(key, []).append(result)
                    loaded[key[0]] = max(loaded[key[0]], server.rss_mb())

    def combined(name: str, scenario: str) -> WrkResult:
        return best(runs[name, scenario], warmup_errors[name, scenario])

    exported = _measure_export(next(s for s in specs if s.name == "generated"), wrk_path, options)
    limited = _measure_limits(specs, wrk_path, options)
    return {
        name: Measured(
            json_store=combined(name, "non-streaming, store on"),
            json_no_store=combined(name, "non-streaming, store off"),
            stream=combined(name, "streamed, store on"),
            ttfb_ms=checked[name][1],
            idle_rss_mb=idle[name],
            loaded_rss_mb=loaded[name],
            cold_start_s=cold[name],
            stored=checked[name][0],
            export=exported if name == "generated" else None,
            limits=limited[name],
        )
        for name in idle
    }


def _measure_export(
    spec: ServerSpec, wrk_path: str, options: argparse.Namespace
) -> tuple[WrkResult, WrkResult]:
    """The generated server in the EXPORTED scenario without and with OTLP export: (off, on).

    Both run at once and take turns, like the servers of the main table; the exporting one
    sends to a local sink, and must have sent it spans by the end.
    """
    body = SCENARIOS[EXPORTED]
    with OtlpSink() as sink, ExitStack() as stack:
        exporting = dataclasses.replace(
            spec,
            name="generated, OTLP export",
            env={
                **spec.env,
                "HOME": f"{spec.env['HOME']}-otlp",  # a store of its own
                "STATE_DIR": f"{spec.env['STATE_DIR']}-otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
            },
            log=spec.log.with_name("generated-otlp.log") if spec.log else None,
        )
        servers = [stack.enter_context(serve(s))[0] for s in (spec, exporting)]
        step(f"wrk, {EXPORTED}, OTLP export off and on: {options.rounds} round(s) each")
        runs: dict[str, list[WrkResult]] = {server.spec.name: [] for server in servers}
        errors = 0
        for round_ in range(options.rounds):
            for server in servers:
                if round_ == 0:
                    errors += wrk(wrk_path, server, body, options.warmup, options.connections).bad
                result = wrk(wrk_path, server, body, options.seconds, options.connections)
                runs[server.spec.name].append(result)
        if not sink.exports.get("/v1/traces"):
            raise BenchError("the exporting server sent no spans to the OTLP sink")
    off, on = (best(runs[s.spec.name], errors) for s in servers)
    return off, on


def _measure_limits(
    specs: list[ServerSpec], wrk_path: str, options: argparse.Namespace
) -> dict[str, limits.LimitResult]:
    """The limit rows of every server, one fresh process per scenario."""
    step(
        f"limits: a {limits.BIG_INPUT_BYTES >> 20} MiB-input stream, {limits.SLOW_READERS} "
        f"slow readers, wrk at {limits.WIDE_CONNECTIONS} connections, per server"
    )
    return {spec.name: limits.measure(spec, wrk_path, options.seconds) for spec in specs}


def _only_limits(specs: list[ServerSpec], wrk_path: str, options: argparse.Namespace) -> int:
    """`--only-limits`: the limit rows alone (they have no targets)."""
    measured = _measure_limits(specs, wrk_path, options)
    print()
    print(f"{'':50}" + "".join(f"{name:>12}" for name in SERVERS))
    for label, value, digits in LIMITS:
        cells = (f"{value(measured[name]):>12,.{digits}f}" for name in SERVERS)
        print(f"{label:50}" + "".join(cells))
    return 0


def _only_export(spec: ServerSpec, wrk_path: str, options: argparse.Namespace) -> int:
    """`--only-export`: the export rows alone; exit 1 when the target is missed."""
    off, on = _measure_export(spec, wrk_path, options)
    ratio = on.per_second / off.per_second
    print()
    print(f"generated server, {EXPORTED}, best of {options.rounds} x {options.seconds:g} s:")
    for label, result in (("export off", off), ("OTLP export on", on)):
        print(f"  {label:15}{result.per_second:8,.0f} req/s{result.cpu_us:6,.0f} us CPU/request")
    print(f"  on / off       {ratio:8.2f}x (target >= 0.80: {'PASS' if ratio >= 0.8 else 'FAIL'})")
    return 0 if ratio >= 0.8 and not on.bad else 1


def _foundry(
    specs: dict[str, ServerSpec], python: Path, wrk_path: str, options: argparse.Namespace
) -> tuple[str, int]:
    """The store=foundry rows, and how many of their targets the generated server missed."""
    generated, microsoft = specs["generated"], specs["microsoft"]
    results = foundry.measure(generated, microsoft, python, BUILD, wrk_path, options)
    return foundry.report(results, options.connections)


def _only_foundry(
    specs: dict[str, ServerSpec], python: Path, wrk_path: str, options: argparse.Namespace
) -> int:
    """`--only-foundry`: the store=foundry rows alone; exit 1 when a target is missed."""
    text, missed = _foundry(specs, python, wrk_path, options)
    print()
    print(f"best of {options.rounds} x {options.seconds:g} s; load: {_load()}")
    print(text)
    return 1 if missed else 0


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes): the numbers mean little without it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _profile(
    spec: ServerSpec,
    python: Path,
    measured: Measured,
    wrk_path: str,
    options: argparse.Namespace,
) -> None:
    """Print where the generated server spends its time in each loaded scenario."""
    py_spy = profiling.ensure_py_spy(python)
    profiled = {
        "non-streaming, store on": measured.json_store.cpu_us,
        "streamed, store on": measured.stream.cpu_us,
    }
    for scenario, cpu_us in profiled.items():
        output = BUILD / f"profile-{scenario.replace(', ', '-').replace(' ', '-')}.txt"
        step(f"profiling the generated server, {scenario} ({options.seconds:g} s of py-spy)")
        body = SCENARIOS[scenario]
        stacks = profiling.record(py_spy, spec, wrk_path, body, options.seconds, output)
        print(profiling.summary(stacks, cpu_us))
        print(f"(raw stacks for a flame graph: {output.relative_to(ROOT)})")
        print()


def _machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def _hold_lock(build: Path) -> None:
    """Refuse to run beside another run of this checkout: they would share build/bench.

    The lock lives as long as this process (its file stays open), so a killed run frees it.
    """
    build.mkdir(parents=True, exist_ok=True)
    lock = open(build / "lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BenchError(
            f"another benchmark is running in this checkout ({build}); wait for it"
        ) from None
    _LOCKS.append(lock)


def main() -> int:
    options = _arguments()
    template = options.template.resolve()
    if not (template / "copier.yml").is_file():
        raise BenchError(
            f"{template} has no copier.yml; point BENCH_TEMPLATE at a template checkout"
        )
    _hold_lock(BUILD)
    started = time.monotonic()
    wrk_path = environments.ensure_wrk()
    project, generated = environments.generated_project(template, BUILD)
    found = environments.versions(generated, "uvicorn", "starlette")
    pythons = {
        "generated": generated,
        "microsoft": environments.microsoft(BUILD, found["uvicorn"]),
        "floor": environments.floor(BUILD, found["uvicorn"], found["starlette"]),
    }
    step("compiling bytecode ahead of the servers' starts")
    environments.compile_bytecode(pythons["generated"], project / "src")
    environments.compile_bytecode(pythons["microsoft"], BENCH / "peers")
    environments.compile_bytecode(pythons["floor"], BENCH / "peers")
    for folder in ("state", "logs"):
        shutil.rmtree(BUILD / folder, ignore_errors=True)
        (BUILD / folder).mkdir(parents=True)
    specs = _specs(project, pythons)
    if options.only_export:
        return _only_export(specs["generated"], wrk_path, options)
    if options.only_foundry:
        return _only_foundry(specs, pythons["generated"], wrk_path, options)
    if options.only_limits:
        return _only_limits([specs[name] for name in SERVERS], wrk_path, options)
    results = _measure([specs[name] for name in SERVERS], wrk_path, options)
    text, missed = table(results)
    stored, stored_missed = _foundry(specs, pythons["generated"], wrk_path, options)
    missed += stored_missed
    print()
    print(f"Template: {template}")
    print(f"Machine: {_machine()}; uvicorn {found['uvicorn']}, starlette {found['starlette']}")
    print(f"Load average (1, 5, 15 min) at the end: {_load()}")
    print(
        f"wrk: 1 thread, {options.connections} connections, best of {options.rounds} x "
        f"{options.seconds:g} s per server and scenario after {options.warmup:g} s warm-up; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print()
    print(text)
    print()
    print(stored)
    print()
    if options.profile == "always" or (missed and options.profile == "auto"):
        _profile(specs["generated"], pythons["generated"], results["generated"], wrk_path, options)
    if missed:
        print(f"The generated server missed {missed} target(s).")
        return 1
    print("The generated server met every target.")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    # Also when started in the background, where SIGINT would otherwise be ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; every server the benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
