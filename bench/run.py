"""Benchmark the generated server against Microsoft's library and the bare-Starlette floor.

Run with `make bench` (or `.venv/bin/python bench/run.py --help`). Each server in turn runs on
127.0.0.1 under the same uvicorn with one worker, answers a correctness check, then wrk loads
it; one table compares them. Set BENCH_TEMPLATE to benchmark another checkout of the template.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import checks
import environments
from environments import step
from errors import BenchError
from load import WrkResult, time_to_first_byte, wrk
from report import SERVERS, Measured, table
from servers import ServerSpec, cold_start, serve

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build" / "bench"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path,
                        default=Path(os.environ.get("BENCH_TEMPLATE") or ROOT),
                        help="template checkout to render (default: $BENCH_TEMPLATE or this repo)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 6)),
                        help="duration of each measured wrk run (default 6, $BENCH_SECONDS)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold-starts", type=int, default=5, help="starts timed for cold start")
    parser.add_argument("--ttfb-requests", type=int, default=50,
                        help="sequential streamed requests timed for the first byte")
    return parser.parse_args()


def _specs(project: Path, pythons: dict[str, Path]) -> dict[str, ServerSpec]:
    state = BUILD / "state"
    logs = BUILD / "logs"
    peers = str(BENCH / "peers")
    uvicorn = ["-m", "uvicorn", "--app-dir", peers, "--log-level", "warning"]
    return {
        "generated": ServerSpec(
            "generated", [str(pythons["generated"]), "-m", environments.PACKAGE], project,
            {"HOME": str(state / "generated"), "STATE_DIR": str(state / "generated")},
            logs / "generated.log",
        ),
        "microsoft": ServerSpec(
            "microsoft", [str(pythons["microsoft"]), *uvicorn, "microsoft_echo:app"], BENCH,
            {"HOME": str(state / "microsoft"), "AGENTSERVER_STATE_ROOT": str(state / "microsoft")},
            logs / "microsoft.log",
        ),
        "floor": ServerSpec(
            "floor", [str(pythons["floor"]), *uvicorn, "floor:app"], BENCH,
            {"HOME": str(state / "floor")}, logs / "floor.log",
        ),
    }


def _measure(spec: ServerSpec, wrk_path: str, options: argparse.Namespace) -> Measured:
    cold = cold_start(spec, options.cold_starts)
    with serve(spec) as (server, _):
        idle_rss = server.rss_mb()
        created = checks.check_json(server, store=True)
        checks.check_json(server, store=False)
        checks.check_stream(server)
        stored = None if spec.name == "floor" else checks.is_stored(server, created)
        streamed = checks.request_body(stream=True, store=True)
        ttfb = time_to_first_byte(server, streamed, options.ttfb_requests)

        loaded_rss = 0.0

        def load(body: str) -> WrkResult:
            nonlocal loaded_rss
            wrk(wrk_path, server, body, options.warmup, options.connections)
            result = wrk(wrk_path, server, body, options.seconds, options.connections)
            loaded_rss = max(loaded_rss, server.rss_mb())
            return result

        json_store = load(checks.request_body(stream=False, store=True))
        json_no_store = load(checks.request_body(stream=False, store=False))
        stream = load(streamed)
    return Measured(json_store, json_no_store, stream, ttfb, idle_rss, loaded_rss, cold, stored)


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                  .splitlines() if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def main() -> int:
    options = _arguments()
    template = options.template.resolve()
    if not (template / "copier.yml").is_file():
        raise BenchError(f"{template} has no copier.yml; point BENCH_TEMPLATE at a template checkout")
    started = time.monotonic()
    wrk_path = environments.ensure_wrk()
    project, generated = environments.generated_project(template, BUILD)
    found = environments.versions(generated, "uvicorn", "starlette")
    pythons = {
        "generated": generated,
        "microsoft": environments.microsoft(BUILD, found["uvicorn"]),
        "floor": environments.floor(BUILD, found["uvicorn"], found["starlette"]),
    }
    for folder in ("state", "logs"):
        shutil.rmtree(BUILD / folder, ignore_errors=True)
        (BUILD / folder).mkdir(parents=True)
    specs = _specs(project, pythons)
    results = {}
    for name in SERVERS:
        step(f"{name}: cold starts, correctness checks, then wrk at {options.connections} "
             f"connections, {options.seconds:g} s per scenario")
        results[name] = _measure(specs[name], wrk_path, options)
    text, missed = table(results)
    print()
    print(f"Template: {template}")
    print(f"Machine: {_machine()}; uvicorn {found['uvicorn']}, starlette {found['starlette']}")
    print(f"wrk: 1 thread, {options.connections} connections, {options.seconds:g} s per scenario "
          f"after {options.warmup:g} s warm-up; {time.monotonic() - started:.0f} s in all")
    print()
    print(text)
    print()
    if missed:
        print(f"The generated server missed {missed} target(s).")
        return 1
    print("The generated server met every target.")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; every server the benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
