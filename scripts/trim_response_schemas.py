"""Write the generated project's test schemas from the published Responses API specifications.

    python scripts/trim_response_schemas.py OPENAI_OPENAPI_JSON OPENRESPONSES_OPENAPI_JSON

The two inputs are `openapi.json` of openai/openai-openapi and `public/openapi/openapi.json` of
openresponses/openresponses. Each output keeps only the component schemas that the Response,
the create request and the stream events reach, without the prose (descriptions, examples,
titles, `x-` extensions): a few hundred kilobytes instead of megabytes, the same constraints.
Record the commits and dates read in template/tests/schemas/README.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "template" / "tests" / "schemas"
PROSE = {"description", "example", "examples", "title", "deprecated"}
REF = "#/components/schemas/"


def main(openai_spec: str, openresponses_spec: str) -> None:
    openai = json.loads(Path(openai_spec).read_text(encoding="utf-8"))
    roots = ["Response", "CreateResponse", "ResponseStreamEvent", "ErrorResponse"]
    write(OUT / "openai.json", openai, roots, "Response", "CreateResponse", "ResponseStreamEvent")
    open_responses = json.loads(Path(openresponses_spec).read_text(encoding="utf-8"))
    stream = open_responses["paths"]["/responses"]["post"]["responses"]["200"]["content"]
    events = stream["text/event-stream"]["schema"]["oneOf"]
    open_responses["components"]["schemas"]["StreamingEvent"] = {"oneOf": events}
    roots = ["ResponseResource", "CreateResponseBody", "StreamingEvent"]
    write(OUT / "openresponses.json", open_responses, roots, *roots)


def write(path: Path, spec: dict[str, Any], roots: list[str], response: str, request: str, event: str) -> None:
    schemas = spec["components"]["schemas"]
    kept = {name: strip(schemas[name]) for name in sorted(reached(schemas, roots))}
    document = {
        "info": spec["info"],
        "roots": {"response": response, "request": request, "event": event},
        "components": {"schemas": kept},
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{path}: {len(kept)} schemas, {path.stat().st_size} bytes")


def reached(schemas: dict[str, Any], roots: list[str]) -> set[str]:
    """The names of the schemas `roots` refer to, directly or not."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += refs(schemas[name])
    return seen


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        found = [ref[len(REF) :]] if isinstance(ref, str) and ref.startswith(REF) else []
        return found + [name for item in value.values() for name in refs(item)]
    if isinstance(value, list):
        return [name for item in value for name in refs(item)]
    return []


def strip(value: Any, in_properties: bool = False) -> Any:
    """The schema without prose; a property that happens to be named `description` stays."""
    if isinstance(value, dict):
        return {
            key: strip(item, key == "properties" and not in_properties)
            for key, item in value.items()
            if in_properties or not (key in PROSE or key.startswith("x-"))
        }
    if isinstance(value, list):
        return [strip(item) for item in value]
    return value


if __name__ == "__main__":
    main(*sys.argv[1:])
