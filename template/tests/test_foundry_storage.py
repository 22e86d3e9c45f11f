"""Foundry storage: the server keeps responses and reads history where the platform keeps them.

A real server process, signed in through the managed identity endpoint of the fake (as
azure-identity's DefaultAzureCredential finds it in the container), talks to a fake
storage service over TLS; everything is driven through the `openai` client.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from azure.core.credentials import AccessToken

from conftest import PACKAGE, PROJECT, TEST_AGENT, free_port, start_server
from fake_foundry_storage import FakeStorage, new_call_id

storage = importlib.import_module(f"{PACKAGE}.hosting.foundry_storage")
settings = importlib.import_module(f"{PACKAGE}.hosting.settings")

STORE = {"RESPONSE_STORE": "foundry", "STORAGE_RETRIES": "2", "STORAGE_TIMEOUT_SECONDS": "1"}


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeStorage]:
    storage = FakeStorage(tmp_path_factory.mktemp("storage"))
    yield storage
    storage.close()


@pytest.fixture(autouse=True)
def fresh(fake: FakeStorage) -> None:
    fake.plans.clear()
    fake.requests.clear()
    fake.down = False
    fake.delay = 0.0


@pytest.fixture(scope="module")
def served(fake: FakeStorage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    home = tmp_path_factory.mktemp("home")
    log = home / "server.log"
    process, url = start_server(home, "--agent", TEST_AGENT, log=log, **fake.env, **STORE)
    yield url, log
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def url(served: tuple) -> str:
    return served[0]


def client(url: str, user: str = "alice") -> openai.OpenAI:
    """The openai client as the platform calls on behalf of `user`: a new call id per client."""
    headers = {"x-agent-user-id": f"{user}-partition", "x-agent-foundry-call-id": new_call_id(user)}
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, default_headers=headers)


def seen(response: openai.types.responses.Response) -> list[dict]:
    """The items the scripted agent was given, from its description."""
    return json.loads(response.output_text)["items"]


def test_foundry_storage_is_chosen_where_the_platform_runs_the_agent() -> None:
    def store(**env: str) -> str:
        return settings.Settings.from_env(env).store

    assert store() == "sqlite"
    assert store(FOUNDRY_HOSTING_ENVIRONMENT="production") == "foundry"
    assert store(RESPONSE_STORE="Foundry") == "foundry"
    assert store(FOUNDRY_HOSTING_ENVIRONMENT="production", RESPONSE_STORE="memory") == "memory"
    with pytest.raises(settings.SettingsError, match="foundry, sqlite, memory"):
        store(RESPONSE_STORE="disk")


def test_create_retrieve_delete_and_input_items_go_to_storage(url: str, fake: FakeStorage) -> None:
    alice = client(url)
    inputs = [{"role": "user", "content": f"line {n}"} for n in range(5)]
    response = alice.responses.create(model="m", input=inputs)
    (create,) = fake.requests  # one storage round trip for a new response
    assert set(create.body) == {"response", "input_items", "history_item_ids"}
    assert create.body["response"]["id"] == response.id
    assert create.body["response"]["status"] == "completed"
    assert [item["content"] for item in create.body["input_items"]] == [
        i["content"] for i in inputs
    ]
    assert create.body["history_item_ids"] == []
    assert create.query == {"api-version": "v1"}
    assert create.headers["Authorization"] == f"Bearer {fake.token}"
    assert create.headers["x-agent-foundry-call-id"].startswith("alice.")
    assert "x-agent-user-id" not in {name.lower() for name in create.headers}

    assert alice.responses.retrieve(response.id).output_text == response.output_text
    first = alice.responses.input_items.list(response.id, limit=2, order="asc")
    assert [item.content[0].text for item in first.data] == ["line 0", "line 1"]
    assert first.has_more
    rest = alice.responses.input_items.list(response.id, limit=10, order="asc", after=first.last_id)
    assert [item.content[0].text for item in rest.data] == ["line 2", "line 3", "line 4"]
    assert not rest.has_more
    (page, _) = fake.sent("input_items")
    assert page.query == {"api-version": "v1", "limit": "3", "order": "asc"}

    alice.responses.delete(response.id)
    assert fake.sent("delete")
    with pytest.raises(openai.NotFoundError):
        alice.responses.retrieve(response.id)
    every = fake.requests
    assert all(r.headers.get("x-agent-foundry-call-id", "").startswith("alice.") for r in every)


def test_a_stream_is_created_first_and_its_final_snapshot_saved(
    url: str, fake: FakeStorage
) -> None:
    events = list(client(url).responses.create(model="m", input="words a b c", stream=True))
    assert events[-1].type == "response.completed"
    (create,) = fake.sent("create")
    assert create.body["response"]["status"] == "in_progress"
    assert fake.sent("update")[-1].body["status"] == "completed"
    assert fake.sent("update")[-1].body["output"][0]["content"][0]["text"] == "a b c "


@pytest.mark.parametrize("stream", [True, False])
def test_a_long_run_updates_its_snapshot_as_it_goes(
    url: str, fake: FakeStorage, stream: bool
) -> None:
    alice = client(url)
    created = alice.responses.create(model="m", input="slow 2.5", background=True, stream=stream)
    if stream:
        assert list(created)[-1].type == "response.completed"
    else:
        while alice.responses.retrieve(created.id).status == "in_progress":
            time.sleep(0.2)
    statuses = [r.body["status"] for r in fake.sent("update")]
    assert statuses[-1] == "completed"
    assert "in_progress" in statuses[:-1]


def test_previous_response_id_reads_history_ids_then_one_batch(url: str, fake: FakeStorage) -> None:
    alice = client(url)
    first = alice.responses.create(model="m", input="hello")
    second = client(url).responses.create(model="m", input="again", previous_response_id=first.id)
    ids = [item["id"] for item in seen(second)]
    assert len(ids) == 3  # hello, the answer, again
    (history,) = fake.sent("history")
    assert history.query == {"api-version": "v1", "limit": "-1", "previous_response_id": first.id}
    (batch,) = fake.sent("items")
    assert batch.body == {"item_ids": ids[:2]}
    assert fake.sent("create")[-1].body["history_item_ids"] == ids[:2]
    call_ids = {r.headers["x-agent-foundry-call-id"] for r in fake.requests[1:]}
    assert len(call_ids) == 1  # the second request's own, on each of its three calls
    third = alice.responses.create(model="m", input="more", previous_response_id=second.id)
    assert [item["id"] for item in seen(third)][:3] == ids


def test_a_conversation_started_elsewhere_is_the_history(url: str, fake: FakeStorage) -> None:
    said = [
        {"id": "msg_c1", "type": "message", "role": "user", "content": "from the portal"},
        {
            "id": "msg_c2",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        },
    ]
    fake.put_conversation("carol", "conv_portal", said)
    carol = client(url, "carol")
    response = carol.responses.create(model="m", input="and now", conversation="conv_portal")
    assert [item["id"] for item in seen(response)][:2] == ["msg_c1", "msg_c2"]
    (history,) = fake.sent("history")
    assert history.query["conversation_id"] == "conv_portal"
    again = carol.responses.create(model="m", input="more", conversation="conv_portal")
    assert len(seen(again)) == 5  # two from the portal, the first turn, and this one
    # another user with the same conversation id sees nothing of carol's
    dave = client(url, "dave")
    assert len(seen(dave.responses.create(model="m", input="x", conversation="conv_portal"))) == 1


def test_a_failed_turn_keeps_its_partial_output_out_of_later_history(
    url: str, fake: FakeStorage
) -> None:
    """Storage gives back every stored output item: a failed turn's must not be stored."""
    alice = client(url)
    first = alice.responses.create(model="m", input="words hello")
    for stream in (False, True):
        failed = alice.responses.create(
            model="m", input="call-then-fail Oslo", previous_response_id=first.id, stream=stream
        )
        if stream:
            failed = [event for event in failed][-1].response
        assert failed.status == "failed"
        assert [item.type for item in failed.output] == ["function_call"]  # the client sees it
        stored = fake.partitions["alice"].responses[failed.id].response
        assert stored["status"] == "failed" and stored["output"] == []
        after = alice.responses.create(model="m", input="describe", previous_response_id=failed.id)
        assert after.status == "completed"
        roles = [item["role"] for item in seen(after)]
        # The failed turn's input message stays in storage's history (its output does not).
        assert roles == ["user", "assistant", "user", "user"]


