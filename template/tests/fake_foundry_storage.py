"""A fake Foundry storage service, and the managed identity endpoint that signs in to it.

Storage speaks the seven calls of `{project endpoint}/storage/` (api-version v1) over TLS
on 127.0.0.1 with a throwaway CA (azure-core refuses bearer tokens over plain http). The
end user is resolved from `x-agent-foundry-call-id` as the real service does: here, the
part before its first "." (`alice.1` and `alice.2` are two requests of one user). Every
request is recorded; `plan` scripts answers (404/409/429/5xx), `delay` slows every call,
`down` makes every call answer 503. The identity endpoint is App Service's managed
identity (IDENTITY_ENDPOINT and IDENTITY_HEADER, plain http, as azure-identity reads it).

Run alone for the bench: `python tests/fake_foundry_storage.py FOLDER --delay 0.02`
prints the environment a server needs, one NAME=VALUE a line, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_foundry import Recorded, _tls  # noqa: E402  (the agents fake's CA and record)

PROJECT = "/api/projects/demo"
STORAGE = f"{PROJECT}/storage/"
IDENTITY_HEADER = "fake-identity-header"


@dataclass
class Stored:
    response: dict[str, Any]
    input_ids: list[str]
    history_ids: list[str]


@dataclass
class Partition:
    """One end user's data."""

    responses: dict[str, Stored] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, list[str]] = field(default_factory=dict)
    """Items put into a conversation directly (the Conversations API), by conversation id."""


