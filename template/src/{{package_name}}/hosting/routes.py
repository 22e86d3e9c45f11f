"""The route handlers, and what they share: the agent, the store, the runs, the session.

Every handler starts by asking who the caller is (identity.py): each stored response and
each run belongs to one end user, and for anyone else it does not exist, on every route.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from . import identity, tracing
from .access import RESPONSE_ID
from .errors import INTERNAL, ProtocolError, error_body, not_found
from .items import new_response_id
from .lifecycle import Lifecycle
from .manifest import Manifest
from .paging import integer, page, page_query
from .records import Record, ResponseConflict
from .references import resolve
from .replies import JsonReply, error_reply, json_reply
from .requests import parse_create, read_body
from .responses import is_finished, new_response
from .runs import Run, Runs, conflict
from .sessions import Sessions
from .settings import Settings
from .sse import EventStream
from .store import open_store
from .tool_choice import offered_tools
from .turn import Agent, Turn

Extra = list[tuple[bytes, bytes]]


class ResponsesServer:
    """The RESPONSES protocol's handlers over one agent and one store."""

    def __init__(self, agent: Agent, settings: Settings, manifest: Manifest) -> None:
        self.agent = agent
        self.settings = settings
        self.manifest = manifest
        self.store = open_store(settings)
        self.runs = Runs(settings.replay_seconds, settings.replay_max_bytes)
        self.sessions = Sessions(settings.session_id, manifest.name)
        self.lifecycle = Lifecycle(self.store, self.sessions)
        self._background: set[asyncio.Task[None]] = set()
        self._drained: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.store.start()
        yield
        await self.drain()
        await self.store.close()

    async def drain(self) -> None:
        """Stop taking work; let runs finish within the grace period, then end them.

        Runs once, whoever asks first (a signal or the lifespan); later calls wait for it.
        Not skipped once `stop` refused new work: its stopped runs must still end and save.
        """
        if self._drained is None:
            grace = self.settings.shutdown_grace_seconds
            self._drained = asyncio.ensure_future(self.runs.drain(grace))
        await asyncio.shield(self._drained)

    def stop(self) -> None:
        """Stop taking work and end every run now, each with its terminal event."""
        self.runs.stop_all()

    async def readiness(self, request: Request) -> JsonReply:
        if not self.runs.accepting:
            return json_reply(request, {"status": "draining"}, 503)
        problem = self.store.problem()
        if problem:
            return json_reply(request, {"status": "unhealthy", "reason": problem}, 503)
        return json_reply(request, {"status": "healthy"})

    async def before_snapshot(self, request: Request) -> JsonReply:
        return json_reply(request, await self.lifecycle.before_snapshot(request))

    async def after_restore(self, request: Request) -> JsonReply:
        return json_reply(request, await self.lifecycle.after_restore(request))

    async def create(self, request: Request) -> JsonReply | EventStream:
        if not self.runs.accepting:
            raise ProtocolError(
                503,
                "The server is shutting down.",
                code="server_shutting_down",
                type="server_error",
            )
        caller = identity.caller(request)
        given_id = identity.response_id(request)
        parsed = parse_create(await read_body(request, self.settings.max_body_bytes))
        history: list[dict[str, Any]] = []
        previous_session = ""
        if parsed.previous_response_id or parsed.conversation_id:
            prior = await self.store.history(
                caller, parsed.previous_response_id, parsed.conversation_id
            )
            history, previous_session = prior.items, prior.session_id
        items = await resolve(parsed.items, history, lambda ids: self.store.items(caller, ids))
        session_id = self.sessions.session_id(
            parsed.body.get("agent_session_id"), previous_session, parsed.conversation_id
        )
        response = new_response(
            parsed, given_id or new_response_id(), self.manifest.model_deployment
        )
        request.scope[RESPONSE_ID] = response["id"]  # for the access line
        turn = Turn(
            items=history + items,
            instructions=parsed.body.get("instructions"),
            tools=offered_tools(parsed.tools, parsed.tool_choice),
            tool_choice=parsed.tool_choice,
            metadata=parsed.metadata,
            model=parsed.body.get("model"),
            response_id=response["id"],
            session_id=session_id,
            user_id=caller.user or None,
            foundry_call_id=caller.call_id,
            manifest=self.manifest,
            **parsed.turn_options,
        )
        record = None
        if parsed.store:
            record = Record(response, items, session_id)
            if history:
                record.history_ids = [item["id"] for item in history if "id" in item]
        run = Run(
            self.agent,
            turn,
            response,
            record,
            self.store,
            parsed.stream,
            identity.request_id(request),
            caller,
        )
        run.trace = tracing.tracer.response(response, turn, identity.headers(request))
        # A repeated id is refused before the agent runs, not once its result cannot be stored.
        if given_id and record is not None and await self.store.get(caller, given_id) is not None:
            self.runs.refused(run, ResponseConflict(given_id))
            raise conflict(given_id)
        extra = [(b"x-agent-session-id", session_id.encode())]
        if parsed.background:
            return await self._start_background(request, run, extra)
        if parsed.stream:
            return await self._stream(request, run, extra)
        return await self._complete(request, run, extra)

    async def _complete(self, request: Request, run: Run, extra: Extra) -> JsonReply:
        run.task = asyncio.current_task()
        self.runs.add(run)
        try:
            await run.complete()
        except Exception as error:  # its record could not be stored: no Response exists
            self.runs.refused(run, error)
            raise
        finally:
            self.runs.finish(run)
        if run.crashed:  # logged by the run; the client only learns that it failed
            body = error_body(INTERNAL, "server_error", code="server_error")
            return error_reply(request, 500, body)
        return json_reply(request, run.response, extra=extra)

    async def _stream(self, request: Request, run: Run, extra: Extra) -> EventStream:
        # Stored before the first event goes out, so a crash once the client has seen the
        # response leaves a failed record. Queuing it without waiting lost it when the
        # process was killed between the first write and the commit.
        await self._created(run)

        async def chunks() -> AsyncIterator[bytes]:
            run.task = asyncio.current_task()
            steps = run.steps()
            try:
                async for frames in steps:
                    yield b"".join(frames)
            finally:
                await steps.aclose()

        def closed() -> None:
            run.abandon()
            self.runs.finish(run)

        return EventStream(
            chunks(),
            [*extra, identity.request_id_header(request)],
            self.settings.sse_keepalive_seconds,
            lambda: run.stop("disconnect"),
            closed,
        )

    async def _start_background(
        self, request: Request, run: Run, extra: Extra
    ) -> JsonReply | EventStream:
        run.events.start()
        await self._created(run)
        run.publish(run.events.take())
        task = asyncio.get_running_loop().create_task(self._background_run(run))
        run.task = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if run.events.frames is None:
            return json_reply(request, run.response, extra=extra)
        return self._follow(request, run, -1, extra)

    async def _created(self, run: Run) -> None:
        """Reserve the run's id and store its record before anything is sent."""
        self.runs.add(run)
        try:
            await run.create()
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError):  # the record may have been written
                run.created = run.record is not None
                run.abandon()
            self.runs.release(run, error)
            raise

    async def _background_run(self, run: Run) -> None:
        try:
            await run.run_in_background()
        finally:
            run.abandon()
            self.runs.finish(run)

    def _follow(self, request: Request, run: Run, after: int, extra: Extra) -> EventStream:
        task = asyncio.current_task()
        assert task is not None
        return EventStream(
            run.follow(after),
            [*extra, identity.request_id_header(request)],
            self.settings.sse_keepalive_seconds,
            task.cancel,  # the run goes on without this client
        )

    async def response(self, request: Request) -> JsonReply | EventStream:
        """`GET` or `DELETE /responses/{id}`."""
        if request.method == "DELETE":
            return await self._delete(request)
        return await self._retrieve(request)

    async def _retrieve(self, request: Request) -> JsonReply | EventStream:
        caller = identity.caller(request)
        response_id = request.path_params["id"]
        query = request.query_params
        if query.get("stream") == "true":
            run = self.runs.find(caller, response_id)
            if run is None or not run.background or run.events.frames is None:
                if run is None and await self.store.get(caller, response_id) is None:
                    raise not_found(response_id)
                raise ProtocolError(
                    400,
                    "Only background streamed responses can be streamed again, and only for "
                    f"REPLAY_SECONDS ({self.settings.replay_seconds:g}) after they end.",
                    "stream",
                )
            # However it went (DELETE, retention), a response gone from the store is gone
            # from replays too.
            finished = run.finished_at is not None and run.record is not None
            if finished and await self.store.get(caller, response_id) is None:
                self.runs.forget(caller, response_id)
                raise not_found(response_id)
            after = integer(query.get("starting_after", "-1"), "starting_after", minimum=-1)
            if after + 1 < run.first:
                raise ProtocolError(
                    400,
                    f"Events before {run.first} are no longer kept (REPLAY_MAX_BYTES); "
                    f"set starting_after to {run.first - 1} or later.",
                    "starting_after",
                )
            return self._follow(request, run, after, [])
        run = self.runs.running(caller, response_id)
        if run is not None and run.background:
            return json_reply(request, run.response)
        record = await self.store.get(caller, response_id)
        if record is None:
            raise not_found(response_id)
        return json_reply(request, record.response)

    async def _delete(self, request: Request) -> JsonReply:
        caller = identity.caller(request)
        response_id = request.path_params["id"]
        if self.runs.running(caller, response_id) is not None:
            raise ProtocolError(
                400, "Cannot delete a response that is still in progress.", "response_id"
            )
        deleted = await self.store.delete(caller, response_id)
        self.runs.forget(caller, response_id)
        if not deleted:
            raise not_found(response_id)
        return json_reply(request, {"id": response_id, "object": "response", "deleted": True})

    async def cancel(self, request: Request) -> JsonReply:
        caller = identity.caller(request)
        response_id = request.path_params["id"]
        run = self.runs.running(caller, response_id)
        if run is not None:
            if not run.background:
                raise ProtocolError(400, "Cannot cancel a synchronous response.", "response_id")
            run.stop("cancel")
            if run.task is not None:
                await asyncio.wait([run.task])
            if self.runs.running(caller, response_id) is run:  # cancelled before its task ran
                run.abandon()
                self.runs.finish(run)
            return json_reply(request, run.response)
        record = await self.store.get(caller, response_id)
        if record is None:
            raise not_found(response_id)
        response = record.response
        if not response.get("background"):
            raise ProtocolError(400, "Cannot cancel a synchronous response.", "response_id")
        if response["status"] != "cancelled" and is_finished(response):
            raise ProtocolError(
                400, f"Cannot cancel a {response['status']} response.", "response_id"
            )
        return json_reply(request, response)

    async def input_items(self, request: Request) -> JsonReply:
        caller = identity.caller(request)
        response_id = request.path_params["id"]
        query = page_query(request.query_params)
        run = self.runs.running(caller, response_id)
        if run is not None and run.record is not None and not run.created:
            body = page(run.record.input, query)
        else:
            body = await self.store.input_items(caller, response_id, query)
        if body is None:
            raise not_found(response_id)
        return json_reply(request, body)
