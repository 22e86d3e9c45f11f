"""The server process's life: SIGTERM drains and exits 0; a kill -9 loses nothing acknowledged."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import TEST_AGENT, start_server


def stream_events(url: str, text: str, into: list[dict], background: bool = False) -> None:
    """POST a streamed request and collect its events until the stream ends or breaks."""
    body = {"input": text, "stream": True, "background": background}
    with (
        contextlib.suppress(httpx.TransportError),  # a killed server cuts the stream
        httpx.stream("POST", f"{url}/responses", json=body, timeout=60) as reply,
    ):
        for line in reply.iter_lines():
            if line.startswith("data: "):
                into.append(json.loads(line[len("data: ") :]))


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def not_ready(url: str) -> bool:
    """True once readiness says 503, or nothing answers any more."""
    try:
        return httpx.get(f"{url}/readiness").status_code == 503
    except httpx.TransportError:
        return True


def test_sigterm_drains_then_exits_zero(tmp_path: Path) -> None:
    process, url = start_server(
        tmp_path,
        "--agent",
        TEST_AGENT,
        SHUTDOWN_GRACE_SECONDS="1.5",
        FOUNDRY_AGENT_SESSION_ID="platform-session",
    )
    short: list[dict] = []
    long: list[dict] = []
    threads = [
        threading.Thread(target=stream_events, args=(url, "slow 0.6", short)),
        threading.Thread(target=stream_events, args=(url, "slow 30", long)),
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(short) > 2 and len(long) > 2)
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: httpx.get(f"{url}/readiness").status_code == 503)
    refused = httpx.post(f"{url}/responses", json={"input": "words late"})
    assert refused.status_code == 503
    assert refused.headers["x-request-id"]
    for thread in threads:
        thread.join(timeout=15)
    assert process.wait(timeout=15) == 0
    assert short[-1]["type"] == "response.completed"
    assert long[-1]["type"] == "response.failed"
    assert long[-1]["response"]["error"]["code"] == "server_error"
    assert [event["type"] for event in long].count("response.failed") == 1

    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        for stream, status in ((short, "completed"), (long, "failed")):
            response_id = stream[0]["response"]["id"]
            stored = httpx.get(f"{url}/responses/{response_id}").json()
            assert stored["status"] == status
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_session_id_header_comes_from_the_platform(tmp_path: Path) -> None:
    process, url = start_server(
        tmp_path, "--agent", TEST_AGENT, FOUNDRY_AGENT_SESSION_ID="platform-session"
    )
    try:
        reply = httpx.post(f"{url}/responses", json={"input": "words hi"})
        assert reply.headers["x-agent-session-id"] == "platform-session"
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_kill_9_keeps_acknowledged_responses_and_fails_in_flight_ones(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        done = httpx.post(f"{url}/responses", json={"input": "words safe"}).json()
        background = httpx.post(
            f"{url}/responses", json={"input": "slow 30", "background": True}
        ).json()
        streamed: list[dict] = []
        thread = threading.Thread(target=stream_events, args=(url, "slow 30", streamed))
        thread.start()
        wait_for(lambda: len(streamed) > 4)
    finally:
        process.kill()
        process.wait(timeout=15)
    thread.join(timeout=15)
    assert done["status"] == "completed"
    assert background["status"] == "queued"

    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        kept = httpx.get(f"{url}/responses/{done['id']}").json()
        assert kept["status"] == "completed"
        assert kept["output"] == done["output"]
        for response_id in (background["id"], streamed[0]["response"]["id"]):
            stored = httpx.get(f"{url}/responses/{response_id}").json()
            assert stored["status"] == "failed"
            assert stored["error"]["code"] == "server_error"
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_agent_crash_is_logged_with_the_request_id_and_not_sent(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process, url = start_server(tmp_path, "--agent", TEST_AGENT, log=log)
    try:
        reply = httpx.post(
            f"{url}/responses", json={"input": "crash"}, headers={"x-request-id": "req-crash-1"}
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert reply.json()["status"] == "failed"
    assert "secret" not in reply.text
    logged = log.read_text()
    assert "req-crash-1" in logged
    assert "RuntimeError: secret internal detail" in logged


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM, signal.SIGTERM], [signal.SIGTERM, signal.SIGINT]],
)
def test_sigint_or_a_second_sigterm_ends_every_run_with_its_terminal_event(
    tmp_path: Path, signals: list[signal.Signals]
) -> None:
    """They used to cut streams mid-way, store them cancelled and leave background rows queued."""
    log = tmp_path / "server.log"
    process, url = start_server(
        tmp_path, "--agent", TEST_AGENT, SHUTDOWN_GRACE_SECONDS="60", log=log
    )
    foreground: list[dict] = []
    background: list[dict] = []
    threads = [
        threading.Thread(target=stream_events, args=(url, "slow 60", foreground)),
        threading.Thread(target=stream_events, args=(url, "slow 60", background, True)),
    ]
    for thread in threads:
        thread.start()
    quiet = httpx.post(f"{url}/responses", json={"input": "slow 60", "background": True})
    wait_for(lambda: len(foreground) > 2 and len(background) > 2)
    for sig in signals:
        process.send_signal(sig)
        wait_for(lambda: not_ready(url))
    assert process.wait(timeout=20) == 0
    for thread in threads:
        thread.join(timeout=15)
    for stream in (foreground, background):
        assert stream[-1]["type"] == "response.failed"
        assert "shut down" in stream[-1]["response"]["error"]["message"]
    assert f"{signals[-1].name}: ending every response now" in log.read_text()

    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        ids = [foreground[0]["response"]["id"], background[0]["response"]["id"]]
        for response_id in [*ids, quiet.json()["id"]]:
            stored = httpx.get(f"{url}/responses/{response_id}").json()
            assert stored["status"] == "failed"
            assert "shut down" in stored["error"]["message"]
    finally:
        process.terminate()
        process.wait(timeout=15)
