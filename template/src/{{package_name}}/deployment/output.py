"""What the command line prints: summaries, tables, JSON and the live progress line."""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any, TextIO


def _image(definition: Any) -> str:
    container = (definition or {}).get("container_configuration") or {}
    return str(container.get("image") or "")


def _code(definition: Any) -> str:
    """A code version's runtime and the hash of its zip (which the service records)."""
    code = (definition or {}).get("code_configuration") or {}
    if not code:
        return ""
    digest = code.get("content_hash")
    return f"{code.get('runtime')}" + (f" sha256:{digest[:12]}" if digest else "")


def summary(details: Any) -> dict[str, Any]:
    """The fields of an AgentVersionDetails worth printing, as plain JSON values."""
    created = details.get("created_at")
    if isinstance(created, datetime.datetime):
        created = created.astimezone(datetime.UTC).isoformat(timespec="seconds")
    elif isinstance(created, int | float):
        created = datetime.datetime.fromtimestamp(created, datetime.UTC).isoformat(
            timespec="seconds"
        )
    identity = details.get("instance_identity") or {}
    return {
        "name": details.get("name"),
        "version": details.get("version"),
        "status": details.get("status"),
        "image": _image(details.get("definition")),
        "code": _code(details.get("definition")),
        "created_at": created,
        "principal_id": identity.get("principal_id"),
    }


def emit_json(value: Any, stream: TextIO | None = None) -> None:
    """One JSON document on stdout."""
    print(json.dumps(value, indent=2, default=str), file=stream or sys.stdout)


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain aligned text table."""
    cells = [[str(row.get(column) or "-") for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def fields(record: dict[str, Any]) -> str:
    """One `name  value` line per field, names aligned."""
    width = max(map(len, record))
    return "\n".join(
        f"{key:<{width}}  {'-' if value in (None, '') else value}" for key, value in record.items()
    )


class LiveStatus:
    """Shows a version's status and elapsed time: one rewritten line on a terminal,
    one line per change otherwise (CI logs)."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = ""

    def __call__(self, version: str, status: str, elapsed: float) -> None:
        text = f"{self.name} version {version}: {status} ({elapsed:.0f}s)"
        if self.live:
            self.stream.write(f"\r{text:<60}")
            self.stream.flush()
        elif status != self.last:
            print(text, file=self.stream, flush=True)
        self.last = status

    def done(self) -> None:
        """End the live line so the next output starts on its own line."""
        if self.live and self.last:
            self.stream.write("\n")
            self.stream.flush()
