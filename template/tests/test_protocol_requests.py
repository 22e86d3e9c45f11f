"""Requests checked as OpenAI checks them: a bad value is a 400 naming it, never a 500 or an echo.

And what is valid gets through: newer input item types reach the agent, and so does every
generation option, on the Turn.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import assert_error_envelope, assert_valid_response
from conftest import Served
from test_protocol_wire import post

ALLOWED = {"type": "function", "name": "f"}


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("reasoning", {"effort": "extreme"}, "reasoning.effort"),
        ("reasoning", {"summary": "long"}, "reasoning.summary"),
        ("reasoning", "high", "reasoning"),
        ("service_tier", "platinum", "service_tier"),
        ("text", {"format": {"type": "yaml"}}, "text.format.type"),
        ("text", {"format": {"type": "json_schema", "name": "x"}}, "text.format.schema"),
        ("text", {"format": {"type": "json_schema", "schema": {}}}, "text.format.name"),
        (
            "text",
            {"format": {"type": "json_schema", "name": "a b", "schema": {}}},
            "text.format.name",
        ),
        ("text", {"verbosity": "loud"}, "text.verbosity"),
        ("temperature", 3, "temperature"),
        ("temperature", -0.1, "temperature"),
        ("top_p", 1.5, "top_p"),
        ("top_logprobs", 25, "top_logprobs"),
        ("top_logprobs", 1.5, "top_logprobs"),
        ("max_output_tokens", -5, "max_output_tokens"),
        ("max_output_tokens", 15, "max_output_tokens"),
        ("max_tool_calls", 0, "max_tool_calls"),
        ("include", ["bogus"], "include[0]"),
        ("include", "reasoning.encrypted_content", "include"),
        ("truncation", "sometimes", "truncation"),
        ("parallel_tool_calls", "yes", "parallel_tool_calls"),
        ("safety_identifier", "x" * 65, "safety_identifier"),
        ("prompt_cache_retention", "forever", "prompt_cache_retention"),
        ("stream_options", {"include_obfuscation": False}, "stream_options"),  # not streaming
        ("tool_choice", {"type": "allowed_tools", "mode": "auto", "tools": 5}, "tool_choice.tools"),
        (
            "tool_choice",
            {"type": "allowed_tools", "mode": "auto", "tools": [5]},
            "tool_choice.tools[0].type",
        ),
        ("tool_choice", {"type": "allowed_tools", "tools": [ALLOWED]}, "tool_choice.mode"),
        (
            "tool_choice",
            {"type": "allowed_tools", "mode": "never", "tools": []},
            "tool_choice.mode",
        ),
        ("tool_choice", {"type": "function"}, "tool_choice.name"),
        ("tool_choice", {"type": "mcp"}, "tool_choice.server_label"),
        ("tool_choice", {"name": "f"}, "tool_choice.type"),
        ("tools", [{"type": "function"}], "tools[0].name"),
        ("tools", [{"type": "function", "name": "f", "parameters": "x"}], "tools[0].parameters"),
        ("tools", [{"type": "function", "name": "f", "strict": "yes"}], "tools[0].strict"),
        ("tools", [{"name": "f"}], "tools[0].type"),
        ("prompt", {"version": "1"}, "prompt.id"),
        ("context_management", [], "context_management"),
        (
            "input",
            [{"role": "user", "content": [{"type": "input_text"}]}],
            "input[0].content[0].text",
        ),
        (
            "input",
            [{"role": "user", "content": [{"type": "input_image", "detail": "huge"}]}],
            "input[0].content[0].detail",
        ),
        (
            "input",
            [{"type": "function_call_output", "call_id": "c", "output": 5}],
            "input[0].output",
        ),
        ("input", [{"type": "function_call", "call_id": "c", "name": "f"}], "input[0].arguments"),
        ("input", [{"type": "item_reference"}], "input[0].id"),
        ("input", [{"role": "user", "content": "x", "phase": "later"}], "input[0].phase"),
        ("input", [{"role": "user", "content": "x", "id": 7}], "input[0].id"),
        ("input", [{"type": 5}], "input[0].type"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    scripted: Served, field: str, value: Any, param: str
) -> None:
    for stream in (False,) if field == "stream_options" else (False, True):
        reply = post(scripted, {"model": "m", "input": "hi", field: value, "stream": stream})
        assert reply.status_code == 400, reply.text
        assert reply.headers["content-type"] == "application/json"
        assert_error_envelope(reply.json())
        error = reply.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP = '{"a": ' * 1000 + "{}" + "}" * 1000
"""JSON nested 1,000 levels deep (the standard library cannot even write it)."""


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("text", f'{{"format": {{"type": "json_schema", "name": "deep", "schema": {DEEP}}}}}'),
        ("tools", f'[{{"type": "function", "name": "f", "parameters": {DEEP}}}]'),
        ("prompt", f'{{"id": "p", "variables": {DEEP}}}'),
        ("structured_inputs", DEEP),
        ("a_field_from_the_future", DEEP),
    ],
)
def test_deeply_nested_fields_are_refused_not_a_crash(
    scripted: Served, field: str, body: str
) -> None:
    for stream in ("false", "true"):
        raw = f'{{"input": "words a", "stream": {stream}, "{field}": {body}}}'
        reply = post(scripted, raw.encode())
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["param"] == field


def test_nesting_within_the_limit_is_echoed(scripted: Served) -> None:
    schema = nested(60)
    text = {"format": {"type": "json_schema", "name": "deep", "schema": schema}}
    reply = post(scripted, {"input": "words a", "text": text, "stream": True})
    assert reply.status_code == 200
    final = json.loads(reply.text.rsplit("data: ", 1)[1])
    assert final["response"]["text"]["format"]["schema"] == schema


def test_newer_and_unknown_input_item_types_reach_the_agent(scripted: Served) -> None:
    items = [
        {"type": "additional_tools", "role": "developer", "tools": [ALLOWED]},
        {"type": "compaction_trigger"},
        {"type": "a_type_from_the_future", "payload": {"x": 1}},
        {"role": "user", "content": "describe"},
    ]
    reply = post(scripted, {"input": items})
    assert reply.status_code == 200, reply.text
    turn = json.loads(reply.json()["output"][0]["content"][0]["text"])
    assert [item["type"] for item in turn["items"]] == [
        "additional_tools",
        "compaction_trigger",
        "a_type_from_the_future",
        "message",
    ]
    assert all(item["id"] for item in turn["items"])


def test_every_generation_option_reaches_the_agent(scripted: Served) -> None:
    options = {
        "text": {"format": {"type": "json_object"}, "verbosity": "high"},
        "reasoning": {"effort": "high", "summary": "detailed"},
        "temperature": 0.3,
        "top_p": 0.9,
        "max_output_tokens": 500,
        "max_tool_calls": 2,
        "parallel_tool_calls": False,
        "truncation": "auto",
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "top_logprobs": 5,
        "service_tier": "priority",
        "safety_identifier": "hashed-user",
        "prompt_cache_key": "k",
        "prompt_cache_retention": "in_memory",
    }
    reply = post(scripted, {"input": "describe", **options})
    assert reply.status_code == 200, reply.text
    assert_valid_response(reply.json())
    turn = json.loads(reply.json()["output"][0]["content"][0]["text"])
    assert turn["options"] == options
    plain = post(scripted, {"input": "describe", "temperature": None})
    assert json.loads(plain.json()["output"][0]["content"][0]["text"])["options"] == {}
