"""Everything the benchmark runs: wrk, and one virtual environment per server.

The virtual environments live under build/bench/venvs and are reused while what they should
hold is unchanged, so a rerun only re-renders and reinstalls the generated project.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from errors import BenchError

BIN = Path(sys.executable).parent
MICROSOFT = "azure-ai-agentserver-responses==2.3.0"
AGENT_NAME = "bench-agent"
PACKAGE = "bench_agent"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _run(args: list[str | Path], what: str) -> str:
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, check=False)
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{what} failed ({result.returncode}):\n{tail}")
    return result.stdout


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise BenchError("wrk is missing and there is no apt-get; install wrk, then rerun")
    step("installing wrk from Debian (apt-get)")
    _run(["apt-get", "update", "-qq"], "apt-get update")
    _run(["apt-get", "install", "-y", "-qq", "wrk"], "apt-get install wrk")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def _venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        _run([BIN / "uv", "venv", "--quiet", "--python", sys.executable, path], f"uv venv {path}")
    return python


def install(python: Path, requirements: list[str], what: str) -> None:
    _run([BIN / "uv", "pip", "install", "--quiet", "--python", python, *requirements], what)


def _install_once(venv: Path, requirements: list[str], what: str) -> Path:
    """Install `requirements` unless the venv already holds exactly them."""
    python = _venv(venv)
    marker = venv / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if not marker.exists() or marker.read_text() != wanted:
        step(f"installing {what} into {venv.name}")
        install(python, requirements, f"installing {what}")
        marker.write_text(wanted)
    return python


def versions(python: Path, *distributions: str) -> dict[str, str]:
    """Installed versions of `distributions` in the environment of `python`."""
    code = (
        "import sys, importlib.metadata as m\n"
        "print(' '.join(m.version(name) for name in sys.argv[1:]))"
    )
    found = _run([python, "-c", code, *distributions], "reading installed versions").split()
    return dict(zip(distributions, found, strict=True))


def compile_bytecode(python: Path, *folders: Path) -> None:
    """Compile the venv of `python` and `folders` ahead, as the agent's image does.

    This shell sets PYTHONDONTWRITEBYTECODE, so without it every start of every server would
    compile its sources, and cold start would measure the compiler. Up-to-date files are skipped.
    """
    venv = python.parent.parent
    _run(
        [python, "-m", "compileall", "-q", "-j0", venv / "lib", *folders],
        f"compiling the bytecode of {venv.name}",
    )


def generated_project(template: Path, build: Path) -> tuple[Path, Path]:
    """Render the template with its offline agent and install it; (project, python)."""
    project = build / "project"
    shutil.rmtree(project, ignore_errors=True)
    step(f"rendering {template} into {project}")
    _run(
        [
            BIN / "copier",
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref=HEAD",  # the checkout as it is, not its latest release tag
            "-d",
            f"agent_name={AGENT_NAME}",
            template,
            project,
        ],
        "copier copy",
    )
    python = _venv(build / "venvs" / "generated")
    step("installing the generated project into its own virtual environment")
    # With its telemetry extra, as the image has it: the export rows turn it on.
    install(python, ["-e", f"{project}[telemetry]"], "installing the generated project")
    return project, python


def microsoft(build: Path, uvicorn: str) -> Path:
    """Microsoft's library with the generated project's uvicorn; the venv's python."""
    requirements = [MICROSOFT, f"uvicorn[standard]=={uvicorn}"]
    return _install_once(build / "venvs" / "microsoft", requirements, MICROSOFT)


def floor(build: Path, uvicorn: str, starlette: str) -> Path:
    """The generated project's Starlette and uvicorn, nothing else; the venv's python."""
    requirements = [f"starlette=={starlette}", f"uvicorn[standard]=={uvicorn}"]
    return _install_once(build / "venvs" / "floor", requirements, "starlette and uvicorn")
