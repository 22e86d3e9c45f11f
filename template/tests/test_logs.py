"""The server's log: a start-up line, an access line per request, LOG_LEVEL and LOG_FORMAT."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import AGENT_NAME, PACKAGE, PROJECT, TEST_AGENT, start_server

SECRET = "zebra-umbrella-42"
"""Words only a user says: they must never reach the log."""


def serve_and_call(home: Path, *args: str, **env: str) -> tuple[str, list[httpx.Response]]:
    """Start a server, send a stored and a streamed request, stop it; (its log, the replies)."""
    log = home / "server.log"
    process, url = start_server(home, *args, log=log, **env)
    try:
        replies = [
            httpx.post(f"{url}/responses", json={"input": f"words {SECRET}"}),
            httpx.post(f"{url}/responses", json={"input": f"words {SECRET}", "stream": True}),
            httpx.get(f"{url}/readiness"),
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)
    return log.read_text(), replies


def test_start_line_and_one_access_line_per_request(tmp_path: Path) -> None:
    text, (stored, streamed, _) = serve_and_call(tmp_path)
    lines = text.splitlines()
    start = next(line for line in lines if " serving " in line)
    assert f"serving {AGENT_NAME} on http://127.0.0.1:" in start
    assert f"agent {PACKAGE}.agent:agent (offline: no FOUNDRY_PROJECT_ENDPOINT)" in start
    assert f"store: sqlite at {tmp_path}" in start
    assert "telemetry: off" in start
    access = [line for line in lines if ".hosting.access:" in line]
    assert len(access) == 2  # readiness probes are logged at debug only
    for line, reply in zip(access, (stored, streamed), strict=True):
        assert " INFO " in line
        assert "POST /responses 200 " in line
        assert f"request={reply.headers['x-request-id']}" in line
    assert f"response={stored.json()['id']}" in access[0]
    assert "response=caresp_" in access[1]
    assert SECRET not in text


def test_a_path_with_cr_lf_cannot_forge_a_log_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process, url = start_server(tmp_path, log=log)
    try:
        forged = "x%0D%0AFAKE%20INFO%20forged"
        assert httpx.get(f"{url}/responses/{forged}").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert not [line for line in lines if line.startswith("FAKE")]
    assert any(f"GET /responses/{forged} 404 " in line for line in lines)


def test_log_level_warning_writes_no_info_lines(tmp_path: Path) -> None:
    text, _ = serve_and_call(tmp_path, LOG_LEVEL="WARNING")
    assert text.strip() == ""


def test_log_level_debug_adds_readiness_and_still_no_user_content(tmp_path: Path) -> None:
    text, _ = serve_and_call(tmp_path, "--agent", TEST_AGENT, LOG_LEVEL="debug")
    assert "GET /readiness 200 " in text
    assert SECRET not in text


def test_json_lines_carry_the_access_fields(tmp_path: Path) -> None:
    text, (stored, _, _) = serve_and_call(tmp_path, LOG_FORMAT="json")
    lines = [json.loads(line) for line in text.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert lines[0]["time"].endswith("Z")
    access = next(line for line in lines if line["logger"].endswith(".hosting.access"))
    assert access["method"] == "POST"
    assert access["path"] == "/responses"
    assert access["status"] == 200
    assert access["request_id"] == stored.headers["x-request-id"]
    assert access["response_id"] == stored.json()["id"]
    assert access["duration_ms"] >= 0
    assert "trace_id" not in access  # telemetry is off: there is no trace


@pytest.mark.parametrize("traced", [False, True])
def test_json_access_lines_are_the_lines_of_their_fields(
    traced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = importlib.import_module(f"{PACKAGE}.hosting.logs")
    tracing = importlib.import_module(f"{PACKAGE}.hosting.tracing")
    if traced:

        class Traced(tracing.Tracer):
            def trace_ids(self) -> tuple[str, str]:
                return "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

        monkeypatch.setattr(tracing, "tracer", Traced())
    formatter = logs.JsonLines()
    # Quotes, backslashes, percent-encoded controls and Latin-1 as a path can hold them.
    path = '/responses/a"b\\c%0D%0A\u00e9\u0085\u00ff'
    values = ("POST", path, 404, 12345.6, "req-1", "")
    message = f"POST {path} 404 12345.6 ms request=req-1 response=-"
    line = formatter.line(1764756000.5, "INFO", "x.hosting.access", message, values)
    fields = dict(zip(logs.FIELDS, values, strict=True))
    as_dict = formatter.line(1764756000.5, "INFO", "x.hosting.access", message, fields)
    assert line == as_dict  # byte for byte what orjson writes of the same fields
    assert json.loads(line)["path"] == path
    assert ("trace_id" in json.loads(line)) is traced


def test_a_bad_log_setting_exits_2_with_the_fix(tmp_path: Path) -> None:
    for name, value, fix in (
        ("LOG_LEVEL", "verbose", "use debug, info, warning, error, critical"),
        ("LOG_FORMAT", "xml", "use 'text' or 'json'"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", PACKAGE, "--env-file", ""],
            cwd=PROJECT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), name: value},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.strip() == f"error: {name}={value!r}: {fix}"