def test_item_references_resolve_by_one_batch(url: str, fake: FakeStorage) -> None:
    fake.put_conversation(
        "erin", "conv_e", [{"id": "msg_ref", "type": "message", "role": "user", "content": "kept"}]
    )
    response = client(url, "erin").responses.create(
        model="m", input=[{"type": "item_reference", "id": "msg_ref"}]
    )
    assert [item["id"] for item in seen(response)] == ["msg_ref"]
    assert fake.sent("items")[-1].body == {"item_ids": ["msg_ref"]}
    with pytest.raises(openai.BadRequestError):
        client(url, "frank").responses.create(
            model="m", input=[{"type": "item_reference", "id": "msg_ref"}]
        )


def test_two_end_users_see_only_their_own_data(url: str, fake: FakeStorage) -> None:
    response = client(url, "alice").responses.create(model="m", input="mine")
    bob = client(url, "bob")
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(response.id)
    with pytest.raises(openai.BadRequestError) as refused:
        bob.responses.create(model="m", input="x", previous_response_id=response.id)
    assert refused.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(response.id)
    # a later request of alice has a new call id, and the same data
    assert client(url, "alice").responses.retrieve(response.id).id == response.id


def test_a_user_without_a_call_id_is_refused_not_put_with_every_other(
    url: str, fake: FakeStorage
) -> None:
    """Storage partitions by call id: without one, all such users shared one partition."""
    headers = {"x-agent-user-id": "mallory-partition"}
    lone = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, default_headers=headers)
    for ask in (
        lambda: lone.responses.create(model="m", input="words hi", stream=True),
        lambda: lone.responses.retrieve("caresp_" + "0" * 48),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            ask()
        assert refused.value.body["param"] == "x-agent-foundry-call-id"
    assert not fake.requests


def test_a_duplicate_id_is_the_protocols_409(url: str, fake: FakeStorage) -> None:
    fake.plan("create", 409)
    with pytest.raises(openai.ConflictError) as conflict:
        client(url).responses.create(model="m", input="hello")
    assert conflict.value.code == "response_id_conflict"


def test_transient_failures_are_retried(url: str, fake: FakeStorage) -> None:
    fake.plan("create", 503, 429)
    fake.plan("get", 500)
    response = client(url).responses.create(model="m", input="hello")
    assert len(fake.sent("create")) == 3
    assert client(url).responses.retrieve(response.id).id == response.id


def test_a_create_storage_refuses_fails_the_request(url: str, fake: FakeStorage) -> None:
    fake.plan("create", 503, 503, 503)
    with pytest.raises(openai.APIStatusError) as failed:
        client(url).responses.create(model="m", input="hello")
    assert failed.value.status_code == 503
    assert failed.value.code == "storage_unavailable"
    fake.plan("create", 400)
    with pytest.raises(openai.APIStatusError) as refused:
        client(url).responses.create(model="m", input="hello")
    assert (refused.value.status_code, refused.value.code) == (502, "storage_error")


def test_slow_storage_times_out_and_is_retried(url: str, fake: FakeStorage) -> None:
    fake.delay = 1.5  # past STORAGE_TIMEOUT_SECONDS
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as failed:
        client(url).responses.create(model="m", input="hello")
    assert failed.value.code == "storage_unavailable"
    assert len(fake.sent("create")) == 3
    assert time.monotonic() - started < 8


def test_an_outage_mid_stream_ends_it_failed_with_a_storage_code(
    url: str, fake: FakeStorage
) -> None:
    stream = client(url).responses.create(model="m", input="slow 0.5", stream=True)
    events = []
    for event in stream:
        events.append(event)
        if event.type == "response.created":
            fake.down = True
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "storage_unavailable"


def test_tokens_are_cached_and_never_logged(served: tuple, fake: FakeStorage) -> None:
    url, log = served
    before = fake.tokens_issued
    for _ in range(3):
        client(url).responses.create(model="m", input="hello")
    assert fake.tokens_issued == before
    text = log.read_text()
    assert fake.token not in text
    assert f"store: Foundry storage at {fake.endpoint}/storage/" in text


def test_a_restart_loses_nothing_storage_acknowledged(tmp_path: Path, fake: FakeStorage) -> None:
    env = {**fake.env, "FOUNDRY_HOSTING_ENVIRONMENT": "test"}  # chosen automatically
    process, url = start_server(tmp_path / "a", "--agent", TEST_AGENT, **env)
    first = client(url).responses.create(model="m", input="remember")
    process.terminate()
    process.wait(timeout=30)
    process, url = start_server(tmp_path / "b", "--agent", TEST_AGENT, **env)
    try:
        assert client(url).responses.retrieve(first.id).output_text == first.output_text
        second = client(url).responses.create(model="m", input="x", previous_response_id=first.id)
        assert len(seen(second)) == 3
    finally:
        process.terminate()
        process.wait(timeout=30)


def readiness_of_new_server(tmp_path: Path, env: dict[str, str]) -> tuple[httpx.Response, str]:
    """Start a server that may not become ready; its first readiness answer, and its log."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "HOME": str(tmp_path), "PATH": "/bin"}
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, "--env-file", ""], cwd=PROJECT, env=env, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readiness", timeout=1), log.read_text()
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_readiness_fails_while_storage_cannot_be_reached(tmp_path: Path, fake: FakeStorage) -> None:
    fake.down = True
    reply, log = readiness_of_new_server(tmp_path, {**fake.env, **STORE})
    assert reply.status_code == 503
    assert "cannot be reached: HTTP 503 after 3 attempts" in reply.json()["reason"]
    assert "Foundry storage" in log


def test_a_missing_identity_is_one_line_at_start(tmp_path: Path, fake: FakeStorage) -> None:
    env = {"FOUNDRY_PROJECT_ENDPOINT": fake.endpoint, "SSL_CERT_FILE": str(fake.ca_file), **STORE}
    reply, log = readiness_of_new_server(tmp_path, env)
    assert reply.status_code == 503
    assert "no token for the agent identity" in reply.json()["reason"]
    (line,) = [line for line in log.splitlines() if "no token" in line]
    assert "az login" in line


def test_a_missing_endpoint_exits_with_one_line(tmp_path: Path) -> None:
    env = {"RESPONSE_STORE": "foundry", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", PACKAGE, "--env-file", ""],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "FOUNDRY_PROJECT_ENDPOINT" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


class CountingCredential:
    """Tokens that expire `seconds` from now, numbered by how many were asked for."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        assert scopes == ("https://ai.azure.com/.default",)
        self.calls += 1
        await asyncio.sleep(0.01)
        return AccessToken(f"t{self.calls}", int(time.time() + self.seconds))


def test_tokens_are_shared_and_refreshed_before_they_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        credential = CountingCredential(3600)
        tokens = storage.Tokens(credential)
        assert await asyncio.gather(*(tokens.get() for _ in range(20))) == ["t1"] * 20
        assert credential.calls == 1
        now = time.time()
        monkeypatch.setattr(storage.time, "time", lambda: now + 3600 - 200)
        assert await tokens.get() == "t1"  # still valid: refreshed in the background
        await asyncio.sleep(0.05)
        assert credential.calls == 2
        assert await tokens.get() == "t2"
        monkeypatch.setattr(storage.time, "time", lambda: now + 2 * 3600)
        assert await tokens.get() == "t3"  # expired: waited for

    asyncio.run(scenario())
