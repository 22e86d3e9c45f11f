"""Function tools: the functions in your tools/ folder, described to the model and run.

Each module `tools/<name>.py` defines a function `<name>` (sync or async); modules
whose name starts with `_` are helpers, not tools. The model
sees its name, the first paragraph of its docstring as the description, and a JSON
schema of its parameters built from the signature and the docstring's `Args:`
section. A module-level `PARAMETERS` dict, when present, is used as the schema
instead. A tool that raises, times out or gets bad arguments does not fail the turn:
the error becomes the tool's output, so the model can see it and recover.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import pkgutil
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..hosting import tracing
from ..hosting.turn import AgentError, FunctionCall

log = logging.getLogger(__name__)

TOOLS_PACKAGE = __name__.rsplit(".", 2)[0] + ".tools"
MAX_OUTPUT_CHARS = 20_000
_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}
_ARG_LINE = re.compile(r"^(\s+)(\w+)\s*(?:\([^)]*\))?:\s*(.*)$")


@dataclass(frozen=True)
class FunctionTool:
    """One function the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]

    @property
    def spec(self) -> dict[str, Any]:
        """The tool as the Responses API expects it in `tools`."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            # The API's default strict mode needs every parameter required; ours may be optional.
            "strict": False,
        }

    async def run(self, call: FunctionCall, timeout: float) -> str:
        """Run the tool for `call`; failures come back as text the model can read."""
        with tracing.tracer.tool_call(call) as run:
            output, error_type = await self._run(call.arguments, timeout)
            if error_type:
                run.failed(error_type)
            run.returned(output)
            return output

    async def _run(self, arguments_json: str, timeout: float) -> tuple[str, str]:
        """(the output, and the kind of error when the tool failed, else "")."""
        try:
            arguments = json.loads(arguments_json or "{}")
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            return (
                f"error: {self.name} got arguments that are not a JSON object",
                "invalid_arguments",
            )
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await asyncio.wait_for(self.function(**arguments), timeout)
            else:
                # A sync tool that times out keeps its thread until it returns; Python
                # cannot stop a thread. Prefer async tools for slow I/O.
                work = asyncio.to_thread(self.function, **arguments)
                result = await asyncio.wait_for(work, timeout)
        except TimeoutError:
            return f"error: {self.name} did not finish within {timeout:g} s", "timeout"
        except Exception as error:
            log.warning("tool %s failed", self.name, exc_info=True)
            text = f"error: {self.name} failed: {type(error).__name__}: {error}"
            return text[:MAX_OUTPUT_CHARS], type(error).__name__
        text = result if isinstance(result, str) else json.dumps(result, default=str)
        return text[:MAX_OUTPUT_CHARS], ""


@cache
def load_tools(package: str = TOOLS_PACKAGE) -> dict[str, FunctionTool]:
    """Import every module of the tools package once; raise AgentError for a broken one."""
    folder = importlib.import_module(package)
    tools: dict[str, FunctionTool] = {}
    for module_info in pkgutil.iter_modules(folder.__path__):
        name = module_info.name
        if name.startswith("_"):
            continue  # a helper module shared by tools, not a tool
        where = f"{package.replace('.', '/')}/{name}.py"
        try:
            module = importlib.import_module(f"{package}.{name}")
            function = getattr(module, name, None)
            if callable(function):
                tools[name] = describe(function, name, getattr(module, "PARAMETERS", None))
        except Exception as error:
            log.exception("cannot load %s", where)
            raise AgentError(
                "tool_import_failed",
                f"{where} cannot be loaded ({type(error).__name__}); fix it",
            ) from None
        if name not in tools:
            raise AgentError(
                "tool_not_defined", f"{where} must define a function named {name}; add it"
            )
    return tools


def describe(
    function: Callable[..., Any], name: str, parameters: dict[str, Any] | None = None
) -> FunctionTool:
    """Build a FunctionTool from the function's signature and docstring."""
    summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
    return FunctionTool(
        name=name,
        description=summary,
        parameters=_schema(function, arg_docs) if parameters is None else parameters,
        function=function,
    )


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each `name: text` line of a Google-style `Args:` section."""
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    arg_docs: dict[str, str] = {}
    in_args, indent = False, ""
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
        elif in_args and line.strip() and not line.startswith(" "):
            in_args = False  # the next section (Returns:, Raises:) begins
        elif in_args and (match := _ARG_LINE.match(line)) and match[1] == (indent or match[1]):
            indent = match[1]  # deeper lines continue a description; they are not arguments
            arg_docs[match[2]] = match[3].strip()
    return summary, arg_docs


def _schema(function: Callable[..., Any], arg_docs: dict[str, str]) -> dict[str, Any]:
    hints = typing.get_type_hints(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        prop = _json_type(hints.get(parameter.name, str))
        if parameter.name in arg_docs:
            prop["description"] = arg_docs[parameter.name]
        properties[parameter.name] = prop
        if parameter.default is parameter.empty:
            required.append(parameter.name)
    return {"type": "object", "properties": properties, "required": required}


def _json_type(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        return _json_type(options[0]) if len(options) == 1 else {}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    kind = _JSON_TYPES.get(origin or hint)
    return {"type": kind} if kind else {}
