"""Telemetry from the server process to local stand-ins of its backends (tests/telemetry_stubs.py).

Nothing is sent on a timer sooner than telemetry/flush.py's IDLE (5 s): a span that arrives
within 3 s of a reply was sent because the response ended. Tests of what each span holds
are in test_telemetry.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from conftest import AGENT_NAME, PACKAGE, PROJECT, TEST_AGENT, start_server
from fake_model import Answer, Call, Fail, FakeModel
from telemetry_stubs import QUIET_AZURE_MONITOR, IngestionEndpoint, OtlpReceiver

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


@contextmanager
def serving(home: Path, *args: str, **env: str) -> Iterator[str]:
    process, url = start_server(home, *args, log=home / "server.log", **env)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def create(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    reply = httpx.post(f"{url}/responses", json=body, headers=headers, timeout=30)
    assert reply.status_code in (200, 500), reply.text
    return reply


def by_response(spans: list[dict[str, Any]], response_id: str) -> list[dict[str, Any]]:
    """The spans of one response's trace, its invoke_agent span first."""
    (root,) = [s for s in spans if s["attributes"].get("gen_ai.response.id") == response_id]
    return [root] + [s for s in spans if s["trace_id"] == root["trace_id"] and s is not root]


def test_spans_reach_an_otlp_collector_as_each_response_ends(tmp_path: Path) -> None:
    with FakeModel() as model, OtlpReceiver() as otlp:
        env = model.env(
            MODEL_DEPLOYMENT_NAME="test-model",
            MODEL_MAX_RETRIES="0",
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
        )
        with serving(tmp_path, "--agent", "tests.e2e_agent:agent", **env) as url:
            model.script(Answer("Hello there."))
            plain = create(url, {"input": "Hi"}, traceparent=TRACEPARENT).json()
            spans = otlp.wait_for(otlp.spans, timeout=3)  # sooner than flush.IDLE
            model.script(Answer("Streamed reply."))
            with httpx.stream(
                "POST", f"{url}/responses", json={"input": "Hi", "stream": True}, timeout=30
            ) as stream:
                lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
            streamed = json.loads(lines[-1][len("data: ") :])["response"]
            model.script(Fail(429, "rate_limit_exceeded", "Slow down."))
            failed = create(url, {"input": "Hi"}).json()
            model.script(Answer(calls=(Call("get_weather", {"city": "Paris"}),)), Answer("Sunny."))
            tools = create(url, {"input": "Weather in Paris?"}).json()
            wanted = {plain["id"], streamed["id"], failed["id"], tools["id"]}

            def responses() -> list[str]:
                found = {s["attributes"].get("gen_ai.response.id") for s in otlp.spans()}
                return sorted(wanted - found) or ["all"]

            otlp.wait_for(lambda: responses() == ["all"] and responses())
    assert spans, "no span within 3 s of the first reply: the end of a response did not flush"
    spans = otlp.spans()
    root, chat = by_response(spans, plain["id"])
    assert (root["name"], root["service"], root["trace_id"]) == (
        f"invoke_agent {AGENT_NAME}",
        AGENT_NAME,
        TRACE,
    )
    assert root["attributes"]["gen_ai.request.model"] == plain["model"]
    assert chat["name"] == "chat test-model"
    assert chat["parent_span_id"] == root["span_id"]
    assert chat["attributes"]["gen_ai.usage.output_tokens"] == 5
    assert model.requests[0].headers["traceparent"].split("-")[1:3] == [TRACE, chat["span_id"]]
    root, chat = by_response(spans, streamed["id"])
    assert root["status"] == chat["status"] == 0  # STATUS_CODE_UNSET: no error
    root, chat = by_response(spans, failed["id"])
    assert root["attributes"]["error.type"] == failed["error"]["code"] == "rate_limit_exceeded"
    assert root["status"] == chat["status"] == 2  # STATUS_CODE_ERROR
    root, *children = by_response(spans, tools["id"])
    assert sorted(s["name"] for s in children) == [
        "chat test-model",
        "chat test-model",
        "execute_tool get_weather",
    ]


