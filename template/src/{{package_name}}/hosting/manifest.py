"""The agent manifest (azure.yaml): what the agent is, its tools and its environment.

Template-owned. azure.yaml is the azd project file: one service with
`host: azure.ai.agent` holds every agent setting, so `azd deploy`, the server and
deploy.py read the same values. It is written from the Copier answers; the rules
here are the ones Copier's validators apply to the answers (validators.jinja in the
template repository). This module needs only the standard library and PyYAML:
Copier's hook and migrations import it.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MANIFEST_FILE = "azure.yaml"
AGENT_HOST = "azure.ai.agent"
SCHEMA = "https://raw.githubusercontent.com/Azure/azure-dev/main/schemas/v1.0/azure.yaml.json"
# The model deployment travels as this variable (azd sets `env` on the version).
MODEL_VARIABLE = "MODEL_DEPLOYMENT_NAME"
ACR_SUFFIX = ".azurecr.io"
RESOURCE_PAIRS: tuple[tuple[str, str], ...] = (("0.5", "1Gi"), ("1", "2Gi"), ("2", "4Gi"))
PROTOCOL_VERSIONS = ("1.0.0", "2.0.0")
# What new projects declare: the platform blocks 1.0.0 since 2026-07-31 (deploy.py refuses it).
PROTOCOL_VERSION = "2.0.0"
TOOL_TYPES = ("code_interpreter", "file_search", "mcp", "function")
# Names the platform or this template sets, with the reason a refusal gives.
RESERVED_PREFIXES = ("FOUNDRY_", "AGENT_")
RESERVED_ENV = {
    "PORT": "the platform sets it; declaring it breaks readiness",
    "HOME": "the platform sets it to /home/session",
    "SSE_KEEPALIVE_INTERVAL": "the platform sets it",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the platform sets it",
    "MODEL_DEPLOYMENT_NAME": "the model_deployment answer sets it",
}
AGENT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
FUNCTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
SERVER_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
VECTOR_STORE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HTTPS_URL = re.compile(r"^https://[^\s/?#@]+\S*$")
LOCAL_HTTP_URL = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?(/\S*)?$")
# A secret-named variable: its last word (trailing numbers aside) names a secret.
SECRET_WORDS = frozenset(
    {
        *("KEY", "SECRET", "PASSWORD", "PASSWD", "PWD", "TOKEN", "CREDENTIAL", "CREDENTIALS"),
        *("SAS", "APIKEY", "ACCESSKEY", "SECRETKEY", "PRIVATEKEY", "ACCESSTOKEN"),
    }
)
# The platform resolves these when the sandbox starts: how a secret reaches a variable.
PLACEHOLDER = re.compile(
    r"\$\{\{connections\.[A-Za-z0-9_-]+\."
    r"(credentials\.[A-Za-z0-9_-]+|target|metadata\.[A-Za-z0-9_-]+)\}\}"
)
SECRET_FORM = "${{connections.<name>.credentials.<field>}}"
SECRET_VALUES = (
    re.compile(
        r"(?i)(accountkey|sharedaccesskey|sharedaccesssignature|password|pwd"
        r"|instrumentationkey|clientsecret)\s*=\s*[^\s;]"
    ),
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"-----BEGIN "),
    re.compile(r"^(sk|pk|rk)-[A-Za-z0-9_-]{16,}$"),
    re.compile(r"^gh[pousr]_[A-Za-z0-9]{20,}$"),
    re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    re.compile(r"^[A-Fa-f0-9]{32,}$"),
)
OPAQUE_TOKEN = re.compile(r"^[A-Za-z0-9+/_-]{32,}={0,2}$")


class ManifestError(ValueError):
    """A manifest or answer that breaks a rule; the message is one line with the fix."""


@dataclass(frozen=True)
class Manifest:
    """The agent service of azure.yaml, parsed and checked."""

    name: str
    description: str
    model_deployment: str
    protocol_version: str
    cpu: str
    memory: str
    acr_name: str
    image_repository: str
    environment_variables: dict[str, str] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def function_tools(self) -> list[dict[str, Any]]:
        """Tools implemented in this project's tools/ folder."""
        return [tool for tool in self.tools if tool["type"] == "function"]

    @property
    def hosted_tools(self) -> list[dict[str, Any]]:
        """Tools Foundry runs for the model (code interpreter, file search, MCP)."""
        return [tool for tool in self.tools if tool["type"] != "function"]


