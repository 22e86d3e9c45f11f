"""Where responses are kept: SQLite under the state directory, memory, and the fallbacks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from math import nan as NaN
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


def test_unusable_state_dir_falls_back_to_the_temp_dir_only_when_asked(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    for state_dir in (not_a_dir, tmp_path / "missing"):
        refused = run_server_expecting_failure(tmp_path, STATE_DIR=str(state_dir))
        assert refused.returncode == 2
        assert "STATE_DIR_FALLBACK=tmp" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    log = tmp_path / "server.log"
    process, url = start_server(
        tmp_path,
        "--agent",
        TEST_AGENT,
        log=log,
        STATE_DIR=str(not_a_dir),
        STATE_DIR_FALLBACK="tmp",
        TMPDIR=str(temp),
    )
    try:
        response = create(url)
        assert httpx.get(f"{url}/responses/{response['id']}").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert list(temp.glob("agent-responses/responses.sqlite3"))
    assert "STATE_DIR_FALLBACK=tmp" in log.read_text()


def test_an_empty_or_damaged_database_is_reported_at_start(tmp_path: Path) -> None:
    folder = tmp_path / ".agent-responses"
    folder.mkdir()
    database = folder / "responses.sqlite3"
    log = tmp_path / "server.log"
    for content, said in ((b"", "was empty"), (b"not a database " * 500, "is damaged")):
        database.write_bytes(content)
        process, url = start_server(tmp_path, "--agent", TEST_AGENT, log=log)
        try:
            create(url)
        finally:
            process.terminate()
            process.wait(timeout=15)
        lines = [line for line in log.read_text().splitlines() if str(database) in line]
        assert any(said in line for line in lines), log.read_text()
    # The damaged file is kept beside the new one, not overwritten.
    (aside,) = folder.glob("responses.sqlite3.damaged-*")
    assert aside.read_bytes().startswith(b"not a database")


def test_a_damaged_row_is_refused_without_its_text_in_the_log_or_the_reply(
    tmp_path: Path,
) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    process.terminate()
    process.wait(timeout=15)
    (database,) = tmp_path.rglob("responses.sqlite3")
    secret = "my card number is 4111"
    with sqlite3.connect(database) as db:
        for response_id, status, text in (
            ("caresp_bad_utf8", "completed", f'{{"text": "{secret}'.encode() + b'\xff"}'),
            ("caresp_bad_json", "completed", f'{{"text": "{secret}" oops'.encode()),
            # Read at start, to mark it failed: the server must still start.
            ("caresp_bad_running", "in_progress", f'{{"text": "{secret}'.encode() + b'\xff"}'),
        ):
            db.execute(
                "INSERT INTO responses (user_id, id, status, session_id, response, input)"
                " VALUES ('', ?, ?, '', CAST(? AS TEXT), '[]')",
                (response_id, status, text),
            )
    db.close()
    log = tmp_path / "server.log"
    process, url = start_server(tmp_path, "--agent", TEST_AGENT, log=log)
    try:
        replies = [
            httpx.get(f"{url}/responses/{i}")
            for i in ("caresp_bad_utf8", "caresp_bad_json", "caresp_bad_running")
        ]
    finally:
        process.terminate()
        process.wait(timeout=15)
    for reply in replies:
        assert reply.status_code == 500, reply.text
        assert reply.json()["error"]["code"] == "stored_response_damaged"
        assert secret not in reply.text
    assert secret not in log.read_text()


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


def test_items_orjson_refuses_are_written_by_the_standard_library(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        made = create(url, input="odd-item")
        stored = httpx.get(f"{url}/responses/{made['id']}").json()
        for response in (made, stored):
            assert response["status"] == "completed"
            assert response["output"][0]["keys"] == {"1": "one"}
            assert response["output"][0]["big"] == 2**70
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_output_that_cannot_be_stored_fails_instead_of_staying_queued(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        for background in (False, True):
            made = create(url, input="bad-item", background=background)
            stored = httpx.get(f"{url}/responses/{made['id']}").json()
            for _ in range(100):
                if stored["status"] not in ("queued", "in_progress"):
                    break
                time.sleep(0.05)
                stored = httpx.get(f"{url}/responses/{made['id']}").json()
            assert stored["status"] == "failed"
            assert stored["error"]["code"] == "server_error"
            assert stored["output"] == []
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_rows_an_older_version_wrote_with_nan_still_load(tmp_path: Path) -> None:
    """Older versions parsed bodies with the standard library, which stored NaN as is."""
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    done = create(url, input="words hi")
    process.terminate()
    process.wait(timeout=15)
    (database,) = tmp_path.rglob("responses.sqlite3")
    with sqlite3.connect(database) as db:
        for response_id, status in ((done["id"], "completed"), ("caresp_old", "in_progress")):
            text = json.dumps({**done, "id": response_id, "status": status, "temperature": NaN})
            db.execute(
                "INSERT OR REPLACE INTO responses (user_id, id, status, session_id, response, input)"
                " VALUES ('', ?, ?, '', ?, '[]')",
                (response_id, status, text),
            )
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        assert httpx.get(f"{url}/responses/{done['id']}").json()["status"] == "completed"
        assert httpx.get(f"{url}/responses/caresp_old").json()["status"] == "failed"
    finally:
        process.terminate()
        process.wait(timeout=15)