def test_logs_go_to_the_collector_with_their_trace(tmp_path: Path) -> None:
    with OtlpReceiver() as otlp:
        with serving(tmp_path, "--agent", TEST_AGENT, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url) as url:
            create(url, {"input": "crash-early"}, traceparent=TRACEPARENT)
            logs = otlp.wait_for(lambda: [r for r in otlp.logs() if "agent failed" in r["body"]])
        (record,) = logs
        assert (record["severity"], record["trace_id"]) == ("ERROR", TRACE)
        (root,) = otlp.wait_for(otlp.spans)
        assert record["span_id"] == root["span_id"]
        # The access line is not exported: the response's span records the request.
        assert not [r for r in otlp.logs() if r["body"].startswith("POST /responses")]
    # On the console, every line is JSON, with the trace it belongs to.
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()]
    (access,) = [line for line in lines if line["message"].startswith("POST /responses")]
    assert (access["trace_id"], access["status"]) == (TRACE, 500)


def test_a_slow_collector_never_delays_the_reply(tmp_path: Path) -> None:
    with OtlpReceiver() as otlp:
        otlp.delay = 3.0
        with serving(tmp_path, "--agent", TEST_AGENT, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url) as url:
            replies = []
            for _ in range(3):
                started = time.monotonic()
                create(url, {"input": "words hello"})
                replies.append(time.monotonic() - started)
            assert max(replies) < 1.5, replies  # each would take 3 s if it waited for the export
            assert otlp.wait_for(otlp.spans, timeout=20)


def test_spans_and_logs_reach_application_insights(tmp_path: Path) -> None:
    with IngestionEndpoint() as ingestion:
        env = {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string,
            **QUIET_AZURE_MONITOR,
        }
        with serving(tmp_path, "--agent", TEST_AGENT, **env) as url:
            ok = create(url, {"input": "words hello"}, traceparent=TRACEPARENT).json()
            failed = create(url, {"input": "fail now"}).json()
            requests = ingestion.wait_for(
                lambda: len(found := ingestion.envelopes("RequestData")) >= 2 and found
            )
            logged = ingestion.wait_for(lambda: ingestion.envelopes("MessageData"))
    by_id = {e["data"]["baseData"]["properties"]["gen_ai.response.id"]: e for e in requests}
    first, second = by_id[ok["id"]], by_id[failed["id"]]
    assert first["tags"]["ai.operation.id"] == TRACE
    assert first["tags"]["ai.cloud.role"] == AGENT_NAME
    assert first["data"]["baseData"]["name"] == f"invoke_agent {AGENT_NAME}"
    assert first["data"]["baseData"]["success"] is True
    properties = first["data"]["baseData"]["properties"]
    assert properties["gen_ai.agent.name"] == AGENT_NAME
    assert properties["microsoft.session.id"]
    assert second["data"]["baseData"]["success"] is False  # (the exporter keeps error.type back)
    assert any(f"serving {AGENT_NAME}" in e["data"]["baseData"]["message"] for e in logged)


def test_nothing_of_telemetry_is_imported_while_it_is_off(tmp_path: Path) -> None:
    """Start-up and a request, in a fresh interpreter with no exporter configured."""
    script = f"""
import asyncio, sys
import httpx2 as httpx
import importlib.util
frameworks = {{"agent_framework": "Agent", "langgraph.graph": "StateGraph",
              "langchain_core.language_models": "BaseChatModel"}}
for module, name in frameworks.items():  # an agent framework may bring OpenTelemetry itself
    if importlib.util.find_spec(module.split(".")[0]):
        getattr(importlib.import_module(module), name)
before = set(sys.modules)
from {PACKAGE}.hosting import serve
settings, app = serve.build("{PACKAGE}.agent:agent", None)
async def request():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        for stream in (False, True):
            reply = await client.post("/responses", json={{"input": "hi", "stream": stream}})
            assert reply.status_code == 200, reply.text
asyncio.run(request())
print(sorted(name for name in set(sys.modules) - before
             if name.split(".")[0] == "opentelemetry" or "telemetry" in name.split(".")
             or name.startswith("azure.monitor")))
"""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "RESPONSE_STORE": "memory"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("protocol", ["grpc", "http/json"])
def test_an_unsupported_otlp_protocol_is_refused_and_the_agent_still_serves(
    tmp_path: Path, protocol: str
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
    }
    with serving(tmp_path, **env) as url:
        assert create(url, {"input": "hi"}).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported" in log


