"""Before any load: each server must answer the benchmark's requests correctly.

A benchmark of error responses is worthless, so a wrong answer stops the run with what was wrong.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from errors import BenchError
from peers.echo import INPUT
from servers import Running


def request_body(*, stream: bool, store: bool) -> str:
    """The body every benchmark request sends (compact JSON, as clients send it)."""
    body = {"model": "bench", "input": INPUT, "stream": stream, "store": store}
    return json.dumps(body, separators=(",", ":"))


def _call(server: Running, method: str, path: str, body: str | None = None) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.getheader("content-type", ""), answer.read().decode()
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(f"{server.spec.name}: {method} {path} failed: {error!r}") from None
    finally:
        connection.close()


def _json(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise BenchError(f"{name}: expected a JSON object, got {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise BenchError(f"{name}: expected a JSON object, got {text[:200]!r}")
    return value


def _output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


def _completed(name: str, what: str, response: dict[str, Any]) -> dict[str, Any]:
    if response.get("status") != "completed":
        raise BenchError(f"{name}: {what} has status {response.get('status')!r}, not 'completed'")
    if INPUT not in _output_text(response):
        raise BenchError(f"{name}: {what} does not echo the input: {_output_text(response)!r}")
    return response


def check_json(server: Running, *, store: bool) -> dict[str, Any]:
    """A non-streamed create answers 200 with a completed Response echoing the input."""
    name = server.spec.name
    status, _, text = _call(server, "POST", "/responses", request_body(stream=False, store=store))
    if status != 200:
        raise BenchError(f"{name}: POST /responses (store={store}) answered {status}: {text[:200]}")
    return _completed(name, f"the Response (store={store})", _json(name, text))


def _events(name: str, text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].strip() for line in block.splitlines() if line.startswith("data:")]
        if data:
            events.append(_json(name, "\n".join(data)))
    if not events:
        raise BenchError(f"{name}: the stream has no events: {text[:200]!r}")
    return events


def check_stream(server: Running) -> None:
    """A streamed create answers SSE: created first, completed last, in order, echoing the input."""
    name = server.spec.name
    status, kind, text = _call(server, "POST", "/responses", request_body(stream=True, store=True))
    if status != 200 or not kind.startswith("text/event-stream"):
        raise BenchError(f"{name}: streamed POST /responses answered {status} {kind}: {text[:200]}")
    events = _events(name, text)
    kinds = [event.get("type") for event in events]
    if kinds[0] != "response.created" or kinds[-1] != "response.completed":
        raise BenchError(
            f"{name}: the stream runs {kinds[0]} ... {kinds[-1]}, not created ... completed"
        )
    numbers = [event.get("sequence_number") for event in events]
    if numbers != list(range(len(events))):
        raise BenchError(f"{name}: sequence numbers are {numbers}, not 0..{len(events) - 1}")
    deltas = "".join(e["delta"] for e in events if e.get("type") == "response.output_text.delta")
    if INPUT not in deltas:
        raise BenchError(f"{name}: the streamed deltas do not echo the input: {deltas!r}")
    _completed(name, "response.completed", events[-1]["response"])


def is_stored(server: Running, response: dict[str, Any]) -> bool:
    """Whether GET /responses/{id} returns the Response created with `store` on."""
    status, _, text = _call(server, "GET", f"/responses/{response['id']}")
    return status == 200 and _json(server.spec.name, text).get("id") == response["id"]
