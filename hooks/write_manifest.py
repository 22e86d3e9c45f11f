"""Copier task: write azure.yaml from the answers and stub each new function tool.

Run by Copier in the rendered project (the working directory) with Copier's own
Python: standard library and PyYAML only. The rules come from the rendered
project's hosting/manifest.py, so the hook, the server and deploy.py agree.

Copier runs tasks three times per update: in a temporary render of the old
version, in the project, and in a temporary render of the new version. The manifest
(azure.yaml; agent.yaml before v0.2.0, when the old version's hook runs) is written in
all three (the same answers give the same bytes, so Copier's diff sees only the user's
edits). Tool stubs are user code: they are created only in a
new project (`copy`) or in the git work tree being updated, never in the temporary
renders, so Copier never sees them as template files it could delete.

Usage: write_manifest.py ANSWERS_FILE OPERATION
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import yaml

sys.dont_write_bytecode = True  # leave no __pycache__ in the rendered project

STUB = '''"""The {name} function tool.

A function tool the model may call. Yours: `copier update` never overwrites this file.
The model sees the function's signature and docstring; keep them accurate.
"""


def {name}(query: str) -> str:
    """{description}

    Args:
        query: What the model wants to know.
    """
    raise NotImplementedError(f"{{__name__}} is not written yet: fill in its body")
'''


def load_rules(package: str) -> ModuleType:
    """Import the rendered project's hosting/manifest.py by path."""
    path = Path("src", package, "hosting", "manifest.py")
    spec = importlib.util.spec_from_file_location(f"{package}_manifest_rules", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: {path} is missing; the template render is incomplete")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def in_git_work_tree(folder: Path) -> bool:
    """True inside a git work tree (the project Copier updates; its temp renders are not)."""
    return any((parent / ".git").exists() for parent in (folder, *folder.parents))


def write_stubs(package: str, functions: list[dict]) -> None:
    """Create src/<package>/tools/<name>.py for each function tool that has none."""
    folder = Path("src", package, "tools")
    folder.mkdir(parents=True, exist_ok=True)
    for tool in functions:
        path = folder / f"{tool['name']}.py"
        if path.exists():
            continue
        text = (tool.get("description") or "").strip() or "Describe me."
        text = text.replace("\\", "\\\\").replace('"""', "'''")
        description = "\n    ".join(textwrap.wrap(text, width=88))
        path.write_text(STUB.format(name=tool["name"], description=description), encoding="utf-8")


def main(argv: list[str]) -> int:
    answers_file, operation = argv[1], argv[2]
    answers = yaml.safe_load(Path(answers_file).read_text(encoding="utf-8"))
    rules = load_rules(answers["package_name"])
    try:
        data = rules.manifest_from_answers(answers)
        manifest = rules.parse(data)
    except rules.ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    Path(rules.MANIFEST_FILE).write_text(rules.dump(data), encoding="utf-8")
    if operation == "copy" or in_git_work_tree(Path.cwd()):
        write_stubs(answers["package_name"], manifest.function_tools)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
