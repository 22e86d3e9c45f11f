"""The protocol through the official `openai` client: what a Responses caller relies on."""

from __future__ import annotations

import json
import time

import openai
import pytest


def described(response: openai.types.responses.Response) -> dict:
    """The scripted agent's description of the Turn it was given."""
    return json.loads(response.output_text)


def test_create_echoes_the_request_and_completes(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(
        model="gpt-test",
        input="hello",
        instructions="Be brief.",
        metadata={"team": "blue"},
        temperature=0.5,
    )
    assert response.id.startswith("caresp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert isinstance(response.created_at, int | float)
    assert isinstance(response.completed_at, int | float)
    assert response.model == "gpt-test"
    assert response.instructions == "Be brief."
    assert response.metadata == {"team": "blue"}
    assert response.temperature == 0.5
    assert response.error is None
    message = response.output[0]
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert message.content[0].annotations == []
    turn = described(response)
    assert turn["instructions"] == "Be brief."
    assert turn["metadata"] == {"team": "blue"}
    assert turn["model"] == "gpt-test"
    assert turn["response_id"] == response.id
    assert turn["agent_name"]


def test_stream_iterates_deltas_and_final_response(scripted_client: openai.OpenAI) -> None:
    stream = scripted_client.responses.create(model="m", input="words one two three", stream=True)
    events = list(stream)
    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert deltas == ["one ", "two ", "three "]
    assert events[-1].response.output_text == "one two three "


def test_stream_helper_final_response_has_every_item(scripted_client: openai.OpenAI) -> None:
    with scripted_client.responses.stream(model="m", input="words a b") as stream:
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "a b "


def test_retrieve_returns_what_create_returned(scripted_client: openai.OpenAI) -> None:
    created = scripted_client.responses.create(model="m", input="words kept")
    retrieved = scripted_client.responses.retrieve(created.id)
    assert retrieved.id == created.id
    assert retrieved.status == "completed"
    assert retrieved.output_text == created.output_text


def test_streamed_response_is_retrievable_after_completion(scripted_client: openai.OpenAI) -> None:
    with scripted_client.responses.stream(model="m", input="words streamed") as stream:
        final = stream.get_final_response()
    assert scripted_client.responses.retrieve(final.id).output_text == "streamed "


def test_store_false_is_never_retrievable(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="words gone", store=False)
    with pytest.raises(openai.NotFoundError):
        scripted_client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as caught:
        scripted_client.responses.create(model="m", input="x", previous_response_id=response.id)
    assert caught.value.code == "previous_response_not_found"


def test_delete_then_retrieve_and_delete_are_404(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="words bye")
    assert scripted_client.responses.delete(response.id) is None
    with pytest.raises(openai.NotFoundError):
        scripted_client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        scripted_client.responses.delete(response.id)


def test_input_items_lists_this_requests_input(scripted_client: openai.OpenAI) -> None:
    items = [
        {"role": "system", "content": "sys"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
        {"role": "user", "content": "b"},
    ]
    response = scripted_client.responses.create(model="m", input=items)
    listed = scripted_client.responses.input_items.list(response.id, order="asc")
    assert [item.role for item in listed.data] == ["system", "user", "user"]
    assert listed.data[0].content[0].text == "sys"  # string content is listed as a part
    assert all(item.id for item in listed.data)
    assert listed.first_id == listed.data[0].id
    assert listed.last_id == listed.data[-1].id
    assert listed.has_more is False
    newest = scripted_client.responses.input_items.list(response.id, limit=1)
    assert [item.id for item in newest.data] == [listed.data[-1].id]
    assert newest.has_more is True
    rest = scripted_client.responses.input_items.list(response.id, after=newest.data[0].id)
    assert [item.id for item in rest.data] == [listed.data[1].id, listed.data[0].id]


def test_previous_response_id_gives_the_agent_the_whole_history(
    scripted_client: openai.OpenAI,
) -> None:
    first = scripted_client.responses.create(model="m", input="words first")
    second = scripted_client.responses.create(
        model="m", input="describe", previous_response_id=first.id
    )
    third = scripted_client.responses.create(
        model="m", input="describe", previous_response_id=second.id
    )
    items = described(third)["items"]
    assert [(item["type"], item["role"]) for item in items] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert items[1]["id"] == first.output[0].id
    assert items[3]["id"] == second.output[0].id
    assert third.previous_response_id == second.id


def test_conversation_gives_the_agent_every_earlier_turn(scripted_client: openai.OpenAI) -> None:
    conversation = f"conv_{time.time_ns()}"
    scripted_client.responses.create(model="m", input="words one", conversation=conversation)
    scripted_client.responses.create(
        model="m", input="words two", conversation={"id": conversation}
    )
    third = scripted_client.responses.create(model="m", input="describe", conversation=conversation)
    assert third.conversation.id == conversation
    roles = [item["role"] for item in described(third)["items"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]


def test_function_call_round_trip(scripted_client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    first = scripted_client.responses.create(model="m", input="call Paris", tools=tools)
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    assert first.output[0].summary[0].text == "The user wants the weather."
    call = first.output[1]
    assert call.id.startswith("fc_")
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert first.tools[0].name == "get_weather"
    second = scripted_client.responses.create(
        model="m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 C"}],
        tools=tools,
    )
    assert second.output_text == "The tool said: 21 C"


def test_streamed_function_call_and_reasoning(scripted_client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {}, "strict": False}]
    with scripted_client.responses.stream(model="m", input="call Oslo", tools=tools) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in types
    assert "response.function_call_arguments.done" in types
    assert final.output[1].type == "function_call"
    assert json.loads(final.output[1].arguments) == {"city": "Oslo"}


def test_tool_run_by_the_agent_is_in_output_and_history(scripted_client: openai.OpenAI) -> None:
    with scripted_client.responses.stream(model="m", input="run-tool Rome") as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == [
        "function_call",
        "function_call_output",
        "message",
    ]
    assert final.output[1].output == "Sunny in Rome"
    assert final.output[1].call_id == final.output[0].call_id
    assert final.output_text == "It is sunny."
    after = scripted_client.responses.create(
        model="m", input="describe", previous_response_id=final.id
    )
    types = [item["type"] for item in described(after)["items"]]
    assert types == ["message", "function_call", "function_call_output", "message", "message"]


def test_dict_item_is_sent_as_is_with_an_id(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="item verbatim")
    assert response.output[0].id
    assert response.output_text == "verbatim"


def test_tool_choice_none_offers_no_tools(scripted_client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {}, "strict": False}]
    offered = scripted_client.responses.create(model="m", input="describe", tools=tools)
    assert described(offered)["tools"] == ["get_weather"]
    withheld = scripted_client.responses.create(
        model="m", input="describe", tools=tools, tool_choice="none"
    )
    assert described(withheld)["tools"] == []
    assert withheld.tool_choice == "none"


def test_tool_choice_required_fails_a_reply_without_a_call(scripted_client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {}, "strict": False}]
    called = scripted_client.responses.create(
        model="m", input="call Lima", tools=tools, tool_choice="required"
    )
    assert called.status == "completed"
    talked = scripted_client.responses.create(
        model="m", input="words no call", tools=tools, tool_choice="required"
    )
    assert talked.status == "failed"
    assert talked.error.code == "tool_choice_not_honored"