def check_agent_name(name: Any) -> str:
    """Return the name if Foundry accepts it."""
    if not (isinstance(name, str) and AGENT_NAME.match(name)):
        raise ManifestError(
            f"agent_name '{name}': use 1-63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit (e.g. my-agent)"
        )
    return name


def check_resources(cpu: Any, memory: Any) -> tuple[str, str]:
    """Return the (cpu, memory) pair if it is one the platform accepts."""
    pair = (str(cpu), str(memory))
    if pair not in RESOURCE_PAIRS:
        allowed = ", ".join(f"{c}/{m}" for c, m in RESOURCE_PAIRS)
        raise ManifestError(f"resources '{pair[0]}/{pair[1]}': use one of {allowed}")
    return pair


def _url_error(where: str, url: Any) -> str | None:
    if isinstance(url, str) and (HTTPS_URL.match(url) or LOCAL_HTTP_URL.match(url)):
        return None
    return f"{where}: server_url '{url}' must be an https:// URL (http:// only for localhost)"


def _function_name_error(where: str, name: Any) -> str | None:
    if (
        isinstance(name, str)
        and FUNCTION_NAME.match(name)
        and not keyword.iskeyword(name)
        and name != "__init__"
    ):
        return None
    return (
        f"{where}: function name '{name}' must be a Python module name: lowercase letters, "
        "digits and '_', not starting with a digit (e.g. get_weather)"
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _check_tool(where: str, tool: Any) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or tool.get("type") not in TOOL_TYPES:
        raise ManifestError(f"{where}: each tool needs a type, one of {', '.join(TOOL_TYPES)}")
    kind = tool["type"]
    if kind == "file_search":
        ids = tool.get("vector_store_ids")
        if not (_is_list(ids) and ids):
            raise ManifestError(
                f"{where}: file_search needs vector_store_ids, a non-empty list (e.g. [vs_abc123])"
            )
        check_vector_store_ids(ids)
    elif kind == "mcp":
        label = tool.get("server_label")
        if not (isinstance(label, str) and SERVER_LABEL.match(label)):
            raise ManifestError(
                f"{where}: server_label '{label}' must be 1-64 letters, digits, '_' or '-', "
                "starting with a letter"
            )
        error = _url_error(where, tool.get("server_url"))
        if error:
            raise ManifestError(error)
        approval = tool.get("require_approval", "never")
        if approval not in ("always", "never") and not (
            isinstance(approval, Mapping) and set(approval) <= {"always", "never"}
        ):
            raise ManifestError(
                f"{where}: require_approval must be always, never, or a mapping of always/never"
            )
        allowed = tool.get("allowed_tools")
        if allowed is not None and not (
            _is_list(allowed) and all(isinstance(name, str) for name in allowed)
        ):
            raise ManifestError(f"{where}: allowed_tools must be a list of tool names")
    elif kind == "function":
        error = _function_name_error(where, tool.get("name"))
        if error:
            raise ManifestError(error)
        if tool.get("description") is not None and not isinstance(tool["description"], str):
            raise ManifestError(f"{where}: the description must be a line of text")
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], Mapping):
            raise ManifestError(f"{where}: parameters must be a JSON schema object")
    return dict(tool)


def check_vector_store_ids(ids: list[Any]) -> list[str]:
    """Return the ids if each is well formed and listed once."""
    seen: list[str] = []
    for vector_store_id in ids:
        if not (isinstance(vector_store_id, str) and VECTOR_STORE_ID.match(vector_store_id)):
            raise ManifestError(
                f"file search vector store id '{vector_store_id}': use letters, digits, "
                "'_' and '-' (e.g. vs_abc123)"
            )
        if vector_store_id in seen:
            raise ManifestError(
                f"file search vector store id '{vector_store_id}' is listed twice; list it once"
            )
        seen.append(vector_store_id)
    return seen


def check_tools(tools: Any) -> list[dict[str, Any]]:
    """Return the tool list if every tool is valid and none is listed twice."""
    if not _is_list(tools):
        raise ManifestError("tools: give a YAML list of tool objects, or [] for none")
    checked: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        tool = _check_tool(where, tool)
        kind = tool["type"]
        if kind in ("code_interpreter", "file_search"):
            key: tuple[str, str] = (kind, "")
            fix = (
                "list it once"
                if kind == "code_interpreter"
                else "put all vector_store_ids in one entry"
            )
            message = f"{where}: {kind} is listed twice; {fix}"
        elif kind == "mcp":
            key = (kind, tool["server_label"])
            message = f"{where}: server_label '{key[1]}' is used twice; labels must be unique"
        else:
            key = (kind, tool["name"])
            message = f"{where}: function '{key[1]}' is defined twice; names must be unique"
        if key in seen:
            raise ManifestError(message)
        seen.add(key)
        checked.append(tool)
    return checked


