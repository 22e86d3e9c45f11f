"""Wire details, over raw HTTP: SSE frames and their order, headers, limits, disconnects."""

from __future__ import annotations

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import Served


def frames(text: str) -> list[tuple[str | None, dict | None, str]]:
    """(event line, data JSON, raw block) for each SSE block; comments give (None, None, ...)."""
    parsed = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event = data = None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        parsed.append((event, data, block))
    return parsed


def events(text: str) -> list[dict]:
    return [data for _, data, _ in frames(text) if data is not None]


def post(served: Served, body: dict | bytes, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{served.url}/responses", content=content, headers=headers, timeout=30)


def test_text_stream_frames_come_in_protocol_order(scripted: Served) -> None:
    reply = post(scripted, {"model": "m", "input": "words one two", "stream": True})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["x-accel-buffering"] == "no"
    blocks = frames(reply.text)
    assert all(event == data["type"] for event, data, _ in blocks)
    stream = [data for _, data, _ in blocks]
    assert [event["sequence_number"] for event in stream] == list(range(len(stream)))
    assert [event["type"] for event in stream] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    response_id = stream[0]["response"]["id"]
    assert {event["response"]["id"] for event in stream if "response" in event} == {response_id}
    assert stream[0]["response"]["status"] == "in_progress"
    item_id = stream[2]["item"]["id"]
    assert all(event.get("item_id", item_id) == item_id for event in stream)
    assert "".join(event["delta"] for event in stream[4:6]) == "one two "
    assert stream[6]["text"] == stream[7]["part"]["text"] == "one two "
    done = stream[8]["item"]
    assert done["content"][0]["text"] == "one two "
    final = stream[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"] == [done]


def test_function_call_stream_frames(scripted: Served) -> None:
    reply = post(scripted, {"input": "call Paris", "stream": True, "tools": []})
    stream = events(reply.text)
    kinds = [event["type"] for event in stream]
    assert kinds[2:8] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert kinds[8:12] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    call = stream[11]["item"]
    assert call["type"] == "function_call"
    assert call["id"].startswith("fc_")
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert [item["id"] for item in stream[-1]["response"]["output"]] == [
        stream[7]["item"]["id"],
        call["id"],
    ]
    added = [event for event in stream if event["type"] == "response.output_item.added"]
    assert [event["output_index"] for event in added] == [0, 1]


def test_request_id_is_echoed_or_made(scripted: Served) -> None:
    given = post(scripted, {"input": "words a"}, **{"x-request-id": "req-123"})
    assert given.headers["x-request-id"] == "req-123"
    made = post(scripted, {"input": "words a"})
    assert len(made.headers["x-request-id"]) >= 16
    for reply in (
        httpx.get(f"{scripted.url}/readiness"),
        httpx.get(f"{scripted.url}/responses/caresp_nope"),
        post(scripted, b"not json"),
        post(scripted, {"input": "words a", "stream": True}),
    ):
        assert reply.headers["x-request-id"]


PLATFORM_ID = "caresp_" + "f" * 16 + "00" + "FromThePlatform" + "x" * 17


def test_foundry_headers_and_fields_reach_the_agent(scripted: Served) -> None:
    body = {
        "input": "describe",
        "agent_session_id": "session-42",
        "agent_reference": {"type": "agent_reference", "name": "my-agent", "version": "3"},
        "structured_inputs": {"ticket": "T-1"},
        "a_field_from_the_future": {"ignored": True},
    }
    headers = {
        "x-agent-response-id": PLATFORM_ID,
        "x-agent-user-id": "user-7",
        "x-agent-foundry-call-id": "call-9",
    }
    reply = post(scripted, body, **headers)
    assert reply.status_code == 200
    assert reply.headers["x-agent-session-id"] == "session-42"
    response = reply.json()
    assert response["id"] == PLATFORM_ID
    assert response["agent_reference"]["name"] == "my-agent"
    turn = json.loads(response["output"][0]["content"][0]["text"])
    assert turn["session_id"] == "session-42"
    assert turn["user_id"] == "user-7"
    assert turn["foundry_call_id"] == "call-9"
    assert turn["response_id"] == PLATFORM_ID


def test_input_shapes_are_accepted(scripted: Served) -> None:
    image = {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}
    document = {"type": "input_file", "file_id": "file_1", "filename": "a.pdf"}
    body = {
        "input": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}, image, document]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"role": "user", "content": "describe"},
        ]
    }
    reply = post(scripted, body)
    assert reply.status_code == 200
    turn = json.loads(reply.json()["output"][0]["content"][0]["text"])
    assert [item["type"] for item in turn["items"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'{"input": "\\ud800"}', None),  # a lone surrogate: no UTF-8 can carry it back
        (b'{"input": "\xff"}', None),  # not UTF-8
        (b'{"input": "x", "temperature": NaN}', None),  # not JSON, though Python's json reads it
        (b'{"input": "x", "agent_reference": {"name": "a"}}', "agent_reference.type"),
        (b'{"input": "x", "stream": "yes"}', "stream"),
        (b'{"input": 5}', "input"),
        (b'{"input": "x", "conversation": 5}', "conversation"),
        (b'{"input": [{"role": "user", "content": [{"text": "no type"}]}]}', None),
    ],
)
def test_bad_bodies_get_the_error_envelope(
    scripted: Served, body: bytes, param: str | None
) -> None:
    reply = post(scripted, body)
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_stream_with_a_bad_body_gets_plain_json(scripted: Served) -> None:
    reply = post(scripted, {"stream": True, "input": "x", "temperature": "hot"})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["param"] == "temperature"