def test_a_flush_on_demand_waits_no_longer_than_asked() -> None:
    """What a snapshot hook calls: it returns in time even while a collector hangs."""
    flush = import_module(f"{PACKAGE}.telemetry.flush")
    release = threading.Event()
    exported: list[list[str]] = []

    class Hanging:
        def export(self, batch: list[str]) -> None:
            exported.append(batch)
            release.wait(10)

        def shutdown(self) -> None:
            pass

    outbox = flush.Outbox(Hanging())
    flusher = flush.Flusher([outbox])
    outbox.add("span")
    started = time.monotonic()
    flusher.flush(timeout=0.2)
    assert time.monotonic() - started < 2
    assert exported == [["span"]]
    release.set()


def test_one_pass_sends_what_was_held_not_what_arrives_meanwhile() -> None:
    """Under load spans end while an export runs: they wait for the next pass, so one
    export carries many responses (the SDK's force_flush went on until its queue was
    empty, which under load is one HTTP request for every few spans)."""
    flush = import_module(f"{PACKAGE}.telemetry.flush")
    exported: list[list[int]] = []

    class Busy:
        def export(self, batch: list[int]) -> None:
            exported.append(batch)
            outbox.add(len(exported) + 100)  # a response ends meanwhile

        def shutdown(self) -> None:
            pass

    outbox = flush.Outbox(Busy())
    for item in range(3):
        outbox.add(item)
    outbox.send()
    assert exported == [[0, 1, 2]]
    outbox.send()
    assert exported == [[0, 1, 2], [101]]


def test_responses_ending_together_share_an_export_and_the_last_one_goes_at_once() -> None:
    flush = import_module(f"{PACKAGE}.telemetry.flush")
    exported: list[tuple[float, list[int]]] = []

    class Recording:
        def export(self, batch: list[int]) -> None:
            exported.append((time.monotonic(), batch))

        def shutdown(self) -> None:
            pass

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(exported) < count and time.monotonic() < deadline:
            time.sleep(0.001)

    outbox = flush.Outbox(Recording())
    flusher = flush.Flusher([outbox])
    flusher.response_started()
    outbox.add(0)
    flusher.response_ended()  # a response ends alone: exported at once
    wait_for(1)
    flusher.response_started()  # a long one
    for item in range(1, 40):  # responses that end while it runs
        flusher.response_started()
        outbox.add(item)
        flusher.response_ended()
    time.sleep(flush.PAUSE / 4)
    assert [batch for _, batch in exported] == [[0]]  # within the PAUSE: waiting
    outbox.add(40)
    ended = time.monotonic()
    flusher.response_ended()  # the last one ends: the server is idle, no more waiting
    wait_for(2)
    assert [batch for _, batch in exported] == [[0], list(range(1, 41))]
    assert exported[1][0] - ended < flush.PAUSE / 2


def test_an_outbox_sends_at_most_its_batch_per_request() -> None:
    flush = import_module(f"{PACKAGE}.telemetry.flush")
    exported: list[list[int]] = []

    class Recording:
        def export(self, batch: list[int]) -> None:
            exported.append(batch)

        def shutdown(self) -> None:
            pass

    outbox = flush.Outbox(Recording(), batch=3)
    for item in range(7):
        outbox.add(item)
    outbox.send()
    assert exported == [[0, 1, 2], [3, 4, 5], [6]]


def test_an_otlp_collector_gets_a_passs_spans_in_one_request_not_one_per_512(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request costs the exporter ~1.5 ms: under load a pass holds a thousand spans."""
    setup = import_module(f"{PACKAGE}.telemetry.setup")
    span = import_module("opentelemetry.sdk.trace").ReadableSpan
    context = import_module("opentelemetry.trace").SpanContext
    with OtlpReceiver() as otlp:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp.url}/v1/traces")
        spans, logs, _ = setup._outboxes(os.environ, capture=False)
        (outbox,) = spans
        (with_content,), _, _ = setup._outboxes(os.environ, capture=True)
        assert with_content.batch == 512  # a span with message content may be megabytes
        with_content.exporter.shutdown()
        for number in range(1, 1501):
            outbox.add(span(f"span {number}", context(1, number, is_remote=False)))
        outbox.send()
        outbox.exporter.shutdown()
    assert logs == []
    assert len(otlp.received) == 1
    assert [found["name"] for found in otlp.spans()] == [f"span {n}" for n in range(1, 1501)]