def _looks_like_secret_value(value: str) -> bool:
    value = PLACEHOLDER.sub("", value)
    if any(pattern.search(value) for pattern in SECRET_VALUES):
        return True
    return bool(
        OPAQUE_TOKEN.match(value)
        and sum(c.isdigit() for c in value) >= 2
        and sum(c.isupper() for c in value) >= 2
        and sum(c.islower() for c in value) >= 2
    )


def is_secret_name(name: str) -> bool:
    """True when the name's last word (numbers aside) names a secret: SEARCH_API_KEY, not
    KEY_VAULT_URL or MONKEY; also *_CONNECTION_STRING."""
    words = [word for word in name.upper().split("_") if word and not word.isdigit()]
    return bool(words) and (words[-1] in SECRET_WORDS or words[-2:] == ["CONNECTION", "STRING"])


def check_environment_variable(name: Any, value: Any, seen: Mapping[str, str]) -> str:
    """Return the value as text, or refuse it with the fix first, in one short line.

    `seen` maps the upper-cased names already checked to their spelling.
    """
    if not (isinstance(name, str) and ENV_NAME.match(name)):
        raise ManifestError(f"rename {name}: use letters, digits and _, not starting with a digit")
    upper = name.upper()
    if upper in seen:
        raise ManifestError(f"keep one of {seen[upper]} and {name}: names differ only in case")
    if upper.startswith(RESERVED_PREFIXES):
        raise ManifestError(f"rename {name}: FOUNDRY_* and AGENT_* names are the platform's")
    if upper in RESERVED_ENV:
        raise ManifestError(f"remove {name}: {RESERVED_ENV[upper]}")
    if value is None or isinstance(value, (Mapping, list, tuple)):
        raise ManifestError(f"give {name} one line of text, a number or true/false")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if is_secret_name(name) and not PLACEHOLDER.search(text):
        raise ManifestError(f"use {SECRET_FORM} for secret {name}")
    if _looks_like_secret_value(text):
        raise ManifestError(f"use {SECRET_FORM} for {name}'s secret")
    return text


def check_environment_variables(variables: Any) -> dict[str, str]:
    """Return the variables as text if none is reserved, duplicated or a secret in the clear."""
    if not isinstance(variables, Mapping):
        raise ManifestError("give environment_variables as `NAME: value` pairs, or {} for none")
    checked: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, value in variables.items():
        checked[name] = check_environment_variable(name, value, seen)
        seen[name.upper()] = name
    return checked


