"""The ASGI application: the RESPONSES protocol routes.

Each route parses its request, asks the store and the runs, and answers JSON or SSE.
Protocol details live in their own modules: requests (body checks), items (ids and
item shapes), responses (the Response object), events (output items and stream
events), stepping (when to flush), sse (the stream), replies (whole JSON answers),
store, runs (agent runs and what is in flight), shutdown (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import tracing
from .access import RESPONSE_ID
from .codec import encode
from .errors import INTERNAL, ProtocolError, error_body, not_found
from .items import listed, new_response_id, random_hex
from .manifest import Manifest
from .replies import JsonReply
from .requests import CreateRequest, parse_create
from .responses import is_finished, new_response
from .runs import Run, Runs
from .settings import Settings
from .sse import EventStream
from .store import Record, Store, history, open_store
from .turn import Agent, Turn

log = logging.getLogger(__name__)


def create_app(agent: Agent, settings: Settings, manifest: Manifest) -> ResponsesApp:
    """Build the ASGI app serving `agent`."""
    server = ResponsesServer(agent, settings, manifest)
    routes = Starlette(
        routes=[
            Route("/readiness", server.readiness, methods=["GET"]),
            # Served by ResponsesApp directly; listed so other methods get a 405.
            Route("/responses", server.create, methods=["POST"]),
            Route("/responses/{id}", server.retrieve, methods=["GET"]),
            Route("/responses/{id}", server.delete, methods=["DELETE"]),
            Route("/responses/{id}/cancel", server.cancel, methods=["POST"]),
            Route("/responses/{id}/input_items", server.input_items, methods=["GET"]),
        ],
        exception_handlers={
            ProtocolError: _refused,
            HTTPException: _http_error,
            Exception: _crash,
        },
        lifespan=server.lifespan,
    )
    return ResponsesApp(server, routes)


class ResponsesApp:
    """The ASGI app: Starlette routes every request except `POST /responses`.

    Creating responses is the hot path, and its streams send many messages: it goes
    straight to its handler instead of through Starlette's router and middleware, which
    would wrap every one of those messages.
    """

    def __init__(self, server: ResponsesServer, routes: Starlette) -> None:
        self.server = server
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/responses" and scope["method"] == "POST":
            request = Request(scope, receive)
            try:
                reply = await self.server.create(request)
            except ProtocolError as error:
                reply = await _refused(request, error)
            except Exception as error:
                reply = await _crash(request, error)
            await reply(scope, receive, send)
        else:
            await self.routes(scope, receive, send)


class ResponsesServer:
    """The route handlers, and what they share: the agent, the store, the runs."""

    def __init__(self, agent: Agent, settings: Settings, manifest: Manifest) -> None:
        self.agent = agent
        self.settings = settings
        self.manifest = manifest
        self.store: Store = open_store(settings.store, settings.state_dir)
        self.runs = Runs()
        self._background: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.store.start()
        yield
        await self.drain()
        await self.store.close()

    async def drain(self) -> None:
        """Stop taking work; let runs finish within the grace period, then end them."""
        if self.runs.accepting:
            await self.runs.drain(self.settings.shutdown_grace_seconds)

    async def readiness(self, request: Request) -> JsonReply:
        if not self.runs.accepting:
            return _json(request, {"status": "draining"}, 503)
        return _json(request, {"status": "healthy"})

    async def create(self, request: Request) -> JsonReply | EventStream:
        if not self.runs.accepting:
            raise ProtocolError(
                503,
                "The server is shutting down.",
                code="server_shutting_down",
                type="server_error",
            )
        parsed = parse_create(await _read_body(request, self.settings.max_body_bytes))
        headers = _headers(request)
        previous = None
        if parsed.previous_response_id:
            previous = self.store.get(parsed.previous_response_id)
            if previous is None:
                raise ProtocolError(
                    400,
                    f"Previous response with id '{parsed.previous_response_id}' not found.",
                    "previous_response_id",
                    "previous_response_not_found",
                )
        if parsed.tool_choice != "auto" and parsed.tool_choice != "none" and not parsed.tools:
            raise ProtocolError(400, "'tool_choice' needs 'tools' to choose from.", "tool_choice")
        response_id = headers.get("x-agent-response-id") or new_response_id()
        request.scope[RESPONSE_ID] = response_id  # for the access line
        session_id = self._session_id(parsed, previous)
        response = new_response(parsed, response_id, self.manifest.model_deployment)
        items = parsed.items
        if parsed.previous_response_id or parsed.conversation_id:
            prior = history(self.store, parsed.previous_response_id, parsed.conversation_id)
            items = prior + items
        turn = Turn(
            items=items,
            instructions=parsed.body.get("instructions"),
            tools=_offered_tools(parsed.tools, parsed.tool_choice),
            tool_choice=parsed.tool_choice,
            metadata=parsed.metadata,
            model=parsed.body.get("model"),
            response_id=response_id,
            session_id=session_id,
            user_id=headers.get("x-agent-user-id"),
            foundry_call_id=headers.get("x-agent-foundry-call-id"),
            manifest=self.manifest,
        )
        record = Record(response, parsed.items, session_id) if parsed.store else None
        run = Run(
            self.agent, turn, response, record, self.store, parsed.stream, _request_id(request)
        )
        run.trace = tracing.tracer.response(response, turn, headers)
        extra = [(b"x-agent-session-id", session_id.encode())]
        if parsed.background:
            return await self._start_background(request, run, extra)
        if parsed.stream:
            return await self._stream(request, run, extra)
        return await self._complete(request, run, extra)

    async def _complete(
        self, request: Request, run: Run, extra: list[tuple[bytes, bytes]]
    ) -> JsonReply:
        run.task = asyncio.current_task()
        self.runs.add(run)
        try:
            await run.complete()
        finally:
            self.runs.finish(run)
        if run.crashed:
            return _error(request, 500, error_body(INTERNAL, "server_error", code="server_error"))
        return _json(request, run.response, extra=extra)

    async def _stream(
        self, request: Request, run: Run, extra: list[tuple[bytes, bytes]]
    ) -> EventStream:
        if run.record is not None:
            # Committed before the first event goes out, so a crash once the client has
            # seen the response leaves a failed record. Queuing it without waiting lost
            # it when the process was killed between the first write and the commit.
            await self.store.save(run.record)

        async def chunks() -> AsyncIterator[bytes]:
            run.task = asyncio.current_task()
            self.runs.add(run)
            steps = run.steps()
            try:
                async for frames in steps:
                    yield b"".join(frames)
            finally:
                await steps.aclose()
                run.abandon()
                self.runs.finish(run)

        return EventStream(
            chunks(),
            [*extra, _request_id_header(request)],
            self.settings.sse_keepalive_seconds,
            lambda: run.stop("disconnect"),
        )

    async def _start_background(
        self, request: Request, run: Run, extra: list[tuple[bytes, bytes]]
    ) -> JsonReply | EventStream:
        run.events.start()
        run.frames = run.events.take()
        if run.record is not None:
            await self.store.save(run.record)
        self.runs.add(run)
        task = asyncio.get_running_loop().create_task(self._background_run(run))
        run.task = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if run.events.frames is None:
            return _json(request, run.response, extra=extra)
        return self._follow(request, run, -1, extra)

    async def _background_run(self, run: Run) -> None:
        try:
            await run.run_in_background()
        finally:
            run.abandon()
            self.runs.finish(run)

    def _follow(
        self, request: Request, run: Run, after: int, extra: list[tuple[bytes, bytes]]
    ) -> EventStream:
        task = asyncio.current_task()
        assert task is not None
        return EventStream(
            run.follow(after),
            [*extra, _request_id_header(request)],
            self.settings.sse_keepalive_seconds,
            task.cancel,  # the run goes on without this client
        )

    async def retrieve(self, request: Request) -> JsonReply | EventStream:
        response_id = request.path_params["id"]
        query = request.query_params
        if query.get("stream") == "true":
            run = self.runs.find(response_id)
            if run is None or not run.background or run.events.frames is None:
                if run is None and self.store.get(response_id) is None:
                    raise not_found(response_id)
                raise ProtocolError(
                    400, "Only background streamed responses can be streamed again.", "stream"
                )
            after = _integer(query.get("starting_after", "-1"), "starting_after", minimum=-1)
            return self._follow(request, run, after, [])
        run = self.runs.active.get(response_id)
        if run is not None and run.background:
            return _json(request, run.response)
        record = self.store.get(response_id)
        if record is None:
            raise not_found(response_id)
        return _json(request, record.response)

    async def delete(self, request: Request) -> JsonReply:
        response_id = request.path_params["id"]
        if response_id in self.runs.active:
            raise ProtocolError(
                400, "Cannot delete a response that is still in progress.", "response_id"
            )
        if not await self.store.delete(response_id):
            raise not_found(response_id)
        return _json(request, {"id": response_id, "object": "response", "deleted": True})

    async def cancel(self, request: Request) -> JsonReply:
        response_id = request.path_params["id"]
        run = self.runs.active.get(response_id)
        if run is not None:
            if not run.background:
                raise ProtocolError(400, "Cannot cancel a synchronous response.", "response_id")
            run.stop("cancel")
            if run.task is not None:
                await asyncio.wait([run.task])
            if response_id in self.runs.active:  # cancelled before its task ever ran
                run.abandon()
                self.runs.finish(run)
            return _json(request, run.response)
        record = self.store.get(response_id)
        if record is None:
            raise not_found(response_id)
        response = record.response
        if not response.get("background"):
            raise ProtocolError(400, "Cannot cancel a synchronous response.", "response_id")
        if response["status"] != "cancelled" and is_finished(response):
            raise ProtocolError(
                400, f"Cannot cancel a {response['status']} response.", "response_id"
            )
        return _json(request, response)

    async def input_items(self, request: Request) -> JsonReply:
        response_id = request.path_params["id"]
        query = request.query_params
        limit = _integer(query.get("limit", "20"), "limit", minimum=1, maximum=100)
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ProtocolError(400, "'order' must be 'asc' or 'desc'.", "order")
        run = self.runs.active.get(response_id)
        record = run.record if run is not None else self.store.get(response_id)
        if record is None:
            raise not_found(response_id)
        items = record.input if order == "asc" else record.input[::-1]
        ids = [item.get("id") for item in items]
        start, end = 0, len(items)
        if "after" in query:
            start = _index(ids, query["after"], "after") + 1
        if "before" in query:
            end = _index(ids, query["before"], "before")
        page = [listed(item) for item in items[start:end][:limit]]
        body = {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": end - start > limit,
        }
        return _json(request, body)

    def _session_id(self, parsed: CreateRequest, previous: Record | None) -> str:
        """The body's, else the platform's, else the conversation's, else a new one."""
        given = parsed.body.get("agent_session_id") or self.settings.session_id
        if given:
            return given
        if previous is not None and previous.session_id:
            return previous.session_id
        if parsed.conversation_id:
            key = f"{self.manifest.name}:{parsed.conversation_id}".encode()
            return hashlib.sha256(key).hexdigest()[:63]
        return random_hex(63)


