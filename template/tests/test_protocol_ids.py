"""Every id and header that comes in is input: checked, never trusted to overwrite or loop.

Also: failed turns stay out of later history, keep-alive comments are on by default, and
the platform's memory-snapshot hooks.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import TEST_AGENT, start_server

PLATFORM_ID = "caresp_" + "a1" * 9 + "Z" * 32


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("ids")
    process, url = start_server(home, "--agent", TEST_AGENT, SSE_KEEPALIVE_INTERVAL="0")
    yield url, home
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def url(served: tuple[str, Path]) -> str:
    return served[0]


def post(url: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/responses", json=body, headers=headers, timeout=30)


def error(reply: httpx.Response) -> dict:
    return reply.json()["error"]


def test_a_repeated_response_id_is_a_conflict_never_an_overwrite(url: str) -> None:
    first = post(url, {"input": "words first"}, **{"x-agent-response-id": PLATFORM_ID})
    assert first.status_code == 200 and first.json()["id"] == PLATFORM_ID
    for extra in ({}, {"stream": True}, {"background": True}):
        again = post(
            url, {"input": "words second", **extra}, **{"x-agent-response-id": PLATFORM_ID}
        )
        assert again.status_code == 409, again.text
        assert error(again)["code"] == "response_id_conflict"
        assert again.headers["x-should-retry"] == "false"
    stored = httpx.get(f"{url}/responses/{PLATFORM_ID}").json()
    assert stored["output"] == first.json()["output"]
    listed = httpx.get(f"{url}/responses/{PLATFORM_ID}/input_items").json()
    assert listed["data"][0]["content"][0]["text"] == "words first"


def test_a_response_that_names_itself_as_previous_cannot_loop(url: str) -> None:
    own = "caresp_" + "b2" * 9 + "Y" * 32
    assert post(url, {"input": "words one"}, **{"x-agent-response-id": own}).status_code == 200
    body = {"input": "words loop", "previous_response_id": own}
    for extra in ({}, {"stream": True}):
        looped = post(url, {**body, **extra}, **{"x-agent-response-id": own})
        assert looped.status_code == 409
    continued = post(url, {"input": "describe", "previous_response_id": own})
    assert continued.status_code == 200
    assert httpx.get(f"{url}/readiness", timeout=5).status_code == 200


def test_a_damaged_row_that_loops_is_refused_not_followed(served: tuple[str, Path]) -> None:
    url, home = served
    made = post(url, {"input": "words to damage"}).json()
    (database,) = home.rglob("responses.sqlite3")
    with sqlite3.connect(database) as db:
        stored = json.loads(
            db.execute("SELECT response FROM responses WHERE id = ?", (made["id"],)).fetchone()[0]
        )
        stored["previous_response_id"] = made["id"]
        db.execute(
            "UPDATE responses SET response = ? WHERE id = ?", (json.dumps(stored), made["id"])
        )
    db.close()
    looped = post(url, {"input": "describe", "previous_response_id": made["id"]})
    assert looped.status_code == 400
    assert "loops back" in error(looped)["message"]
    assert error(looped)["param"] == "previous_response_id"
    assert httpx.get(f"{url}/readiness", timeout=5).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_a_session_id_with_a_line_break_is_refused(url: str, stream: bool) -> None:
    body = {"input": "describe", "stream": stream, "agent_session_id": "s1\r\nx-evil: 1"}
    refused = post(url, body)
    assert refused.status_code == 400
    assert error(refused)["param"] == "agent_session_id"
    assert post(url, {"input": "describe", "agent_session_id": "s-1"}).status_code == 200


def test_a_stored_session_id_that_is_malformed_is_not_inherited(
    served: tuple[str, Path],
) -> None:
    url, home = served
    made = post(url, {"input": "words old"}).json()
    (database,) = home.rglob("responses.sqlite3")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE responses SET session_id = ? WHERE id = ?", ("bad\r\nid", made["id"]))
    db.close()
    for stream in (False, True):
        body = {"input": "words next", "previous_response_id": made["id"], "stream": stream}
        reply = post(url, body)
        assert reply.status_code == 200
        assert "\r" not in reply.headers["x-agent-session-id"]
        assert len(reply.headers["x-agent-session-id"]) == 63


@pytest.mark.parametrize(
    "header, value",
    [
        ("x-agent-user-id", "has space"),
        ("x-agent-user-id", "u" * 257),
        ("x-agent-foundry-call-id", "caf\u00e9"),
        ("x-agent-response-id", "caresp_short"),
        ("x-agent-response-id", "not an id"),
        ("x-request-id", "r" * 300),
    ],
)
def test_malformed_platform_headers_are_refused_naming_the_header(
    url: str, header: str, value: str
) -> None:
    raw = [(header.encode(), value.encode("latin-1", "replace"))]
    reply = httpx.post(f"{url}/responses", json={"input": "describe"}, headers=raw)
    assert reply.status_code == 400
    assert error(reply)["param"] == header
    assert len(reply.headers["x-request-id"]) == 32  # a new one, never the bad value echoed
    if header != "x-agent-response-id":  # only creating a response reads that one
        for route in ("/responses/x", "/responses/x/input_items"):
            assert httpx.get(f"{url}{route}", headers=raw).status_code == 400


def test_a_failed_turn_stays_out_of_the_conversation(url: str) -> None:
    conversation = {"conversation": "conv_with_a_failure"}
    assert post(url, {"input": "words hello", **conversation}).json()["status"] == "completed"
    failed = post(url, {"input": "fail now", **conversation}).json()
    assert failed["status"] == "failed"
    cancelled = post(url, {"input": "slow 5", "background": True, **conversation}).json()
    httpx.post(f"{url}/responses/{cancelled['id']}/cancel")
    after = post(url, {"input": "describe", **conversation}).json()
    seen = json.loads(after["output"][0]["content"][0]["text"])["items"]
    assert [item["role"] for item in seen] == ["user", "assistant", "user"]
    # Continuing from the failed response skips it too, and the chain goes on normally.
    chained = post(url, {"input": "describe", "previous_response_id": failed["id"]}).json()
    seen = json.loads(chained["output"][0]["content"][0]["text"])["items"]
    assert [item["role"] for item in seen] == ["user", "assistant", "user"]


def test_keep_alive_comments_are_on_by_default(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)  # no SSE_KEEPALIVE_INTERVAL
    try:
        started = time.monotonic()
        reply = post(url, {"input": "sleep 16", "stream": True})
        assert time.monotonic() - started >= 16
        assert ": keep-alive\n\n" in reply.text
        assert '"type":"response.completed"' in reply.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_keep_alive_0_turns_the_comments_off(url: str) -> None:
    reply = post(url, {"input": "sleep 0.5", "stream": True})
    assert ": keep-alive" not in reply.text


def test_before_snapshot_flushes_and_after_restore_changes_the_session(tmp_path: Path) -> None:
    process, url = start_server(
        tmp_path, "--agent", TEST_AGENT, FOUNDRY_AGENT_SESSION_ID="warm-session"
    )
    json_headers = {"content-type": "application/json"}

    def hook(name: str, body: object) -> httpx.Response:
        return httpx.post(f"{url}/_agent/{name}", json=body, headers=json_headers)

    try:
        assert post(url, {"input": "words hi"}).headers["x-agent-session-id"] == "warm-session"
        assert hook("before-snapshot", {}).json() == {"status": "ok"}
        assert hook("before-snapshot", {}).json() == {"status": "ok"}
        context = {
            "session_id": "session-2",
            "restore_id": "restore-1",
            "session_env_overrides": {"FOUNDRY_AGENT_SESSION_ID": "session-2", "X_EXTRA": "1"},
        }
        assert hook("after-restore", {"session_context": context}).json() == {"status": "ok"}
        assert hook("after-restore", {"session_context": context}).status_code == 200
        assert post(url, {"input": "words hi"}).headers["x-agent-session-id"] == "session-2"
        other = {**context, "session_id": "session-3", "restore_id": "restore-2"}
        other["session_env_overrides"] = {}
        mismatch = hook("after-restore", {"session_context": other})
        assert mismatch.status_code == 409
        assert error(mismatch)["code"] == "session_mismatch"
        bad = hook("after-restore", {"session_context": {"session_id": "s"}})
        assert bad.status_code == 400
        assert httpx.post(f"{url}/_agent/before-snapshot", content=b"x").status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=30)
