"""A fake Foundry model endpoint: the OpenAI Responses API on 127.0.0.1, scripted per test.

It serves `POST {project}/openai/v1/responses` with server-sent events the way the real
service streams, records every request, and answers from a script: text, function
calls, other output items, HTTP errors, stream failures, slow streams and hangs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROJECT_PATH = "/api/projects/test-project"
API_KEY = "test-key"


@dataclass(frozen=True)
class Call:
    """A function call the model makes."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A streamed answer: other output items, text (streamed word by word), function calls."""

    text: str = ""
    calls: tuple[Call, ...] = ()
    items: tuple[dict[str, Any], ...] = ()
    """Complete output items sent first, e.g. reasoning or a hosted tool's call."""
    delay: float = 0.0
    """Seconds between text deltas (for cancellation tests)."""
    incomplete: str | None = None
    """End with `response.incomplete` for this reason (e.g. `max_output_tokens`) after the text."""
    output_tokens: int = 5
    """The output tokens `usage` reports."""
    expect_format: dict[str, Any] | None = None
    """The `text.format` the request must carry; for a JSON schema, the text must match it."""


@dataclass(frozen=True)
class Fail:
    """An HTTP error answer, as the service sends it."""

    status: int
    code: str = "error"
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamFail:
    """A stream that starts, then ends with `response.failed` or `response.incomplete`."""

    code: str = "server_error"
    incomplete_reason: str | None = None


@dataclass(frozen=True)
class Hang:
    """No answer for this long (the client's timeout should fire first)."""

    seconds: float


Reply = Answer | Fail | StreamFail | Hang