def test_agent_error_fails_the_response_with_its_message(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="fail")
    assert response.status == "failed"
    assert response.error.code == "rate_limit_exceeded"
    assert response.error.message == "The model quota is used up."
    assert response.output_text == "partial "
    assert scripted_client.responses.retrieve(response.id).status == "failed"


def test_agent_crash_after_start_fails_without_detail(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="crash")
    assert response.status == "failed"
    assert response.error.code == "server_error"
    assert "secret" not in response.error.message


def test_agent_crash_before_start_is_a_500(scripted_client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        scripted_client.responses.create(model="m", input="crash-early")
    assert caught.value.status_code == 500
    assert "secret" not in str(caught.value.body)


@pytest.mark.parametrize(
    ("arguments", "param", "code"),
    [
        ({"input": "x", "temperature": "hot"}, "temperature", "invalid_type"),
        ({"input": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", None),
        ({"input": "x", "metadata": {"k": "v" * 513}}, "metadata.k", None),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "invalid_value"),
        ({"input": [{"type": 5}]}, "input[0].type", "invalid_type"),
        ({}, "input", None),
        ({"input": "x", "background": True, "store": False}, "background", None),
        ({"input": "x", "previous_response_id": "caresp_nope"}, "previous_response_id", None),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
    ],
)
def test_bad_requests_raise_typed_errors(
    scripted_client: openai.OpenAI, arguments: dict, param: str, code: str | None
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        scripted_client.responses.create(model="m", **arguments)
    error = caught.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.param == param
    if code is not None:
        assert error.code == code


def test_retrieve_of_an_unknown_id_is_not_found(scripted_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        scripted_client.responses.retrieve("caresp_unknown")
    assert caught.value.status_code == 404


def test_background_completes_and_can_be_polled(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="words later", background=True)
    assert response.status in ("queued", "in_progress")
    deadline = time.monotonic() + 10
    while response.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.05)
        response = scripted_client.responses.retrieve(response.id)
    assert response.status == "completed"
    assert response.output_text == "later "


def test_cancel_of_a_background_response(scripted_client: openai.OpenAI) -> None:
    response = scripted_client.responses.create(model="m", input="slow 20", background=True)
    cancelled = scripted_client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert cancelled.output == []
    assert scripted_client.responses.cancel(response.id).status == "cancelled"
    assert scripted_client.responses.retrieve(response.id).status == "cancelled"


def test_cancel_of_finished_or_synchronous_responses_is_400(
    scripted_client: openai.OpenAI,
) -> None:
    synchronous = scripted_client.responses.create(model="m", input="words sync")
    with pytest.raises(openai.BadRequestError):
        scripted_client.responses.cancel(synchronous.id)
    background = scripted_client.responses.create(model="m", input="words bg", background=True)
    deadline = time.monotonic() + 10
    while background.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        background = scripted_client.responses.retrieve(background.id)
    with pytest.raises(openai.BadRequestError) as caught:
        scripted_client.responses.cancel(background.id)
    assert "completed" in caught.value.message


def test_background_stream_can_be_resumed(scripted_client: openai.OpenAI) -> None:
    with scripted_client.responses.stream(
        model="m", input="words x y z", background=True
    ) as stream:
        final = stream.get_final_response()
    with scripted_client.responses.stream(response_id=final.id, starting_after=3) as resumed:
        events = list(resumed)
        replayed = resumed.get_final_response()
    assert events[0].sequence_number == 4
    assert replayed.output_text == "x y z "
