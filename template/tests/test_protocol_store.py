"""Where responses are kept: SQLite under the state directory, memory, and the fallbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx

from conftest import PACKAGE, PROJECT, TEST_AGENT, start_server


def create(url: str, **body: object) -> dict:
    reply = httpx.post(f"{url}/responses", json={"input": "words hi", **body}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_memory_store_keeps_responses_without_files(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT, RESPONSE_STORE="memory")
    try:
        first = create(url)
        assert httpx.get(f"{url}/responses/{first['id']}").json()["id"] == first["id"]
        second = create(url, input="describe", previous_response_id=first["id"])
        turn = json.loads(second["output"][0]["content"][0]["text"])
        assert [item["role"] for item in turn["items"]] == ["user", "assistant", "user"]
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert not list(tmp_path.rglob("*.sqlite3"))


def test_unwritable_state_dir_falls_back_to_the_temp_dir(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    process, url = start_server(
        tmp_path, "--agent", TEST_AGENT, STATE_DIR=str(not_a_dir), TMPDIR=str(temp)
    )
    try:
        response = create(url)
        assert httpx.get(f"{url}/responses/{response['id']}").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert list(temp.glob("agent-responses/responses.sqlite3"))


def run_server_expecting_failure(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": "1", "HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", PACKAGE],
        cwd=PROJECT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_second_server_on_the_same_state_dir_exits_with_the_fix(tmp_path: Path) -> None:
    process, _ = start_server(tmp_path)
    try:
        second = run_server_expecting_failure(tmp_path)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert second.returncode == 2
    assert "STATE_DIR" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_bad_setting_exits_with_the_fix(tmp_path: Path) -> None:
    result = run_server_expecting_failure(tmp_path, RESPONSE_STORE="postgres")
    assert result.returncode == 2
    assert "RESPONSE_STORE" in result.stderr
    assert "Traceback" not in result.stderr
