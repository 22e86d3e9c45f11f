"""The server and the model-backed agent together: `python -m <package>` against the fake
model, driven by the `openai` client, with a function tool from tests/e2e_tools."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.lib._parsing._responses import type_to_text_format_param
from pydantic import BaseModel

from conformance import assert_valid_response
from conftest import Served, start_server
from fake_model import Answer, Call, Fail, FakeModel, Hang, Request

AGENT = "tests.e2e_agent:agent"
FAST_RETRY = {"retry-after-ms": "10"}
WEATHER = "Sunny and 21 C in Paris"
"""What tests/e2e_tools/get_weather.py answers for Paris."""


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModel]:
    with FakeModel() as fake:
        yield fake


@pytest.fixture(scope="module")
def served(model: FakeModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The project's server with the model agent pointed at the fake: one retry, 1 s timeout."""
    home = tmp_path_factory.mktemp("e2e")
    log = home / "server.log"
    settings = model.env(MODEL_MAX_RETRIES="1", MODEL_TIMEOUT_SECONDS="1")
    process, url = start_server(home, "--agent", AGENT, log=log, **settings)
    yield Served(url, home, process)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def fake(model: FakeModel, served: Served) -> Iterator[FakeModel]:
    """The fake model, fresh for each test; a reply the test scripted must be asked for."""
    model.reset()
    yield model
    assert model.reset() == [], "the model was asked fewer times than the test scripted"


@pytest.fixture
def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key="unused", max_retries=0, timeout=30)


def weather_then(text: str) -> tuple[Answer, Answer]:
    """The model calls get_weather for Paris, then answers with `text`."""
    return Answer(calls=(Call("get_weather", {"city": "Paris"}),)), Answer(text)


def kinds(output: list[Any]) -> list[str]:
    return [item.type for item in output]


def functions(request: Request) -> list[str]:
    """The function tools offered to the model (azure.yaml may add hosted tools too)."""
    return [tool["name"] for tool in request.body["tools"] if tool["type"] == "function"]