def test_body_over_the_limit_is_413(scripted: Served) -> None:
    big = {"input": "x" * 70_000, "stream": True}
    reply = post(scripted, big)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"

    def chunks():  # no content-length: the limit still holds while reading
        yield b'{"input": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    streamed = httpx.post(f"{scripted.url}/responses", content=chunks(), timeout=30)
    assert streamed.status_code == 413


def test_unknown_routes_and_methods_get_the_envelope(scripted: Served) -> None:
    missing = httpx.get(f"{scripted.url}/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = httpx.put(f"{scripted.url}/responses")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    bad_query = httpx.get(f"{scripted.url}/responses/x/input_items?limit=0")
    assert bad_query.status_code in (400, 404)


def test_crash_before_created_is_a_lone_error_event(scripted: Served) -> None:
    reply = post(scripted, {"input": "crash-early", "stream": True})
    assert reply.status_code == 200
    stream = events(reply.text)
    assert len(stream) == 1
    assert stream[0]["type"] == "error"
    assert stream[0]["sequence_number"] == 0
    assert "error" not in stream[0]  # a nested "error" object makes openai raise mid-stream
    assert "secret" not in reply.text


def test_crash_before_created_without_stream_is_a_500_envelope(scripted: Served) -> None:
    reply = post(scripted, {"input": "crash-early"})
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "server_error"
    assert "secret" not in reply.text


def test_crash_after_created_ends_with_response_failed(scripted: Served) -> None:
    reply = post(scripted, {"input": "crash", "stream": True})
    stream = events(reply.text)
    assert stream[0]["type"] == "response.created"
    assert [event["type"] for event in stream].count("response.failed") == 1
    assert stream[-1]["type"] == "response.failed"
    assert stream[-1]["response"]["status"] == "failed"
    assert stream[-1]["response"]["error"]["code"] == "server_error"
    assert "secret" not in reply.text
    added = [e["item"]["id"] for e in stream if e["type"] == "response.output_item.added"]
    done = [e["item"]["id"] for e in stream if e["type"] == "response.output_item.done"]
    output = stream[-1]["response"]["output"]
    assert added == done == [item["id"] for item in output]
    assert output[0]["status"] == "incomplete"
    assert output[0]["content"][0]["text"] == "partial "


def test_agent_error_ends_with_its_code_and_message(scripted: Served) -> None:
    stream = events(post(scripted, {"input": "fail", "stream": True}).text)
    assert stream[-1]["type"] == "response.failed"
    assert stream[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "The model quota is used up.",
    }


def test_deltas_arrive_while_the_agent_runs_and_disconnect_cancels_it(scripted: Served) -> None:
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{scripted.url}/responses", json={"input": "slow 20", "stream": True}, timeout=30
    ) as reply:
        seen = []
        for line in reply.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[len("data: ") :]))
            if sum(event["type"] == "response.output_text.delta" for event in seen) >= 2:
                break
    assert time.monotonic() - started < 5  # deltas were not held back until the end
    response_id = seen[0]["response"]["id"]
    marker = scripted.home / f"ended-{response_id}"
    deadline = time.monotonic() + 5
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "cancelled"
    assert httpx.get(f"{scripted.url}/readiness").status_code == 200
    assert post(scripted, {"input": "words still alive"}).status_code == 200
    stored = httpx.get(f"{scripted.url}/responses/{response_id}").json()
    assert stored["status"] == "cancelled"


