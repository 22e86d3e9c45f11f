"""The generated azure.yaml is valid against azd's own JSON schemas, checked offline.

azd's schemas come from the shared reference beside this checkout
(../shared/reference/azd-schemas, see its SOURCE.md); the root schema refers to the
azure.ai.agent one by URL, so each is registered under its URL and nothing is fetched.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import render
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "azd-schemas"
BASE = "https://raw.githubusercontent.com/Azure/azure-dev/main/cli/azd/extensions/azure.ai.agents/schemas/"
ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "everything": {
        "acr_name": "myregistry01",
        "code_interpreter": True,
        "file_search_vector_store_ids": "vs_abc",
        "mcp_servers": {"docs": "https://learn.microsoft.com/api/mcp"},
        "function_tools": {"get_weather": "Current weather for a city"},
        "environment_variables": {"LOG_LEVEL": "info", "FEATURE_X": True},
        "resources": "2/4Gi",
    },
}


def offline(uri: str) -> Resource:
    raise NoSuchResource(ref=f"{uri} (not in ../shared/reference/azd-schemas; nothing is fetched)")


def validator() -> jsonschema.protocols.Validator:
    root = json.loads((SCHEMAS / "azure.yaml.json").read_text())
    resources = [(root["$id"], Resource.from_contents(root))]
    for name in ("azure.ai.agent.json", "microsoft.foundry.json", "Agent.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        resources.append((BASE + name, Resource.from_contents(schema, default_specification=DRAFT7)))
    registry = Registry(retrieve=offline).with_resources(resources)
    cls = jsonschema.validators.validator_for(root)
    cls.check_schema(root)
    return cls(root, registry=registry)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("azd")
    projects = {name: render(base / name, answers) for name, answers in ANSWERS.items()}
    for project in projects.values():
        assert not (project / "agent.yaml").exists()  # azd warns about a standalone one
    return {name: yaml.safe_load((p / "azure.yaml").read_text()) for name, p in projects.items()}


@pytest.mark.parametrize("name", ANSWERS)
def test_generated_azure_yaml_is_valid_for_azd(rendered: dict[str, dict[str, Any]], name: str) -> None:
    errors = [error.message for error in validator().iter_errors(rendered[name])]
    assert errors == []


@pytest.mark.parametrize("name", ANSWERS)
def test_agent_settings_sit_on_the_service_not_in_deprecated_config(
    rendered: dict[str, dict[str, Any]], name: str
) -> None:
    [service] = rendered[name]["services"].values()
    assert service["host"] == "azure.ai.agent" and service["kind"] == "hosted"
    assert "config" not in service  # azd marks the config: block deprecated
    assert service["protocols"] == [{"protocol": "responses", "version": "2.0.0"}]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("container", "resources", "cpu"), "lots"),
        (("protocols",), [{"version": "2.0.0"}]),
        (("env", "LOG_LEVEL"), 5),
        (("docker", "remoteBuild"), "yes"),
    ],
)
def test_the_schemas_do_catch_a_bad_service(rendered: dict[str, dict[str, Any]], path: tuple, value: Any) -> None:
    """The agent schema is really applied: a service azd would reject fails here too."""
    data = copy.deepcopy(rendered["defaults"])
    [service] = data["services"].values()
    *parents, last = path
    for key in parents:
        service = service[key]
    service[last] = value
    assert list(validator().iter_errors(data))