def test_a_tools_function_runs_in_the_server(fake: FakeModel, client: openai.OpenAI) -> None:
    fake.script(*weather_then("It is sunny in Paris."))
    response = client.responses.create(model="m", input="Weather in Paris?")
    assert response.status == "completed"
    assert kinds(response.output) == ["function_call", "function_call_output", "message"]
    call, result, _ = response.output
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert (result.call_id, result.output) == (call.call_id, WEATHER)
    assert response.output_text == "It is sunny in Paris."
    first, second = fake.requests
    assert functions(first) == ["get_weather"]
    assert second.body["input"][1:] == [
        {"type": "function_call", "call_id": call.call_id, "name": "get_weather",
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": WEATHER},
    ]  # fmt: skip

    fake.script(Answer("Yes, take sunglasses."))
    client.responses.create(model="m", input="Sunglasses?", previous_response_id=response.id)
    assert fake.requests[2].body["input"] == [
        *second.body["input"],
        {"role": "assistant", "content": "It is sunny in Paris."},
        {"role": "user", "content": "Sunglasses?"},
    ]


def test_the_models_token_usage_adds_up_in_the_response(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    """Each model call reports 10 input and 5 output tokens (see fake_model.py)."""
    fake.script(*weather_then("Sunny."))
    response = client.responses.create(model="m", input="Weather in Paris?")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 10)
    assert response.usage.total_tokens == 30
    assert client.responses.retrieve(response.id).usage.total_tokens == 30


def test_a_tools_function_streams_its_items_in_order(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(*weather_then("It is sunny in Paris."))
    with client.responses.stream(model="m", input="Weather in Paris?") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [event.sequence_number for event in events] == list(range(len(events)))
    shown = [
        f"{event.type}:{event.item.type}" if hasattr(event, "item") else event.type
        for event in events
        if event.type != "response.output_text.delta"
    ]
    assert shown == [
        "response.created",
        "response.in_progress",
        "response.output_item.added:function_call",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done:function_call",
        "response.output_item.added:function_call_output",
        "response.output_item.done:function_call_output",
        "response.output_item.added:message",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done:message",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "It is sunny in Paris."
    assert len(deltas) > 1  # streamed as the model streamed it
    assert final.output_text == "It is sunny in Paris."
    assert kinds(final.output) == ["function_call", "function_call_output", "message"]
    assert final.output[1].output == WEATHER


def test_text_after_a_tool_call_is_a_new_message(fake: FakeModel, client: openai.OpenAI) -> None:
    fake.script(
        Answer("Let me look.", calls=(Call("get_weather", {"city": "Paris"}),)),
        Answer("Sunny."),
    )
    response = client.responses.create(model="m", input="Weather in Paris?")
    assert kinds(response.output) == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert [item.content[0].text for item in response.output if item.type == "message"] == [
        "Let me look.",
        "Sunny.",
    ]
    # The model's second call has its own first answer in the history, before the call.
    history = fake.requests[1].body["input"]
    assert [item.get("type", item.get("role")) for item in history] == [
        "user",
        "assistant",
        "function_call",
        "function_call_output",
    ]


def test_a_callers_function_goes_back_to_the_caller_and_the_model_sees_its_output(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    lookup = {
        "type": "function",
        "name": "lookup_order",
        "description": "Find an order.",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    }
    fake.script(Answer(calls=(Call("lookup_order", {"order": "A7"}),)))
    first = client.responses.create(
        model="m",
        input="Where is order A7?",
        instructions="Be brief.",
        tools=[lookup],
        tool_choice="auto",
    )
    assert first.status == "completed"
    assert kinds(first.output) == ["function_call"]
    (call,) = first.output
    assert (call.name, json.loads(call.arguments)) == ("lookup_order", {"order": "A7"})
    assert functions(fake.requests[0]) == ["get_weather", "lookup_order"]
    asked = fake.requests[0].body
    assert (asked["instructions"], asked["tool_choice"]) == ("Be brief.", "auto")

    fake.script(Answer("Order A7 shipped today."))
    second = client.responses.create(
        model="m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "shipped"}],
        tools=[lookup],
    )
    assert second.output_text == "Order A7 shipped today."
    assert fake.requests[1].body["input"] == [
        {"role": "user", "content": "Where is order A7?"},
        {"type": "function_call", "call_id": call.call_id, "name": "lookup_order",
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "shipped"},
    ]  # fmt: skip


def test_the_foundry_call_id_and_the_manifests_deployment_reach_the_model(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(Answer("ok"))
    client.responses.create(
        model="m", input="hi", extra_headers={"x-agent-foundry-call-id": "call-e2e-1"}
    )
    (request,) = fake.requests
    assert request.headers["x-agent-foundry-call-id"] == "call-e2e-1"
    manifest = (Path(__file__).parents[1] / "azure.yaml").read_text()
    assert f"MODEL_DEPLOYMENT_NAME: {request.body['model']}" in manifest


def test_hosted_tool_items_reach_the_caller_as_the_model_sent_them(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    approval = {
        "id": "mcpr_e2e_1",
        "type": "mcp_approval_request",
        "server_label": "docs",
        "name": "search",
        "arguments": '{"q": "hosting"}',
    }
    fake.script(Answer(items=(approval,)))
    response = client.responses.create(model="m", input="Search the docs")
    assert [item.to_dict() for item in response.output] == [approval]


def test_multi_turn_gives_the_model_the_earlier_turns(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(Answer("Hello Ada."), Answer("You are Ada."))
    first = client.responses.create(model="m", input="I am Ada.")
    client.responses.create(model="m", input="Who am I?", previous_response_id=first.id)
    assert fake.requests[1].body["input"] == [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "Who am I?"},
    ]

    conversation = f"conv_e2e_{time.time_ns()}"
    fake.script(Answer("Noted."), Answer("Blue."))
    client.responses.create(model="m", input="I like blue.", conversation=conversation)
    client.responses.create(
        model="m",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "My colour?"}]}],
        conversation={"id": conversation},
    )
    assert fake.requests[3].body["input"] == [
        {"role": "user", "content": "I like blue."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": [{"type": "input_text", "text": "My colour?"}]},
    ]


AUTH = "model_auth_failed"


def failed_stream(client: openai.OpenAI, text: str) -> tuple[list[Any], Any]:
    """Stream a request; its events and the terminal event, which must be response.failed."""
    events = list(client.responses.create(model="m", input=text, stream=True))
    assert events[-1].type == "response.failed"
    return events, events[-1].response


def test_a_refused_key_fails_the_response_with_what_to_fix(
    fake: FakeModel, served: Served, client: openai.OpenAI
) -> None:
    fake.script(Fail(401, "invalid_api_key", "Access denied"))
    _, failed = failed_stream(client, "hi")
    assert failed.status == "failed"
    assert failed.error.code == AUTH
    assert "Foundry User role" in failed.error.message

    fake.script(Fail(401, "invalid_api_key", "Access denied"))
    response = client.responses.create(model="m", input="hi")
    assert (response.status, response.error.code) == ("failed", AUTH)
    assert response.error.message == failed.error.message
    log = (served.home / "server.log").read_text()
    assert f"(response {response.id}): AuthenticationError" in log  # for the operator
    assert "Traceback" not in log


def test_a_model_failing_after_text_and_a_tool_call_fails_the_response(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(
        Answer("Let me look.", calls=(Call("get_weather", {"city": "Paris"}),)),
        Fail(500, headers=FAST_RETRY),
        Fail(500, headers=FAST_RETRY),
    )
    events, failed = failed_stream(client, "Weather in Paris?")
    assert len(fake.requests) == 3  # the 500 was retried once
    assert failed.error.code == "server_error"
    assert "HTTP 500) after 1 retry; retry later" in failed.error.message
    # Everything streamed before the failure is done and listed in the failed Response.
    assert kinds(failed.output) == ["message", "function_call", "function_call_output"]
    done = [event.item.id for event in events if event.type == "response.output_item.done"]
    assert done == [item.id for item in failed.output]


def test_a_model_failing_on_every_retry_fails_the_response(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(Fail(503, headers=FAST_RETRY), Fail(500, headers=FAST_RETRY))
    response = client.responses.create(model="m", input="hi")
    assert (response.status, response.error.code) == ("failed", "server_error")
    assert "HTTP 500) after 1 retry; retry later" in response.error.message


def test_a_model_that_does_not_answer_times_out(fake: FakeModel, client: openai.OpenAI) -> None:
    fake.script(Hang(10), Hang(10))
    started = time.monotonic()
    response = client.responses.create(model="m", input="hi")
    assert time.monotonic() - started < 8
    assert (response.status, response.error.code) == ("failed", "server_error")
    assert "MODEL_TIMEOUT_SECONDS" in response.error.message
    assert len(fake.requests) == 2


def test_a_client_that_leaves_mid_stream_closes_the_model_stream(
    fake: FakeModel, served: Served, client: openai.OpenAI
) -> None:
    fake.script(Answer(" ".join(["word"] * 200), delay=0.05))
    body = {"model": "m", "input": "Talk for a while", "stream": True}
    with httpx.stream("POST", f"{served.url}/responses", json=body, timeout=30) as reply:
        lines = reply.iter_lines()
        response_id = None
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                response_id = response_id or event["response"]["id"]
                if event["type"] == "response.output_text.delta":
                    break
    assert fake.disconnected.wait(5), "the model's stream stayed open after the client left"
    deadline = time.monotonic() + 5
    while (status := client.responses.retrieve(response_id).status) == "in_progress":
        assert time.monotonic() < deadline, "the response stayed in_progress"
        time.sleep(0.02)
    assert status == "cancelled"
    assert httpx.get(f"{served.url}/readiness", timeout=5).status_code == 200
    fake.script(Answer("Still here."))
    assert client.responses.create(model="m", input="hi").output_text == "Still here."


def test_cancelling_a_background_response_closes_the_model_stream(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    fake.script(Answer(" ".join(["word"] * 200), delay=0.05))
    response = client.responses.create(model="m", input="Talk for a while", background=True)
    deadline = time.monotonic() + 5
    while not fake.requests:  # the model has started answering
        assert time.monotonic() < deadline, "the model was never called"
        time.sleep(0.02)
    assert client.responses.cancel(response.id).status == "cancelled"
    assert fake.disconnected.wait(5), "the model's stream stayed open after the cancel"
    assert client.responses.retrieve(response.id).status == "cancelled"


class Weather(BaseModel):
    sky: str
    celsius: int


def test_structured_output_round_trips_through_parse(
    fake: FakeModel, client: openai.OpenAI
) -> None:
    """The model gets the JSON schema of `text_format` (the fake checks it) and its JSON back."""
    expected = type_to_text_format_param(Weather)
    fake.script(Answer(json.dumps({"sky": "sunny", "celsius": 21}), expect_format=expected))
    response = client.responses.parse(model="m", input="Weather in Paris?", text_format=Weather)
    assert response.output_parsed == Weather(sky="sunny", celsius=21)
    assert response.text.format.type == "json_schema"


def test_a_model_cut_at_max_output_tokens_streams_response_incomplete(
    fake: FakeModel, client: openai.OpenAI, served: Served
) -> None:
    fake.script(Answer("cut short", incomplete="max_output_tokens"))
    stream = client.responses.create(model="m", input="Tell all", max_output_tokens=16, stream=True)
    events = list(stream)
    assert [event.type for event in events].count("response.incomplete") == 1
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert final.response.output_text == "cut short"
    assert fake.requests[0].body["max_output_tokens"] == 16
    stored = httpx.get(f"{served.url}/responses/{final.response.id}").json()
    assert (stored["status"], stored["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert_valid_response(stored)


def test_reasoning_streams_through_with_its_events(fake: FakeModel, client: openai.OpenAI) -> None:
    summary = [{"type": "summary_text", "text": "Paris is in France."}]
    fake.script(Answer("Sunny.", items=({"id": "rs_1", "type": "reasoning", "summary": summary},)))
    reasoning = {"effort": "low", "summary": "auto"}
    with client.responses.stream(model="m", input="Weather?", reasoning=reasoning) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [event.type for event in events if "reasoning" in event.type] == [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Paris is in France."
    assert fake.requests[0].body["reasoning"] == reasoning
