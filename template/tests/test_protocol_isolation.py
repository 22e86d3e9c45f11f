"""Protocol 2.0.0: one container, many end users. Every route, driven as two users.

What user A stored does not exist for user B: B gets exactly what an unknown id gets, on
every route, and nothing B does reaches A's responses, runs or conversations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import TEST_AGENT, start_server

ALICE = {"x-agent-user-id": "alice-partition", "x-agent-foundry-call-id": "call-a"}
BOB = {"x-agent-user-id": "bob-partition", "x-agent-foundry-call-id": "call-b"}
UNKNOWN = "caresp_" + "0" * 50


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_server(tmp_path_factory.mktemp("two-users"), "--agent", TEST_AGENT)
    yield url
    process.terminate()
    process.wait(timeout=30)


def create(url: str, who: dict[str, str], **body: object) -> dict:
    reply = httpx.post(f"{url}/responses", json=body, headers=who, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def turn_of(response: dict) -> dict:
    """What the scripted agent saw, from its `describe` answer."""
    return json.loads(response["output"][0]["content"][0]["text"])


def same_as_unknown(url: str, method: str, path: str, response_id: str, **kwargs: object) -> None:
    """B's answer about A's response equals the answer about an id nobody has."""
    theirs = httpx.request(method, f"{url}{path.format(response_id)}", headers=BOB, **kwargs)
    unknown = httpx.request(method, f"{url}{path.format(UNKNOWN)}", headers=BOB, **kwargs)
    assert theirs.status_code == unknown.status_code, (path, theirs.text)
    assert theirs.status_code in (400, 404)
    assert theirs.text.replace(response_id, "ID") == unknown.text.replace(UNKNOWN, "ID")


def test_another_users_response_does_not_exist_on_any_route(url: str) -> None:
    made = create(url, ALICE, input="words private")
    for method, path in (
        ("GET", "/responses/{}"),
        ("GET", "/responses/{}?stream=true"),
        ("GET", "/responses/{}/input_items"),
        ("POST", "/responses/{}/cancel"),
        ("DELETE", "/responses/{}"),
    ):
        same_as_unknown(url, method, path, made["id"])
    # Nor without the header (the local partition), nor continued by B.
    assert httpx.get(f"{url}/responses/{made['id']}").status_code == 404
    for response_id in (made["id"], UNKNOWN):
        body = {"input": "describe", "previous_response_id": response_id}
        reply = httpx.post(f"{url}/responses", json=body, headers=BOB)
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "previous_response_not_found"
    # A still has it, whole.
    mine = httpx.get(f"{url}/responses/{made['id']}", headers=ALICE).json()
    assert mine["output"] == made["output"]
    assert httpx.get(f"{url}/responses/{made['id']}/input_items", headers=ALICE).status_code == 200


def test_a_background_run_is_neither_followed_nor_cancelled_by_another_user(url: str) -> None:
    running = create(url, ALICE, input="slow 5", background=True)
    same_as_unknown(url, "GET", "/responses/{}", running["id"])
    same_as_unknown(url, "POST", "/responses/{}/cancel", running["id"])
    same_as_unknown(url, "DELETE", "/responses/{}", running["id"])
    assert httpx.get(f"{url}/responses/{running['id']}", headers=ALICE).json()["status"] in (
        "queued",
        "in_progress",
    )
    cancelled = httpx.post(f"{url}/responses/{running['id']}/cancel", headers=ALICE)
    assert cancelled.json()["status"] == "cancelled"


def test_a_replayable_stream_is_not_replayed_to_another_user(url: str) -> None:
    with httpx.stream(
        "POST",
        f"{url}/responses",
        json={"input": "words a b", "stream": True, "background": True},
        headers=ALICE,
    ) as reply:
        events = [line for line in reply.iter_lines() if line.startswith("data: ")]
    response_id = json.loads(events[0][len("data: ") :])["response"]["id"]
    same_as_unknown(url, "GET", "/responses/{}?stream=true", response_id)
    mine = httpx.get(f"{url}/responses/{response_id}?stream=true", headers=ALICE)
    assert mine.status_code == 200 and "response.completed" in mine.text


def test_a_conversation_id_names_a_different_conversation_for_each_user(url: str) -> None:
    conversation = "conv_guessable"
    create(url, ALICE, input="words alice secret", conversation=conversation)
    seen_by_bob = turn_of(create(url, BOB, input="describe", conversation=conversation))
    assert [item["role"] for item in seen_by_bob["items"]] == ["user"]
    seen_by_alice = turn_of(create(url, ALICE, input="describe", conversation=conversation))
    assert [item["role"] for item in seen_by_alice["items"]] == ["user", "assistant", "user"]


def test_a_response_id_reused_by_another_user_leaves_the_first_untouched(url: str) -> None:
    made = create(url, ALICE, input="words original")
    platform_id = made["id"]
    reused = httpx.post(
        f"{url}/responses",
        json={"input": "words other"},
        headers={**BOB, "x-agent-response-id": platform_id},
    )
    assert reused.status_code == 200  # B's own response, in B's partition
    mine = httpx.get(f"{url}/responses/{platform_id}", headers=ALICE).json()
    assert mine["output"] == made["output"]
    items = httpx.get(f"{url}/responses/{platform_id}/input_items", headers=ALICE).json()
    assert items["data"][0]["content"][0]["text"] == "words original"


def test_the_agent_sees_who_is_asking(url: str) -> None:
    turn = turn_of(create(url, ALICE, input="describe"))
    assert turn["user_id"] == "alice-partition"
    assert turn["foundry_call_id"] == "call-a"


def test_isolation_holds_after_a_restart(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        made = create(url, ALICE, input="words kept")
    finally:
        process.terminate()
        process.wait(timeout=30)
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    try:
        time.sleep(0.1)
        assert httpx.get(f"{url}/responses/{made['id']}", headers=BOB).status_code == 404
        assert httpx.get(f"{url}/responses/{made['id']}", headers=ALICE).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
