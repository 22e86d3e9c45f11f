"""The server answers the official `openai` client, with and without streaming."""

from __future__ import annotations

import httpx2 as httpx
import openai


def test_readiness_is_200(server: str) -> None:
    assert httpx.get(f"{server}/readiness").status_code == 200


def test_create_returns_the_offline_reply(client: openai.OpenAI) -> None:
    response = client.responses.create(model="any", input="hello there")
    assert response.status == "completed"
    assert "You said: hello there" in response.output_text


def test_streamed_deltas_add_up_to_the_final_text(client: openai.OpenAI) -> None:
    with client.responses.stream(model="any", input="stream me") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1
    assert "".join(deltas) == final.output_text
    assert "You said: stream me" in final.output_text
