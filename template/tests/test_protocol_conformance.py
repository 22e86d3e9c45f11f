"""Every Response the server sends, as strict clients see it: valid in both published schemas.

The JSON reply, the Response inside every stream event, GET, background runs and cancels
are checked against OpenAI's OpenAPI schema and the Open Responses schema (conformance.py),
and so is every event and every error envelope.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx2 as httpx
import pytest

from conformance import (
    AGENT_CODES,
    assert_error_envelope,
    assert_valid_events,
    assert_valid_response,
    schema_document,
)
from conftest import PROJECT, Served
from test_protocol_wire import events, post

WEATHER_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
EVERY_OPTION: dict[str, Any] = {
    "temperature": 0.2,
    "top_p": 0.5,
    "max_output_tokens": 256,
    "max_tool_calls": 3,
    "top_logprobs": 2,
    "parallel_tool_calls": False,
    "truncation": "auto",
    "text": {
        "format": {
            "type": "json_schema",
            "name": "weather",
            "schema": {"type": "object", "properties": {"sky": {"type": "string"}}},
        },
        "verbosity": "low",
    },
    "reasoning": {"effort": "low", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "service_tier": "flex",
    "safety_identifier": "user-hash",
    "prompt_cache_key": "weather",
    "prompt_cache_retention": "24h",
    "user": "u-1",
    "metadata": {"team": "blue"},
    "instructions": "Be brief.",
}
BODIES = {
    "text": {"model": "m", "input": "words a b"},
    "every option": {"model": "m", "input": "describe", **EVERY_OPTION},
    "function tools": {
        "input": "call Paris",
        "tools": [WEATHER_TOOL, {**WEATHER_TOOL, "name": "other", "strict": False}],
        "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [WEATHER_TOOL]},
        "parallel_tool_calls": None,
    },
    "agent error": {"input": "fail"},
    "crash after start": {"input": "crash"},
    "incomplete": {"input": "incomplete"},
    "content filtered": {"input": "incomplete content_filter"},
    "usage": {"input": "usage"},
    "tool call and output": {"input": "run-tool Lima"},
    "conversation": {"input": "words x", "conversation": "conv_1"},
}


@pytest.mark.parametrize("name", BODIES)
def test_json_replies_and_their_retrievals_are_valid(scripted: Served, name: str) -> None:
    reply = post(scripted, BODIES[name])
    assert reply.status_code == 200, reply.text
    assert_valid_response(reply.json())
    stored = httpx.get(f"{scripted.url}/responses/{reply.json()['id']}")
    assert stored.status_code == 200
    assert_valid_response(stored.json())


@pytest.mark.parametrize("name", BODIES)
def test_every_streamed_event_is_valid(scripted: Served, name: str) -> None:
    stream = events(post(scripted, {**BODIES[name], "stream": True}).text)
    assert stream[-1]["type"] in ("response.completed", "response.failed", "response.incomplete")
    assert_valid_events(stream)


def test_the_lone_error_event_is_valid_for_openai(scripted: Served) -> None:
    stream = events(post(scripted, {"input": "crash-early", "stream": True}).text)
    assert [event["type"] for event in stream] == ["error"]
    # Open Responses nests the fields in an `error` object; openai-python raises APIError
    # on any event with an `error` key instead of handing it over, so OpenAI's flat shape.
    assert_valid_events(stream, ("openai",))


def test_background_responses_are_valid_at_every_step(scripted: Served) -> None:
    queued = post(scripted, {"input": "words later", "background": True}).json()
    assert queued["status"] in ("queued", "in_progress")
    assert_valid_response(queued)
    url = f"{scripted.url}/responses/{queued['id']}"
    deadline = time.monotonic() + 10
    while (body := httpx.get(url).json())["status"] in ("queued", "in_progress"):
        assert_valid_response(body)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert body["status"] == "completed"
    assert_valid_response(body)


def test_background_streams_and_cancels_are_valid(scripted: Served) -> None:
    stream = events(post(scripted, {"input": "words r s", "stream": True, "background": True}).text)
    assert stream[1]["type"] == "response.queued"
    assert_valid_events(stream)
    replay = httpx.get(f"{scripted.url}/responses/{stream[0]['response']['id']}?stream=true")
    assert_valid_events(events(replay.text))
    slow = post(scripted, {"input": "slow 20", "background": True}).json()
    cancelled = httpx.post(f"{scripted.url}/responses/{slow['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert_valid_response(cancelled.json())


def test_refusals_use_the_openai_error_envelope(scripted: Served) -> None:
    replies = [
        post(scripted, {"input": "x", "temperature": 3}),
        post(scripted, b"not json"),
        post(scripted, {"input": "x" * 70_000}),
        httpx.get(f"{scripted.url}/responses/caresp_nope"),
        httpx.put(f"{scripted.url}/responses"),
    ]
    assert [reply.status_code for reply in replies] == [400, 400, 413, 404, 405]
    for reply in replies:
        assert_error_envelope(reply.json())


def test_values_come_from_the_request_or_the_documented_defaults(scripted: Served) -> None:
    plain = post(scripted, {"input": "words a", "parallel_tool_calls": None}).json()
    assert {name: plain[name] for name in EXPECTED_DEFAULTS} == EXPECTED_DEFAULTS
    given = post(scripted, BODIES["every option"]).json()
    for name in ("temperature", "top_p", "max_output_tokens", "max_tool_calls", "top_logprobs",
                 "parallel_tool_calls", "truncation", "service_tier", "safety_identifier",
                 "prompt_cache_key", "prompt_cache_retention", "user", "metadata"):  # fmt: skip
        assert given[name] == EVERY_OPTION[name], name
    assert given["reasoning"] == EVERY_OPTION["reasoning"]
    assert given["text"]["verbosity"] == "low"
    assert given["text"]["format"] == {
        **EVERY_OPTION["text"]["format"],
        "description": None,
        "strict": False,
    }


EXPECTED_DEFAULTS = {
    "temperature": 1.0,
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "truncation": "disabled",
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "reasoning": None,
    "service_tier": "auto",
    "safety_identifier": None,
    "prompt_cache_key": None,
    "usage": None,
}


def test_function_tools_are_shown_as_openai_shows_them(scripted: Served) -> None:
    tools = [
        {"type": "function", "name": "bare"},
        {
            "type": "function",
            "name": "loose",
            "description": "d",
            "parameters": {},
            "strict": False,
        },
        {"type": "web_search"},
    ]
    response = post(scripted, {"input": "words a", "tools": tools}).json()
    assert response["tools"] == [
        {"type": "function", "name": "bare", "description": None, "parameters": None,
         "strict": True},
        tools[1],
        tools[2],
    ]  # fmt: skip


def test_usage_is_null_until_the_agent_reports_tokens(scripted: Served) -> None:
    assert post(scripted, {"input": "words a"}).json()["usage"] is None
    usage = post(scripted, {"input": "usage"}).json()["usage"]
    assert usage == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10,
    }


def test_an_incomplete_response_says_why_and_keeps_its_text(scripted: Served) -> None:
    response = post(scripted, {"input": "incomplete"}).json()
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["error"] is None and response["completed_at"] is None
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "partial "
    stream = events(post(scripted, {"input": "incomplete", "stream": True}).text)
    assert stream[-1]["type"] == "response.incomplete"
    assert stream[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert json.dumps(stream).count('"response.incomplete"') == 1


def test_the_agents_own_error_codes_are_the_documented_ones() -> None:
    """Codes outside OpenAI's ResponseError list are few, listed here and in the README."""
    openai_codes = set(
        schema_document("openai")["components"]["schemas"]["ResponseErrorCode"]["enum"]
    )
    source = "\n".join(path.read_text() for path in (PROJECT / "src").rglob("*.py"))
    used = set(re.findall(r'AgentError\(\s*"([a-z_]+)"', source))
    assert used - openai_codes <= set(AGENT_CODES)
    readme = (PROJECT / "README.md").read_text()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.M))
    assert set(AGENT_CODES) <= table