@dataclass
class FakeStorage:
    """The fake; `env` is what a server needs to use it and its identity endpoint."""

    folder: Path
    delay: float = 0.0
    token_seconds: int = 3600
    requests: list[Recorded] = field(default_factory=list)
    partitions: dict[str, Partition] = field(default_factory=dict)
    plans: dict[str, list[int]] = field(default_factory=dict)
    down: bool = False
    record: bool = True
    """False keeps no requests (long bench runs)."""
    tokens_issued: int = 0
    valid: set[str] = field(default_factory=set)
    """Every token issued (servers sharing the fake each keep their own)."""
    port: int = 0
    identity_port: int = 0

    def __post_init__(self) -> None:
        self.ca_file, self._context = _tls(self.folder)
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}{PROJECT}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "FOUNDRY_PROJECT_ENDPOINT": self.endpoint,
            "SSL_CERT_FILE": str(self.ca_file),
            "IDENTITY_ENDPOINT": f"http://127.0.0.1:{self.identity_port}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
        }

    @property
    def token(self) -> str:
        """The token issued last."""
        return f"fake-token-{self.tokens_issued}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def plan(self, operation: str, *statuses: int) -> None:
        """Answer the next calls of `operation` (e.g. "create", "history") with these statuses."""
        self.plans.setdefault(operation, []).extend(statuses)

    def sent(self, operation: str) -> list[Recorded]:
        return [r for r in self.requests if _operation(r.method, r.path) == operation]

    def put_conversation(self, user: str, conversation_id: str, items: list[dict]) -> None:
        """Items added to a conversation directly, as the Conversations API would."""
        partition = self.partitions.setdefault(user, Partition())
        for item in items:
            partition.items[item["id"]] = item
        partition.conversations.setdefault(conversation_id, []).extend(i["id"] for i in items)

    # The server, on its own thread and loop.

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        storage = web.Application()
        storage.router.add_route("*", STORAGE + "{path:.*}", self._storage)
        identity = web.Application()
        identity.router.add_get("/msi/token", self._identity)
        runners = [
            web.AppRunner(storage, access_log=None),
            web.AppRunner(identity, access_log=None),
        ]
        for runner in runners:
            self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runners[0], "127.0.0.1", self.port, ssl_context=self._context)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        site = web.TCPSite(runners[1], "127.0.0.1", self.identity_port)
        self._loop.run_until_complete(site.start())
        self.identity_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        self._loop.run_forever()
        for runner in runners:
            self._loop.run_until_complete(runner.cleanup())

    async def _identity(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return web.json_response({"error": "bad identity header"}, status=401)
        self.tokens_issued += 1
        self.valid.add(self.token)
        return web.json_response(
            {
                "access_token": self.token,
                "expires_on": str(int(time.time()) + self.token_seconds),
                "resource": request.query.get("resource"),
                "token_type": "Bearer",
            }
        )

    async def _storage(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        raw = await request.read()
        body = None
        if raw:
            body = await request.json()
        if self.record:
            recorded = Recorded(
                request.method, path, dict(request.query), dict(request.headers), body
            )
            self.requests.append(recorded)
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.query.get("api-version") != "v1":
            return _error(400, "invalid_api_version", "api-version must be v1")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.valid:
            return _error(401, "unauthorized", "missing or stale bearer token")
        operation = _operation(request.method, path)
        planned = self.plans.get(operation)
        if planned:
            status = planned.pop(0)
            return _error(status, "planned", f"planned {status}")
        if self.down:
            return _error(503, "unavailable", "storage is down")
        user = (request.headers.get("x-agent-foundry-call-id") or "").partition(".")[0]
        partition = self.partitions.setdefault(user, Partition())
        status, answer = _answer(partition, operation, path, dict(request.query), body)
        return web.json_response(answer, status=status)


def _operation(method: str, path: str) -> str:
    parts = path.split("/")
    if path == "responses" and method == "POST":
        return "create"
    if path == "items/batch/retrieve":
        return "items"
    if path == "history/item_ids":
        return "history"
    if parts[0] == "responses" and len(parts) == 3 and parts[2] == "input_items":
        return "input_items"
    if parts[0] == "responses" and len(parts) == 2:
        return {"GET": "get", "POST": "update", "DELETE": "delete"}.get(method, "unknown")
    return "unknown"


def _answer(
    partition: Partition, operation: str, path: str, query: dict[str, str], body: Any
) -> tuple[int, Any]:
    """The service's behaviour for one call of one user."""
    response_id = path.split("/")[1] if path.startswith("responses/") else ""
    stored = partition.responses.get(response_id)
    if operation == "create":
        response = body["response"]
        if response["id"] in partition.responses:
            return _conflict(response["id"])
        for item in body["input_items"]:
            partition.items[item["id"]] = item
        partition.responses[response["id"]] = Stored(
            response, [item["id"] for item in body["input_items"]], list(body["history_item_ids"])
        )
        _keep_output(partition, response)
        return 200, response
    if operation == "items":
        return 200, [partition.items.get(item_id) for item_id in body["item_ids"]]
    if operation == "history":
        return _history(partition, query)
    if stored is None:
        return _not_found(response_id)
    if operation == "get":
        return 200, stored.response
    if operation == "update":
        stored.response = body
        _keep_output(partition, body)
        return 200, body
    if operation == "delete":
        del partition.responses[response_id]
        return 200, {"id": response_id, "object": "response.deleted", "deleted": True}
    if operation == "input_items":
        return 200, {"object": "list", "data": _page(partition, stored, query)}
    return 404, {"error": {"code": "not_found", "message": "no such call"}}


def _keep_output(partition: Partition, response: dict[str, Any]) -> None:
    for item in response.get("output") or []:
        if "id" in item:
            partition.items[item["id"]] = item


def _page(partition: Partition, stored: Stored, query: dict[str, str]) -> list[dict[str, Any]]:
    ids = stored.input_ids if query.get("order") == "asc" else stored.input_ids[::-1]
    if "after" in query:
        ids = ids[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
    if "before" in query:
        ids = ids[: ids.index(query["before"])] if query["before"] in ids else ids
    return [partition.items[item_id] for item_id in ids[: int(query.get("limit", "20"))]]


def _history(partition: Partition, query: dict[str, str]) -> tuple[int, Any]:
    """The ids before a new turn: the conversation's, or the previous response's chain."""
    previous = query.get("previous_response_id")
    conversation = query.get("conversation_id")
    ids: list[str] = []
    if previous:
        stored = partition.responses.get(previous)
        if stored is None:
            return _not_found(previous)
        ids = [*stored.history_ids, *stored.input_ids, *_turn_output(stored)]
    elif conversation:
        ids = list(partition.conversations.get(conversation, []))
        for stored in partition.responses.values():
            if (stored.response.get("conversation") or {}).get("id") == conversation:
                ids += [*stored.input_ids, *_turn_output(stored)]
    limit = int(query.get("limit", "-1"))
    return 200, ids if limit < 0 else ids[-limit:] if limit else []


def _turn_output(stored: Stored) -> list[str]:
    """Every stored output item, whatever the status, as storage keeps them."""
    return [item["id"] for item in stored.response.get("output") or [] if "id" in item]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _conflict(response_id: str) -> tuple[int, Any]:
    return 409, {"error": {"code": "conflict", "message": f"'{response_id}' already exists"}}


def _not_found(response_id: str) -> tuple[int, Any]:
    return 404, {"error": {"code": "not_found", "message": f"'{response_id}' not found"}}


def new_call_id(user: str) -> str:
    """A fresh call id of `user`, as the platform mints one for every request."""
    return f"{user}.{secrets.token_hex(8)}.{next(_counter)}"


_counter = itertools.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the test CA is written")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    arguments = parser.parse_args()
    fake = FakeStorage(arguments.folder, delay=arguments.delay, record=False)
    for name, value in fake.env.items():
        print(f"{name}={value}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main()
