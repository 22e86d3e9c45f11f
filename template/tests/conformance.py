"""What strict clients check: Responses, stream events and errors against the published schemas.

The schemas are OpenAI's OpenAPI specification and the Open Responses specification, trimmed to
the parts this server answers with (see schemas/README.md for their sources). `problems()`
lists every way a body breaks either; the assertions fail a test with that list.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parent / "schemas"
SPECS = ("openai", "openresponses")


AGENT_CODES = (
    "model_not_configured", "bad_setting", "model_auth_failed", "model_deployment_not_found",
    "model_request_rejected", "model_incomplete", "tool_import_failed", "tool_not_defined",
    "tool_rounds_exhausted", "tool_choice_not_honored",
)  # fmt: skip
"""The error codes of this project's own, for failures no OpenAI `ResponseError` code fits;
the README lists them in one table."""


@cache
def schema_document(spec: str) -> dict[str, Any]:
    document = json.loads((SCHEMAS / f"{spec}.json").read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    if spec == "openai":
        # Errata, each where the spec contradicts the service it describes:
        # - `usage` is null until a response has used tokens: OpenAI's own examples of
        #   `response.created` in this spec carry `"usage": null`, as the live API does;
        # - a JSON schema format without a description shows `"description": null`, as
        #   openai-python types it (Open Responses requires the key; this spec, a string);
        # - a failure no OpenAI code fits carries one of the project's documented codes.
        response = schemas["Response"]["allOf"][2]["properties"]
        response["usage"] = {"anyOf": [response["usage"], {"type": "null"}]}
        form = schemas["TextResponseFormatJsonSchema"]["properties"]
        form["description"] = {"anyOf": [form["description"], {"type": "null"}]}
        schemas["ResponseErrorCode"]["enum"] += list(AGENT_CODES)
    else:
        # Erratum: the spec lets a JSON schema format's `schema` be null only (a generator
        # slip: its own request schema takes an object), so no structured output validates.
        form = schemas["JsonSchemaResponseFormat"]["properties"]
        form["schema"] = {"anyOf": [{"type": "object"}, {"type": "null"}]}
    return document


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
    errors = list(_validator("openai", "ErrorResponse").iter_errors(body))
    assert not errors, [error.message for error in errors]
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
