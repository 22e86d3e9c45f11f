"""Step through an agent's outputs, knowing when it has to wait.

Agents often yield several outputs in a row without waiting for anything (a model
chunk split into words, the offline agent). Writing each event to the socket on its
own costs a system call per event. `AgentSteps` drives the agent's async iterator by
hand so the caller learns when the next output is *not* ready yet: that is the moment
to flush what has been made. Nothing is held back: while the agent ran without
waiting, nothing else could have run on this thread to send it anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any

from .turn import Output

WAIT = object()
"""`next_now()`'s answer when the agent is waiting: flush, then `await next_later()`."""


class AgentSteps:
    """An agent's outputs, taken now when ready, later when the agent waits."""

    def __init__(self, outputs: AsyncIterator[Output]) -> None:
        self.outputs = outputs
        self._step: Coroutine[Any, Any, Output] | None = None
        self._waiting: Any = None

    def next_now(self) -> Any:
        """The next output if it is ready at once, else WAIT; StopAsyncIteration at the end."""
        step: Any = self.outputs.__anext__()
        try:
            waiting = step.send(None)
        except StopIteration as done:
            return done.value
        self._step, self._waiting = step, waiting
        return WAIT

    async def next_later(self) -> Output:
        """Finish the step that had to wait."""
        assert self._step is not None
        try:
            return await _Resume(self._step, self._waiting)
        finally:
            self._step = None

    async def aclose(self) -> None:
        """Stop the agent where it is, so its `finally` blocks run now."""
        if self._step is not None:
            self._step.close()
            self._step = None
        await close(self.outputs)


async def close(outputs: AsyncIterator[Output]) -> None:
    """Close an agent's outputs when they can be (async generators can): its `finally` runs now."""
    aclose = getattr(outputs, "aclose", None)
    if aclose is not None:
        await aclose()


class _Resume:
    """Await the rest of a step that was started by hand and is now waiting."""

    def __init__(self, step: Coroutine[Any, Any, Output], waiting: Any) -> None:
        self.step = step
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, Output]:
        step, waiting = self.step, self.waiting
        while True:
            # Pass what the agent waits on up to the task, and the outcome back down;
            # a cancellation thrown at us is thrown into the agent.
            try:
                sent = yield waiting
            except BaseException as error:
                try:
                    waiting = step.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = step.send(sent)
                except StopIteration as done:
                    return done.value
