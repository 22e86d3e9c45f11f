"""Turn what an agent yields into output items and, when streaming, protocol events.

`ResponseEvents` owns the Response's `output` and the stream's sequence numbers. Each
event is framed as SSE at once (the Response is snapshotted when the event is made),
and `take()` hands over the frames made since the last call.
"""

from __future__ import annotations

from typing import Any

from .codec import encode
from .items import new_id, text_part
from .sse import frame
from .turn import FunctionCall, FunctionCallOutput, Output, Reasoning, Usage

_DELTA_HEAD = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","item_id":"%s","output_index":%d,'
    b'"content_index":0,"delta":'
)
_DELTA_TAIL = b',"logprobs":[],"sequence_number":'


TEXT_PIECES = 4096
"""Pieces of a message's text kept apart before they are joined (each costs ~50 bytes)."""


class ResponseEvents:
    """The output of one response, built item by item."""

    def __init__(self, response: dict[str, Any], stream: bool) -> None:
        self.response = response
        self.output: list[dict[str, Any]] = response["output"]
        self.sequence = 0
        self.frames: list[bytes] | None = [] if stream else None
        self.pending = 0
        """Bytes in `frames`, so a stream can be flushed before it grows large."""
        self.started = False
        self._message: dict[str, Any] | None = None
        self._text: list[str] = []
        self._blocks: list[str] = []
        """The message's text so far, TEXT_PIECES pieces joined at a time."""
        self._delta_head = b""

    def take(self) -> list[bytes]:
        """The frames made since the last call."""
        frames = self.frames
        if not frames:
            return []
        self.frames = []
        self.pending = 0
        return frames

    def start(self) -> None:
        """`response.created` then `response.in_progress` (or `queued` in the background)."""
        self.started = True
        self._emit("response.created", response=self.response)
        if self.response["status"] == "in_progress":
            self._emit("response.in_progress", response=self.response)
        else:
            self._emit("response.queued", response=self.response)

    def in_progress(self) -> None:
        """A queued (background) response starts running."""
        self.response["status"] = "in_progress"
        self._emit("response.in_progress", response=self.response)

    def add(self, output: Output) -> None:
        """Map one thing the agent yielded to items and events."""
        if not self.started:
            self.start()
        if isinstance(output, str):  # the hot path: inline, and no events unless streaming
            if output:
                if self._message is None:
                    self._open_message()
                text = self._text
                text.append(output)
                if len(text) == TEXT_PIECES:  # a long text: a few strings, not many small ones
                    self._blocks.append("".join(text))
                    text.clear()
                if self.frames is not None:
                    self._emit_delta(output)
            return
        if isinstance(output, Usage):
            self._add_usage(output)
            return
        self.close_message()
        if isinstance(output, FunctionCall):
            self._add_function_call(output)
        elif isinstance(output, FunctionCallOutput):
            item = {"type": "function_call_output", "call_id": output.call_id}
            self._add_whole(
                {"id": new_id("fco"), **item, "output": output.output, "status": "completed"}
            )
        elif isinstance(output, Reasoning):
            self._add_reasoning(output)
        elif isinstance(output, dict) and isinstance(output.get("type"), str):
            self._add_whole(output if "id" in output else {"id": new_id("item"), **output})
        else:
            raise TypeError(f"an agent yielded {type(output).__name__}, which is not an Output")

    def close_message(self, status: str = "completed") -> None:
        """Finish the open message item, if any: its done events, then into `output`.

        A message cut short by a failure ends `incomplete`, so every item the stream
        announced is also done and listed in the final Response.
        """
        item = self._message
        if item is None:
            return
        self._message = None
        text = "".join(self._blocks) + "".join(self._text)
        if self.frames is not None:  # no events to make for a response that is not streamed
            where = {"item_id": item["id"], "output_index": len(self.output), "content_index": 0}
            self._emit("response.output_text.done", **where, text=text, logprobs=[])
            self._emit("response.content_part.done", **where, part=text_part(text))
        done = {**item, "status": status, "content": [text_part(text)]}
        self._done(done)

    def terminal(self) -> None:
        """The one terminal event for the Response's final status; it is always last."""
        status = self.response["status"]
        kind = {"completed": "response.completed", "incomplete": "response.incomplete"}
        self._emit(kind.get(status, "response.failed"), response=self.response)

    def _open_message(self) -> None:
        index = len(self.output)
        item = self._message = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._text = []
        self._blocks = []
        if self.frames is not None:
            self._delta_head = _DELTA_HEAD % (item["id"].encode(), index)
        self._emit("response.output_item.added", output_index=index, item=item)
        self._emit(
            "response.content_part.added",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=text_part(""),
        )

    def _emit_delta(self, text: str) -> None:
        """A text delta's frame, from bytes made once per message (the stream's hot path).

        The same bytes `frame` makes for the event dict, in the same key order.
        """
        data = b"%s%s%s%d}\n\n" % (self._delta_head, encode(text), _DELTA_TAIL, self.sequence)
        self.sequence += 1
        self.pending += len(data)
        self.frames.append(data)  # type: ignore[union-attr]

    def _add_function_call(self, call: FunctionCall) -> None:
        index = len(self.output)
        item = {
            "id": new_id("fc"),
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": "",
            "status": "in_progress",
        }
        where = {"item_id": item["id"], "output_index": index}
        self._emit("response.output_item.added", output_index=index, item=item)
        self._emit("response.function_call_arguments.delta", **where, delta=call.arguments)
        self._emit(
            "response.function_call_arguments.done",
            **where,
            name=call.name,
            arguments=call.arguments,
        )
        self._done({**item, "arguments": call.arguments, "status": "completed"})

    def _add_reasoning(self, reasoning: Reasoning) -> None:
        index = len(self.output)
        summary = reasoning.summary
        item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
        if reasoning.encrypted_content is not None:
            item["encrypted_content"] = reasoning.encrypted_content
        where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        part = {"type": "summary_text", "text": summary}
        self._emit("response.output_item.added", output_index=index, item=item)
        self._emit("response.reasoning_summary_part.added", **where, part={**part, "text": ""})
        self._emit("response.reasoning_summary_text.delta", **where, delta=summary)
        self._emit("response.reasoning_summary_text.done", **where, text=summary)
        self._emit("response.reasoning_summary_part.done", **where, part=part)
        self._done({**item, "summary": [part]})

    def _add_usage(self, usage: Usage) -> None:
        """Add a model call's tokens to the Response's `usage` (no event of its own)."""
        total = self.response.get("usage") or {
            "input_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        }
        total["input_tokens"] += usage.input_tokens
        total["input_tokens_details"]["cached_tokens"] += usage.cached_tokens
        total["input_tokens_details"]["cache_write_tokens"] += usage.cache_write_tokens
        total["output_tokens"] += usage.output_tokens
        total["output_tokens_details"]["reasoning_tokens"] += usage.reasoning_tokens
        total["total_tokens"] = total["input_tokens"] + total["output_tokens"]
        self.response["usage"] = total

    def _add_whole(self, item: dict[str, Any]) -> None:
        index = len(self.output)
        self._emit("response.output_item.added", output_index=index, item=item)
        self._done(item)

    def _done(self, item: dict[str, Any]) -> None:
        self._emit("response.output_item.done", output_index=len(self.output), item=item)
        self.output.append(item)

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.frames is None:
            return
        event = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        data = frame(event)
        self.pending += len(data)
        self.frames.append(data)
