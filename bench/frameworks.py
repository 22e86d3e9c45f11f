"""Framework overhead per turn: the agent_framework variants against the plain model agent.

Run with `make bench-frameworks` (or `.venv/bin/python bench/frameworks.py --help`). Each
variant (`none`, `langgraph`, `agent-framework`) is rendered from this checkout with
`agent_name=bench-agent`, installed into its own environment under build/bench/frameworks
(bytecode compiled ahead, as in the image), and its agent.py answers the same turns from
the same fake model (the project's tests/fake_model.py, in its own process). Per turn:
time to the first text delta and the CPU time of the agent's process; and the CPU time of
importing agent.py (what the framework adds to a cold start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import environments
from environments import AGENT_NAME, PACKAGE, step
from errors import BenchError

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench" / "frameworks"
FRAMEWORKS = ("none", "langgraph", "agent-framework")
WORDS = 40
"""Words in each answer of the fake model (one text delta each)."""

FAKE = """
import sys
import fake_model
model = fake_model.FakeModel().__enter__()
model.script(*[fake_model.Answer(" ".join(["word"] * int(sys.argv[2])))] * int(sys.argv[1]))
print(model.endpoint, flush=True)
sys.stdin.read()
"""
"""The fake model, scripted with one answer per turn; it serves until its stdin closes."""

MEASURE = """
import asyncio, importlib, json, os, sys, time
started = time.process_time()
agent = importlib.import_module(sys.argv[1] + ".agent").agent
imported = time.process_time() - started
from {package}.hosting import Turn

async def turns(count):
    results = []
    for _ in range(count):
        turn = Turn(items=[{{"type": "message", "role": "user", "content": "Say forty words."}}])
        cpu, wall, first = time.process_time(), time.perf_counter(), None
        async for output in agent(turn):
            if first is None and isinstance(output, str):
                first = time.perf_counter() - wall
        results.append((first, time.process_time() - cpu))
    return results

warmup, count = int(sys.argv[2]), int(sys.argv[3])
results = asyncio.run(turns(warmup + count))[warmup:]
print(json.dumps({{"import_cpu": imported, "turns": results}}))
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50, help="measured turns (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="turns before measuring (5)")
    return parser.parse_args()


def _run(args: list[str | Path], what: str) -> None:
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True)
    if result.returncode:
        raise BenchError(f"{what} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _variant(framework: str) -> tuple[Path, Path]:
    """Render and install one variant; (project, python)."""
    project = BUILD / framework
    shutil.rmtree(project, ignore_errors=True)
    step(f"rendering the {framework} variant into {project}")
    copier = [environments.BIN / "copier", "copy", "--trust", "--defaults", "--quiet"]
    answers = ["-d", f"agent_name={AGENT_NAME}", "-d", f"agent_framework={framework}"]
    _run([*copier, "--vcs-ref=HEAD", *answers, ROOT, project], "copier copy")
    python = BUILD / f"venv-{framework}" / "bin" / "python"
    if not python.exists():
        _run([environments.BIN / "uv", "venv", "--quiet", python.parent.parent], "uv venv")
    step(f"installing the {framework} variant")
    environments.install(python, ["-e", str(project)], f"installing the {framework} variant")
    environments.compile_bytecode(python, project / "src", project / "tests")
    return project, python


def _measure(project: Path, python: Path, warmup: int, turns: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(project / "tests")}
    for name in ("FOUNDRY_PROJECT_ENDPOINT", "MODEL_BASE_URL", "OFFLINE_AGENT"):
        env.pop(name, None)
    fake = subprocess.Popen(
        [python, "-c", FAKE, str(warmup + turns), str(WORDS)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = fake.stdout.readline().strip() if fake.stdout else ""
        if not endpoint:
            raise BenchError(f"the fake model of {project} did not start")
        env |= {
            "FOUNDRY_PROJECT_ENDPOINT": endpoint,
            "MODEL_API_KEY": "test-key",
            "MODEL_MAX_RETRIES": "0",
            "MODEL_DEPLOYMENT_NAME": "bench-model",
        }
        code = MEASURE.format(package=PACKAGE)
        args = [python, "-c", code, PACKAGE, str(warmup), str(turns)]
        result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
        if result.returncode:
            raise BenchError(f"measuring {project.name} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=30)


def main() -> None:
    options = _arguments()
    rows = {}
    for framework in FRAMEWORKS:
        project, python = _variant(framework)
        step(f"measuring {framework}: {options.warmup} + {options.turns} turns")
        rows[framework] = _measure(project, python, options.warmup, options.turns)
    base = rows["none"]
    base_first = statistics.median(first for first, _ in base["turns"])
    base_cpu = statistics.mean(cpu for _, cpu in base["turns"])
    print(
        f"\n{WORDS}-word answers from the fake model, {options.turns} turns each, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        "| agent_framework | first delta ms (median) | CPU ms/turn (mean) | vs none "
        "| import agent.py, CPU s |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for framework, row in rows.items():
        first = statistics.median(first for first, _ in row["turns"])
        cpu = statistics.mean(cpu for _, cpu in row["turns"])
        print(
            f"| {framework} | {first * 1000:.2f} (+{(first - base_first) * 1000:.2f}) "
            f"| {cpu * 1000:.2f} (+{(cpu - base_cpu) * 1000:.2f}) | {cpu / base_cpu:.1f}x "
            f"| {row['import_cpu']:.2f} |"
        )


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"error: {error}")