@dataclass
class Request:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeModel:
    """The fake endpoint; use as a context manager, then `script()` the replies."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.disconnected = threading.Event()
        self._replies: list[Reply] = []
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        """What FOUNDRY_PROJECT_ENDPOINT would be."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{PROJECT_PATH}"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point the agent at this fake."""
        return {
            "FOUNDRY_PROJECT_ENDPOINT": self.endpoint,
            "MODEL_API_KEY": API_KEY,
            **extra,
        }

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> list[Reply]:
        """Forget the requests and the disconnect; return the replies nobody asked for."""
        with self._lock:
            unused, self._replies = self._replies, []
        self.requests.clear()
        self.disconnected.clear()
        return unused

    def next_reply(self) -> Reply | None:
        with self._lock:
            return self._replies.pop(0) if self._replies else None

    def __enter__(self) -> FakeModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {name.lower(): value for name, value in self.headers.items()}
            fake.requests.append(Request(self.path, headers, body))
            if self.path.split("?")[0] != f"{PROJECT_PATH}/openai/v1/responses":
                return self._error(Fail(404, "not_found", f"no route {self.path}"))
            if headers.get("authorization") != f"Bearer {API_KEY}":
                return self._error(Fail(401, "invalid_api_key", "Access denied"))
            reply = fake.next_reply()
            if reply is None:
                return self._error(Fail(500, "unscripted", "the test scripted no reply"))
            if isinstance(reply, Fail):
                return self._error(reply)
            if isinstance(reply, Hang):
                fake._closing.wait(reply.seconds)
                return None
            if not body.get("stream"):
                return self._error(Fail(400, "unsupported", "the fake model only streams"))
            if isinstance(reply, Answer) and reply.expect_format is not None:
                problem = _format_problem(body, reply)
                if problem:
                    return self._error(Fail(400, "unexpected_format", problem))
            return self._sse(_stream(body, reply), reply.delay if isinstance(reply, Answer) else 0)

        def _error(self, fail: Fail) -> None:
            error = {
                "message": fail.message,
                "type": "error",
                "param": None,
                "code": fail.code,
            }
            self._json(fail.status, {"error": error}, fail.headers)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _sse(self, events: Iterator[dict[str, Any]], delay: float) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            try:
                for event in events:
                    frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                    if delay and event["type"] == "response.output_text.delta":
                        time.sleep(delay)
            except (BrokenPipeError, ConnectionResetError):
                fake.disconnected.set()

    return Handler


def _stream(request: dict[str, Any], reply: Answer | StreamFail) -> Iterator[dict[str, Any]]:
    """The server-sent events of one response, as the Responses API sends them."""
    response: dict[str, Any] = {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": request.get("model"),
        "output": [],
        "tools": request.get("tools", []),
        "tool_choice": request.get("tool_choice", "auto"),
        "parallel_tool_calls": True,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "metadata": {},
    }
    sequence = iter(range(1_000_000))

    def event(kind: str, **data: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(sequence), **data}

    yield event("response.created", response=dict(response))
    if isinstance(reply, StreamFail):
        if reply.incomplete_reason:
            response.update(
                status="incomplete",
                incomplete_details={"reason": reply.incomplete_reason},
            )
            yield event("response.incomplete", response=response)
        else:
            response.update(status="failed", error={"code": reply.code, "message": "scripted"})
            yield event("response.failed", response=response)
        return
    output = response["output"]
    for item in reply.items:
        index = len(output)
        if item["type"] == "reasoning":  # announced empty, then its summary part by part
            yield event(
                "response.output_item.added", output_index=index, item={**item, "summary": []}
            )
            yield from _summary_events(event, item, index)
        else:
            yield event("response.output_item.added", output_index=index, item=item)
        yield event("response.output_item.done", output_index=index, item=item)
        output.append(item)
    if reply.text:
        item_id = f"msg_{uuid.uuid4().hex}"
        where = {"item_id": item_id, "output_index": len(output)}
        item = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
        }
        yield event(
            "response.output_item.added",
            output_index=len(output),
            item={**item, "content": []},
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield event("response.content_part.added", **where, content_index=0, part=part)
        words = reply.text.split(" ")
        for index, word in enumerate(words):
            delta = word if index == 0 else " " + word
            yield event(
                "response.output_text.delta",
                **where,
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        yield event(
            "response.output_text.done",
            **where,
            content_index=0,
            text=reply.text,
            logprobs=[],
        )
        part = {**part, "text": reply.text}
        yield event("response.content_part.done", **where, content_index=0, part=part)
        done = {**item, "status": "completed", "content": [part]}
        yield event("response.output_item.done", output_index=len(output), item=done)
        output.append(done)
    for call in reply.calls:
        item_id = f"fc_{uuid.uuid4().hex}"
        arguments = json.dumps(call.arguments)
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": f"call_{uuid.uuid4().hex[:24]}",
            "name": call.name,
            "arguments": "",
        }
        where = {"item_id": item_id, "output_index": len(output)}
        yield event("response.output_item.added", output_index=len(output), item=item)
        yield event("response.function_call_arguments.delta", **where, delta=arguments)
        yield event("response.function_call_arguments.done", **where, arguments=arguments)
        done = {**item, "status": "completed", "arguments": arguments}
        yield event("response.output_item.done", output_index=len(output), item=done)
        output.append(done)
    usage = {"input_tokens": 10, "output_tokens": reply.output_tokens}
    response["usage"] = {**usage, "total_tokens": 10 + reply.output_tokens}
    if reply.incomplete:
        response.update(status="incomplete", incomplete_details={"reason": reply.incomplete})
        yield event("response.incomplete", response=response)
        return
    response["status"] = "completed"
    yield event("response.completed", response=response)


def _summary_events(event: Any, item: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
    for summary_index, part in enumerate(item.get("summary", [])):
        where = {"item_id": item["id"], "output_index": index, "summary_index": summary_index}
        yield event("response.reasoning_summary_part.added", **where, part={**part, "text": ""})
        yield event("response.reasoning_summary_text.delta", **where, delta=part["text"])
        yield event("response.reasoning_summary_text.done", **where, text=part["text"])
        yield event("response.reasoning_summary_part.done", **where, part=part)


def _format_problem(request: dict[str, Any], reply: Answer) -> str | None:
    """Why the request's `text.format` or the scripted answer does not fit, if they do not."""
    received = (request.get("text") or {}).get("format")
    if received != reply.expect_format:
        return f"expected text.format {reply.expect_format}, got {received}"
    if received.get("type") != "json_schema":
        return None
    import jsonschema  # a dev dependency, needed only by structured-output tests

    try:
        jsonschema.validate(json.loads(reply.text), received["schema"])
    except (ValueError, jsonschema.ValidationError) as error:
        return f"the scripted answer does not match the schema: {error}"
    return None
