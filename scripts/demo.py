"""Render a demo agent from this checkout, serve it offline and stream one reply.

Run with `make demo` (or `make demo FRAMEWORK=langgraph`, `FRAMEWORK=agent-framework`: the
agent.py of that framework, whose offline fallback answers). Everything happens under
build/demo; nothing needs Azure.
"""

from __future__ import annotations

import argparse
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


TOOL = '''"""The get_time function tool."""

from datetime import datetime, timezone


def get_time() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
'''

# Streams one reply and prints each delta as it arrives, then the items of the final response.
CLIENT = """
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="unused", max_retries=0)
print(f"> {sys.argv[2]}")
with client.responses.stream(model="demo", input=sys.argv[2]) as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
    final = stream.get_final_response()
items = ", ".join(item.type for item in final.output)
print(f"\\n[{final.id}: {final.status}; output: {items}]\\n")
"""


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="none", choices=["none", "agent-framework", "langgraph"])
    framework = parser.parse_args().framework
    shutil.rmtree(PROJECT, ignore_errors=True)
    BUILD.mkdir(exist_ok=True)
    step(f"rendering the template into {PROJECT.relative_to(ROOT)} (agent_framework: {framework})")
    subprocess.run(
        [
            BIN / "copier",
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref=HEAD",  # this checkout as it is, not its latest release tag
            "-d",
            "agent_name=demo-agent",
            "-d",
            "function_tools={get_time: The current UTC time}",
            "-d",
            f"agent_framework={framework}",
            str(ROOT),
            str(PROJECT),
        ],
        check=True,
    )
    step("filling in the get_time tool (src/demo_agent/tools/get_time.py is user code)")
    (PROJECT / "src" / "demo_agent" / "tools" / "get_time.py").write_text(TOOL, encoding="utf-8")
    step("installing it into its own virtual environment")
    subprocess.run([BIN / "uv", "venv", "--quiet", str(VENV)], check=True)
    subprocess.run(
        [BIN / "uv", "pip", "install", "--quiet", "--python", str(VENV / "bin" / "python"), "-e", str(PROJECT)],
        check=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = BUILD / "demo-home"  # the store keeps responses under $HOME, which must exist
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "HOME": str(home)}
    env.pop("FOUNDRY_PROJECT_ENDPOINT", None)
    step(f"starting `python -m demo_agent` on {url} (offline agent)")
    server = subprocess.Popen([VENV / "bin" / "python", "-m", "demo_agent"], cwd=PROJECT, env=env)
    try:
        wait_ready(url, server)
        step("streaming a reply with the openai client")
        for text in ("Hello, agent!", "Please call get_time"):
            subprocess.run([VENV / "bin" / "python", "-c", CLIENT, url, text], check=True)
    finally:
        server.terminate()
        code = server.wait(timeout=60)
        step(f"server stopped (exit code {code})")


if __name__ == "__main__":
    main()