def _offered_tools(tools: list[dict[str, Any]], choice: Any) -> list[dict[str, Any]]:
    """The tools the agent may use under `tool_choice`: none, all, or the chosen ones."""
    if choice == "none":
        return []
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return [tool for tool in tools if tool.get("name") == choice.get("name")]
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("tools") or []
            return [tool for tool in tools if any(_same_tool(tool, a) for a in allowed)]
    return tools


def _same_tool(tool: dict[str, Any], wanted: Any) -> bool:
    return isinstance(wanted, dict) and all(tool.get(key) == value for key, value in wanted.items())


async def _read_body(request: Request, limit: int) -> bytes:
    length = _headers(request).get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProtocolError(400, "The client closed the connection during the request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> ProtocolError:
    return ProtocolError(413, f"The request body is over {limit} bytes.", code="request_too_large")


def _integer(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ProtocolError(400, f"'{name}' must be an integer.", name) from None
    if value < minimum or (maximum is not None and value > maximum):
        top = f" and at most {maximum}" if maximum is not None else ""
        raise ProtocolError(400, f"'{name}' must be at least {minimum}{top}.", name)
    return value


def _index(ids: list[Any], item_id: str, name: str) -> int:
    try:
        return ids.index(item_id)
    except ValueError:
        raise ProtocolError(400, f"No input item with id '{item_id}'.", name) from None


_WANTED = frozenset(
    {
        b"content-length",
        b"x-request-id",
        b"x-agent-response-id",
        b"x-agent-user-id",
        b"x-agent-foundry-call-id",
        b"traceparent",  # the caller's trace, continued when telemetry is on
        b"tracestate",
    }
)


def _headers(request: Request) -> dict[str, str]:
    """The request headers the protocol reads, found in one pass over the raw list."""
    found = request.scope.get("protocol.headers")
    if found is None:
        raw = request.scope["headers"]
        found = {key.decode(): value.decode("latin-1") for key, value in raw if key in _WANTED}
        request.scope["protocol.headers"] = found
    return found


def _request_id(request: Request) -> str:
    """The caller's `x-request-id`, or a new one; the same for the whole request."""
    headers = _headers(request)
    request_id = headers.get("x-request-id")
    if not request_id:
        request_id = headers["x-request-id"] = random_hex(32)
    return request_id


def _request_id_header(request: Request) -> tuple[bytes, bytes]:
    return (b"x-request-id", _request_id(request).encode())


def _json(
    request: Request,
    body: Any,
    status: int = 200,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> JsonReply:
    headers = [_request_id_header(request)]
    if extra:
        headers += extra
    return JsonReply(encode(body), status, headers)


def _error(
    request: Request,
    status: int,
    body: bytes,
    retry: bool = True,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> JsonReply:
    headers = [_request_id_header(request), *(extra or [])]
    if not retry:
        headers.append((b"x-should-retry", b"false"))
    return JsonReply(body, status, headers)


async def _refused(request: Request, error: Exception) -> JsonReply:
    assert isinstance(error, ProtocolError)
    return _error(request, error.status, error.body(), retry=error.status >= 500)


async def _http_error(request: Request, error: Exception) -> JsonReply:
    """Unknown routes and methods get the error envelope too."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
    message = {404: "Not found.", 405: "Method not allowed."}.get(error.status_code, error.detail)
    # Its headers go along, e.g. Allow on a 405.
    extra = [(key.lower().encode(), value.encode()) for key, value in (error.headers or {}).items()]
    return _error(request, error.status_code, error_body(message, code=code), extra=extra)


async def _crash(request: Request, error: Exception) -> JsonReply:
    """A bug in the server: logged (with the request id), never shown to the client."""
    log.error("request %s failed", _request_id(request), exc_info=error)
    return _error(request, 500, error_body(INTERNAL, "server_error", code="server_error"))
