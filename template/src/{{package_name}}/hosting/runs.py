"""Agent runs: drive the agent into a Response, and keep track of the runs in flight.

A run ends exactly once: completed, incomplete (the agent raised `Incomplete`), failed
(an `AgentError`, a crash, or a shutdown that outlived its grace period) or cancelled
(the client went away or asked to cancel). The stored Response is committed before the
terminal event is made, so a client that saw the end of a stored response can always
retrieve it. Runs belong to the Caller that started them: another end user can neither
find, follow nor cancel them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from . import responses, tracing
from .errors import INTERNAL, ProtocolError
from .events import ResponseEvents
from .identity import Caller
from .records import Record, ResponseConflict, StoreFailure
from .sse import frame
from .stepping import WAIT, AgentSteps, close
from .store import Store
from .tool_choice import check_honoured
from .turn import Agent, AgentError, Incomplete, Turn

log = logging.getLogger(__name__)

FLUSH_BYTES = 65536
"""Stream frames are sent once this many bytes are waiting, even if the agent never waits."""
SHUTDOWN = {
    "code": "server_error",
    "message": "The server shut down before this response finished.",
}
"""How a run ended by a shutdown (SIGTERM, SIGINT) fails."""
SLICE_SECONDS = 0.005
"""The longest an agent that never waits runs before the event loop gets a turn."""
SNAPSHOT_SECONDS = 1.0
"""How often a stored response still running has its snapshot updated."""


class Run:
    """One response being made by the agent."""

    def __init__(
        self,
        agent: Agent,
        turn: Turn,
        response: dict[str, Any],
        record: Record | None,
        store: Store,
        stream: bool,
        request_id: str,
        caller: Caller,
    ) -> None:
        self.agent = agent
        self.turn = turn
        self.response = response
        self.record = record
        """What to store, or None for `store: false`."""
        self.store = store
        self.caller = caller
        self.created = False
        """True once the record is in the store (streams and background runs create it first)."""
        self.events = ResponseEvents(response, stream)
        self.request_id = request_id
        self.crashed = False
        """True when the agent failed before anything was sent: no Response exists."""
        self.stop_reason: str | None = None
        self.task: asyncio.Task[Any] | None = None
        self.frames: list[bytes] = []
        """The frames kept for followers and replays of a background stream, from `first` on."""
        self.first = 0
        """The sequence number of `frames[0]`: those before it were dropped to stay in bounds."""
        self.kept_bytes = 0
        self.keep_bytes = 64 << 20
        """Most bytes of frames kept; past it the oldest half goes (REPLAY_MAX_BYTES)."""
        self.finished_at: float | None = None
        self.trace: tracing.ResponseTrace = tracing.NO_TRACE
        self._changed: asyncio.Event | None = None
        self._snapshot_at = 0.0

    @property
    def key(self) -> tuple[str, str]:
        """The run's key among the runs: its user's partition and its response id."""
        return (self.caller.user, self.response["id"])

    @property
    def background(self) -> bool:
        return bool(self.response.get("background"))

    def stop(self, reason: str) -> None:
        """Ask the run to end now ("cancel", "disconnect" or "shutdown")."""
        if self.stop_reason or self.finished_at is not None:
            return
        self.stop_reason = reason
        self.turn.cancelled.set()
        if self.task is not None:
            self.task.cancel()

    async def complete(self) -> None:
        """Run the agent to its end with no stream: the Response is all it makes."""
        outputs = self.agent(self.turn)
        clock = time.perf_counter
        deadline = clock() + SLICE_SECONDS
        try:
            async for output in outputs:
                self.events.add(output)
                self._progress()
                if clock() > deadline:  # an agent that never waits must not hold the loop
                    await asyncio.sleep(0)
                    deadline = clock() + SLICE_SECONDS
            self._close_output()
        except (Exception, asyncio.CancelledError) as error:
            self._ended_by(error)
        finally:
            await close(outputs)
        if not self.crashed:
            await self._end()

    async def steps(self) -> AsyncIterator[list[bytes]]:
        """Stream the run: yield the frames made so far whenever the agent has to wait.

        An agent that never waits is cut into slices: once FLUSH_BYTES are waiting or
        SLICE_SECONDS have passed, the frames go out (the send waits for a slow client)
        and the loop gets a turn, so neither memory nor the loop follow the agent.
        """
        events = self.events
        agent = AgentSteps(self.agent(self.turn))
        clock = time.perf_counter
        deadline = clock() + SLICE_SECONDS
        try:
            while True:
                try:
                    output = agent.next_now()
                    if output is WAIT:
                        frames = events.take()
                        if frames:
                            yield frames
                        self._progress()
                        output = await agent.next_later()
                        deadline = clock() + SLICE_SECONDS
                except StopAsyncIteration:
                    break
                events.add(output)
                if events.pending > FLUSH_BYTES or clock() > deadline:
                    frames = events.take()
                    if frames:
                        yield frames
                    await asyncio.sleep(0)
                    deadline = clock() + SLICE_SECONDS
            self._close_output()
            # The done events of a long text carry all of it: send them before the end
            # (short ones go with the end, in the same write).
            if events.pending > FLUSH_BYTES:
                yield events.take()
        except (Exception, asyncio.CancelledError) as error:
            self._ended_by(error)
            if self.crashed:
                yield [_error_frame()]
                return
        finally:
            # A stream dropped while sending leaves the agent paused: close it, so its
            # `finally` blocks run now rather than whenever it is collected.
            await agent.aclose()
        await self._end()
        yield events.take()

    async def create(self) -> None:
        """Store the record before the first event (streams and background runs)."""
        if self.record is not None:
            await self.store.create(self.caller, self.record)
            self.created = True
            self._snapshot_at = time.monotonic() + SNAPSHOT_SECONDS

    def _progress(self) -> None:
        """Update the stored snapshot of a long run, at most every SNAPSHOT_SECONDS."""
        if self.created and time.monotonic() >= self._snapshot_at:
            assert self.record is not None
            self._snapshot_at = time.monotonic() + SNAPSHOT_SECONDS
            self.store.save_soon(self.caller, self.record)

    def _close_output(self) -> None:
        self.events.close_message()
        check_honoured(self.turn.tool_choice, self.response["output"])

    def _ended_by(self, error: BaseException) -> None:
        """Record how an error ended the run (call it while handling `error`).

        A cancellation nobody asked for through `stop` is not the run's: it is re-raised.
        """
        events = self.events
        response = self.response
        if isinstance(error, Incomplete):
            events.close_message("incomplete")
            responses.end_incomplete(response, error.reason)
        elif isinstance(error, AgentError):
            events.close_message("incomplete")
            responses.fail(response, error.code, error.message)
        elif isinstance(error, asyncio.CancelledError):
            if self.stop_reason is None:
                raise error
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            if self.stop_reason == "shutdown":
                events.close_message("incomplete")
                responses.fail(response, SHUTDOWN["code"], SHUTDOWN["message"])
            else:
                responses.cancel(response)
        else:
            log.exception("agent failed (request %s, response %s)", self.request_id, response["id"])
            if not events.started:
                self.crashed = True
                return
            events.close_message("incomplete")
            responses.fail(response, "server_error", INTERNAL)

    async def _end(self) -> None:
        """Complete the Response unless something ended it; store it; then its terminal event.

        A response that was never stored before (not streamed) is created now: a
        ResponseConflict or StoreFailure then goes to the caller, which answers with an
        error instead of a Response nobody could retrieve.
        """
        if self.response["status"] == "in_progress":
            responses.complete(self.response)
        if not self.events.started:
            self.events.start()
        if self.record is not None:
            try:
                await self._store()
            except (ResponseConflict, StoreFailure) as error:
                if not self.created:
                    raise
                self._unsaved(error)
            except Exception:  # output that JSON cannot hold
                log.exception(
                    "could not store response %s (request %s)", self.response["id"], self.request_id
                )
                self._failed("server_error", INTERNAL)
                await self._store()
        self.events.terminal()

    async def _store(self) -> None:
        assert self.record is not None
        if self.created:
            await self.store.save(self.caller, self.record)
        else:
            await self.store.create(self.caller, self.record)
            self.created = True

    def _unsaved(self, error: Exception) -> None:
        """The final snapshot could not be stored: store the response as failed, if it can be.

        A StoreFailure is the store's to log (once, not once per response).
        """
        if isinstance(error, StoreFailure):
            log.info("response %s ended failed: %s", self.response["id"], error.code)
        else:
            log.error("response %s: %s", self.response["id"], error)
        code = error.code if isinstance(error, StoreFailure) else "server_error"
        self._failed(code, str(error))
        assert self.record is not None
        self.store.save_soon(self.caller, self.record)

    def _failed(self, code: str, message: str) -> None:
        """Fail the response without its output, which may be what could not be written."""
        responses.fail(self.response, code, message)
        self.response.update(completed_at=None, output=[])

    def abandon(self) -> None:
        """End a run that stopped before its terminal event.

        That is a dropped stream, or a background task cancelled before it ever ran.
        """
        if responses.is_finished(self.response):
            return
        if self.crashed:
            responses.fail(self.response, "server_error", INTERNAL)
        elif self.stop_reason == "shutdown":
            responses.fail(self.response, SHUTDOWN["code"], SHUTDOWN["message"])
        else:
            responses.cancel(self.response)
        if self.created:
            assert self.record is not None
            self.store.save_soon(self.caller, self.record)

    async def run_in_background(self) -> None:
        """Drive the run to its end, keeping every frame for streams and replays."""
        self.events.in_progress()
        self.publish(self.events.take())
        if self.events.frames is None:
            await self.complete()
            return
        async for frames in self.steps():
            self.publish(frames)

    def publish(self, frames: list[bytes]) -> None:
        """Add frames for followers of a background stream, and wake them."""
        self.frames += frames
        self.kept_bytes += sum(map(len, frames))
        if self.kept_bytes > self.keep_bytes:
            self._trim()
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _trim(self) -> None:
        """Drop the oldest frames until half of `keep_bytes` is left (the last one stays)."""
        drop = freed = 0
        while self.kept_bytes - freed > self.keep_bytes // 2 and drop < len(self.frames) - 1:
            freed += len(self.frames[drop])
            drop += 1
        del self.frames[:drop]
        self.first += drop
        self.kept_bytes -= freed

    async def follow(self, after: int) -> AsyncIterator[bytes]:
        """The frames after sequence number `after`, then new ones until the run ends.

        A follower that falls so far behind that the frames it needs were dropped ends here.
        """
        sent = max(after + 1, 0)
        while True:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            if sent < self.first:
                return
            if sent - self.first < len(self.frames):
                chunk, size = [], 0
                while sent - self.first < len(self.frames) and size < FLUSH_BYTES:
                    chunk.append(self.frames[sent - self.first])
                    size += len(chunk[-1])
                    sent += 1
                yield b"".join(chunk)
            elif self.finished_at is not None:
                return
            else:
                await changed.wait()


class Runs:
    """The runs in flight, plus finished background streams that can still be replayed.

    Both are keyed by the run's user and response id: a run exists only for its own user.
    """

    def __init__(self, replay_seconds: float = 600.0, replay_max_bytes: int = 64 << 20) -> None:
        self.active: dict[tuple[str, str], Run] = {}
        self.replays: dict[tuple[str, str], Run] = {}
        """Finished background streams, oldest first, with their frames."""
        self.replay_seconds = replay_seconds
        self.replay_max_bytes = replay_max_bytes
        self.replay_bytes = 0
        self.accepting = True
        self._idle = asyncio.Event()
        self._sizes: dict[tuple[str, str], int] = {}

    def add(self, run: Run) -> None:
        """Track a run; 409 when its user has a run or replay with that id already."""
        key = run.key
        if key in self.active or key in self.replays:
            error = conflict(key[1])
            run.trace.end(_failed(run.response, "response_id_conflict", error.message))
            raise error
        run.keep_bytes = self.replay_max_bytes
        self.active[key] = run

    def finish(self, run: Run) -> None:
        """Forget a run that ended; keep background streams for replay a while."""
        if run.finished_at is not None:
            return
        run.finished_at = time.monotonic()
        run.trace.end(run.response)
        self.active.pop(run.key, None)
        if run.background and run.events.frames is not None:
            self._keep_replay(run)
        if not self.active:
            self._idle.set()
        run.publish([])

    def refused(self, run: Run, error: BaseException) -> None:
        """End the run's trace as failed: `error` kept its response from being stored."""
        if isinstance(error, ResponseConflict):
            code = "response_id_conflict"
        else:
            code = getattr(error, "code", None) or "server_error"  # a StoreFailure's own
        run.trace.end(_failed(run.response, code, str(error)))

    def release(self, run: Run, error: BaseException) -> None:
        """Forget a run that never started: `error` kept its record from being stored."""
        self.refused(run, error)
        if self.active.get(run.key) is run:
            del self.active[run.key]
        if not self.active:
            self._idle.set()

    def running(self, caller: Caller, response_id: str) -> Run | None:
        """The caller's run in flight with this id."""
        return self.active.get((caller.user, response_id))

    def find(self, caller: Caller, response_id: str) -> Run | None:
        """The caller's run in flight or replayable with this id."""
        key = (caller.user, response_id)
        return self.active.get(key) or self.replays.get(key)

    def forget(self, caller: Caller, response_id: str) -> None:
        """Drop a deleted response's replay."""
        self._drop((caller.user, response_id))

    def _keep_replay(self, run: Run) -> None:
        """Keep a finished background stream for `replay_seconds`, within the byte bound.

        The oldest replays go first when the bound is reached; a stream larger than the
        bound is not kept at all.
        """
        size = run.kept_bytes
        if run.first or size > self.replay_max_bytes or self.replay_seconds <= 0:
            return  # the start of the stream was dropped: nothing to replay from
        self.replays[run.key] = run
        self._sizes[run.key] = size
        self.replay_bytes += size
        while self.replay_bytes > self.replay_max_bytes:
            self._drop(next(iter(self.replays)))
        loop = asyncio.get_running_loop()
        loop.call_later(self.replay_seconds, self._expire, run)

    def _expire(self, run: Run) -> None:
        if self.replays.get(run.key) is run:
            self._drop(run.key)

    def _drop(self, key: tuple[str, str]) -> None:
        run = self.replays.pop(key, None)
        if run is not None:
            self.replay_bytes -= self._sizes.pop(key)

    def stop_all(self) -> None:
        """Refuse new runs and stop every active one as a shutdown."""
        self.accepting = False
        for run in list(self.active.values()):
            run.stop("shutdown")

    async def drain(self, grace: float) -> None:
        """Refuse new runs; give active ones `grace` seconds, then stop them."""
        self.accepting = False
        self._idle.clear()
        if self.active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        for run in list(self.active.values()):
            log.warning("stopping response %s: shutdown grace period is over", run.response["id"])
            run.stop("shutdown")
        if self.active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 5)
        for run in list(self.active.values()):  # stopped before they ever started
            run.abandon()
            self.finish(run)


def _failed(response: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    """The response as its trace ends when it fails before its run starts."""
    return {**response, "status": "failed", "error": {"code": code, "message": message}}


def conflict(response_id: str) -> ProtocolError:
    """The 409 for a response id this user already has."""
    return ProtocolError(
        409,
        f"A response with id '{response_id}' already exists.",
        "response_id",
        "response_id_conflict",
        type="conflict",
    )


def _error_frame() -> bytes:
    """The lone `error` event for a stream that failed before `response.created`."""
    error = {"type": "error", "message": INTERNAL, "code": "server_error", "param": None}
    return frame({**error, "sequence_number": 0})