def test_concurrent_streams_keep_their_own_sequences(scripted: Served) -> None:
    def one(index: int) -> list[dict]:
        reply = post(scripted, {"input": f"words s{index} a b c", "stream": True})
        return events(reply.text)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(32)))
    ids = set()
    for index, stream in enumerate(results):
        assert [event["sequence_number"] for event in stream] == list(range(len(stream)))
        assert stream[-1]["type"] == "response.completed"
        final = stream[-1]["response"]
        assert final["output"][0]["content"][0]["text"] == f"s{index} a b c "
        ids.add(final["id"])
    assert len(ids) == 32


def test_quiet_streams_get_keep_alive_comments(scripted: Served) -> None:
    reply = post(scripted, {"input": "sleep 0.7", "stream": True})
    blocks = frames(reply.text)
    assert any(block.startswith(": keep-alive") for _, _, block in blocks)
    assert events(reply.text)[-1]["type"] == "response.completed"


def test_a_quiet_agent_does_not_hold_back_the_response_head(scripted: Served) -> None:
    # The head waits for the first chunk (to share its write) only HEAD_WAIT seconds.
    body = json.dumps({"input": "sleep 1.5", "stream": True}).encode()
    started = time.monotonic()
    with httpx.stream("POST", f"{scripted.url}/responses", content=body, timeout=30) as reply:
        head = time.monotonic() - started
        text = reply.read().decode()
    assert reply.status_code == 200
    assert head < 1.0, f"the head came after {head:.2f} s, with the agent's first output"
    assert events(text)[-1]["type"] == "response.completed"
    assert time.monotonic() - started >= 1.5


def test_background_stream_replays_after_a_sequence_number(scripted: Served) -> None:
    reply = post(scripted, {"input": "words r s", "stream": True, "background": True})
    original = events(reply.text)
    assert original[1]["type"] == "response.queued"
    response_id = original[0]["response"]["id"]
    url = f"{scripted.url}/responses/{response_id}"
    replay = httpx.get(url, params={"stream": "true", "starting_after": "2"})
    assert replay.status_code == 200
    assert events(replay.text) == original[3:]
    full = httpx.get(url, params={"stream": "true"})
    assert events(full.text) == original


def test_replay_of_a_foreground_response_is_400(scripted: Served) -> None:
    response_id = post(scripted, {"input": "words a"}).json()["id"]
    reply = httpx.get(f"{scripted.url}/responses/{response_id}", params={"stream": "true"})
    assert reply.status_code == 400


def test_readiness_reports_healthy(scripted: Served) -> None:
    reply = httpx.get(f"{scripted.url}/readiness")
    assert reply.status_code == 200
    assert reply.json() == {"status": "healthy"}


def test_state_lives_under_home(scripted: Served) -> None:
    assert list(Path(scripted.home).glob(".agent-responses/*.sqlite3"))


def test_the_body_not_the_accept_header_chooses_sse(scripted: Served) -> None:
    as_json = post(scripted, {"input": "words a"}, accept="text/event-stream")
    assert as_json.headers["content-type"] == "application/json"
    as_sse = post(scripted, {"input": "words a", "stream": True}, accept="application/json")
    assert as_sse.headers["content-type"].startswith("text/event-stream")


def test_every_405_lists_the_allowed_methods(scripted: Served) -> None:
    for method, path, allowed in (
        ("PUT", "/responses", {"POST"}),
        ("POST", "/responses/x", {"GET", "DELETE"}),
        ("GET", "/responses/x/cancel", {"POST"}),
        ("DELETE", "/responses/x/input_items", {"GET"}),
        ("POST", "/readiness", {"GET"}),
    ):
        reply = httpx.request(method, f"{scripted.url}{path}")
        assert reply.status_code == 405, (method, path)
        assert allowed <= {m.strip() for m in reply.headers["allow"].split(",")}, path


def test_a_500_on_a_routed_path_says_the_connection_closes(scripted: Served) -> None:
    made = post(scripted, {"input": "words damaged"}).json()
    (database,) = scripted.home.rglob("responses.sqlite3")
    with sqlite3.connect(database) as db:
        # JSON, but not an object: a bug's way in (undecodable rows are refused as damaged).
        db.execute("UPDATE responses SET response = '[]' WHERE id = ?", (made["id"],))
    db.close()
    with httpx.Client() as client:
        reply = client.post(f"{scripted.url}/responses/{made['id']}/cancel")
        assert reply.status_code == 500
        assert reply.headers["connection"] == "close"
        assert reply.json()["error"]["code"] == "server_error"
        assert client.get(f"{scripted.url}/readiness").status_code == 200