def tools_from_answers(answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Merge the friendly tool answers and the `tools` list into one checked list."""
    tools: list[Any] = []
    if answers.get("code_interpreter"):
        tools.append({"type": "code_interpreter"})
    ids = [i.strip() for i in str(answers.get("file_search_vector_store_ids") or "").split(",")]
    if any(ids):
        tools.append({"type": "file_search", "vector_store_ids": [i for i in ids if i]})
    servers = answers.get("mcp_servers") or {}
    if not isinstance(servers, Mapping):
        raise ManifestError(
            "mcp_servers: give a mapping of `label: https://url` lines, or {} for none"
        )
    tools += [{"type": "mcp", "server_label": k, "server_url": v} for k, v in servers.items()]
    functions = answers.get("function_tools") or {}
    if not isinstance(functions, Mapping):
        raise ManifestError(
            "function_tools: give a mapping of `name: what it does` lines, or {} for none"
        )
    tools += [{"type": "function", "name": k, "description": v} for k, v in functions.items()]
    extra = answers.get("tools") or []
    if not _is_list(extra):
        raise ManifestError("tools: give a YAML list of tool objects, or [] for none")
    return check_tools(tools + list(extra))


def document(
    *,
    name: str,
    package: str,
    description: str,
    model_deployment: str,
    cpu: str,
    memory: str,
    acr_name: str,
    image_repository: str,
    environment_variables: Mapping[str, str],
    tools: list[dict[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """azure.yaml's content: the azd project with its one agent service, keyed by name."""
    docker: dict[str, Any] = {"remoteBuild": True, "image": image_repository}
    if acr_name:
        docker["registry"] = acr_name + ACR_SUFFIX
    service = {
        "project": ".",
        "host": AGENT_HOST,
        "language": "docker",
        "docker": docker,
        "kind": "hosted",
        "description": description,
        "protocols": [{"protocol": "responses", "version": PROTOCOL_VERSION}],
        "container": {"resources": {"cpu": cpu, "memory": memory}},
        "startupCommand": f"python -m {package}",
        "env": {MODEL_VARIABLE: model_deployment, **environment_variables},
        "tools": tools,
        **(extra or {}),
    }
    return {"name": name, "services": {name: service}}


def manifest_from_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Build azure.yaml's content from Copier's answers, refusing any bad entry."""
    cpu, memory = str(answers["resources"]).split("/")
    data = document(
        name=answers["agent_name"],
        package=answers["package_name"],
        description=answers.get("description", ""),
        model_deployment=answers["model_deployment"],
        cpu=cpu,
        memory=memory,
        acr_name=answers.get("acr_name") or "",
        image_repository=answers["image_repository"],
        environment_variables=check_environment_variables(
            answers.get("environment_variables") or {}
        ),
        tools=tools_from_answers(answers),
    )
    parse(data)
    return data


def agent_service(data: Any) -> tuple[str, Mapping[str, Any]]:
    """(key, settings) of the one service with `host: azure.ai.agent`."""
    services = data.get("services") if isinstance(data, Mapping) else None
    if not isinstance(services, Mapping):
        raise ManifestError(f"{MANIFEST_FILE}: no services; it needs one with host: {AGENT_HOST}")
    agents = [
        (key, service)
        for key, service in services.items()
        if isinstance(service, Mapping) and service.get("host") == AGENT_HOST
    ]
    if len(agents) != 1:
        raise ManifestError(
            f"{MANIFEST_FILE}: {len(agents)} services with host: {AGENT_HOST}; keep exactly one"
        )
    return agents[0]


def _protocol_version(service: Mapping[str, Any]) -> str:
    versions = [
        str(record.get("version"))
        for record in service.get("protocols") or []
        if isinstance(record, Mapping) and record.get("protocol") == "responses"
    ]
    if len(versions) != 1 or versions[0] not in PROTOCOL_VERSIONS:
        raise ManifestError(
            f"{MANIFEST_FILE}: protocols must list responses once with a version, one of "
            f"{', '.join(PROTOCOL_VERSIONS)} (e.g. - {{protocol: responses, version: 2.0.0}})"
        )
    return versions[0]


def parse(data: Any) -> Manifest:
    """Check azure.yaml's content and return its agent service as a Manifest."""
    key, service = agent_service(data)
    try:
        resources = service["container"]["resources"]
        cpu, memory = check_resources(resources["cpu"], resources["memory"])
        env = dict(service.get("env") or {})
        model_deployment = env.pop(MODEL_VARIABLE, None)
        if not model_deployment:
            raise ManifestError(
                f"{MANIFEST_FILE}: no model deployment; set {MODEL_VARIABLE} under env"
            )
        docker = service.get("docker") or {}
        registry = str(docker.get("registry") or "")
        name = check_agent_name(service.get("name") or key)
        return Manifest(
            name=name,
            description=str(service.get("description") or ""),
            model_deployment=str(model_deployment),
            protocol_version=_protocol_version(service),
            cpu=cpu,
            memory=memory,
            acr_name=registry.removesuffix(ACR_SUFFIX) if registry.endswith(ACR_SUFFIX) else "",
            image_repository=str(docker.get("image") or name),
            environment_variables=check_environment_variables(env),
            tools=check_tools(service.get("tools") or []),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ManifestError(
            f"{MANIFEST_FILE}: missing or malformed entry {error} in service {key}"
        ) from None


def dump(data: Mapping[str, Any]) -> str:
    """Render azure.yaml's text, with a header saying where it comes from."""
    header = (
        f"# yaml-language-server: $schema={SCHEMA}\n"
        "# The agent's one manifest: azd, the server and deploy.py all read it.\n"
        "# Written by Copier from your answers; change them with\n"
        "#   copier update --trust --defaults -d 'key=value'\n"
        "# Hand edits here are kept across updates.\n"
    )
    return header + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


def load(path: Path | None = None) -> Manifest:
    """Read and check azure.yaml (default: the current directory's, else the project's)."""
    if path is None:
        path = Path(MANIFEST_FILE)
        if not path.exists():
            path = Path(__file__).resolve().parents[3] / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(
            f"cannot read {path}: {error.strerror}; run from the project folder"
        ) from None
    try:
        return parse(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ManifestError(
            f"{path}: not valid YAML ({error.__class__.__name__}); fix the syntax"
        ) from None
