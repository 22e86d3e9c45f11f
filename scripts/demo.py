"""Render a demo agent from this checkout, serve it offline and stream one reply.

Run with `make demo`. Everything happens under build/demo; nothing needs Azure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
PROJECT = BUILD / "demo"
VENV = PROJECT / ".venv"
BIN = Path(sys.executable).parent


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the server exited with {process.returncode}; see above")
        try:
            with urllib.request.urlopen(f"{url}/readiness", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"error: no answer from {url}/readiness in {seconds:.0f} s")


def main() -> None:
    shutil.rmtree(PROJECT, ignore_errors=True)
    BUILD.mkdir(exist_ok=True)
    step(f"rendering the template into {PROJECT.relative_to(ROOT)}")
    subprocess.run(
        [
            BIN / "copier",
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "-d",
            "agent_name=demo-agent",
            "-d",
            "function_tools={get_time: The current UTC time}",
            str(ROOT),
            str(PROJECT),
        ],
        check=True,
    )
    step("installing it into its own virtual environment")
    subprocess.run([BIN / "uv", "venv", "--quiet", str(VENV)], check=True)
    subprocess.run(
        [BIN / "uv", "pip", "install", "--quiet", "--python", str(VENV / "bin" / "python"), "-e", str(PROJECT)],
        check=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "HOME": str(BUILD / "demo-home")}
    env.pop("FOUNDRY_PROJECT_ENDPOINT", None)
    step(f"starting `python -m demo_agent` on {url} (offline agent)")
    server = subprocess.Popen([VENV / "bin" / "python", "-m", "demo_agent"], cwd=PROJECT, env=env)
    try:
        wait_ready(url, server)
        step("streaming a reply with the openai client")
        client_code = (
            "import sys, openai\n"
            "client = openai.OpenAI(base_url=sys.argv[1], api_key='unused', max_retries=0)\n"
            "with client.responses.stream(model='demo', input='Hello, agent!') as stream:\n"
            "    for event in stream:\n"
            "        if event.type == 'response.output_text.delta':\n"
            "            print(event.delta, end='', flush=True)\n"
            "    final = stream.get_final_response()\n"
            "print(f'\\n[{final.id}: {final.status}]')\n"
        )
        subprocess.run([VENV / "bin" / "python", "-c", client_code, url], check=True)
    finally:
        server.terminate()
        code = server.wait(timeout=60)
        step(f"server stopped (exit code {code})")


if __name__ == "__main__":
    main()
