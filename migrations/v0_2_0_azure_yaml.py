"""Copier migration to v0.2.0: carry agent.yaml, with every hand edit, into azure.yaml.

From v0.2.0 the agent's settings live in azure.yaml (the azd project file, one service
with `host: azure.ai.agent`); azd warns about a standalone agent.yaml. Runs after the
update, in the project, with Copier's Python (standard library and PyYAML). By then the
new hook has written azure.yaml from the answers and Copier has deleted agent.yaml (the
new version no longer makes it), so the user's agent.yaml is read from the commit the
update started from (Copier refuses to update a dirty project). Its values replace the
answers' in azure.yaml, so a hand edit made there is kept; keys the template does not
know are kept on the agent service. Comments are not carried over. The protocol becomes
2.0.0: the platform blocks 1.0.0 since 2026-07-31 and the template offers nothing else.
A project without an agent.yaml is left as it is.

Usage: v0_2_0_azure_yaml.py ANSWERS_FILE
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

sys.dont_write_bytecode = True  # leave no __pycache__ in the project
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hooks"))
from write_manifest import load_rules  # noqa: E402  (the hook's loader of manifest.py)

OLD_FILE = "agent.yaml"
KNOWN = {
    "name",
    "description",
    "model_deployment",
    "protocol_version",
    "resources",
    "registry",
    "environment_variables",
    "tools",
}


def old_manifest() -> str | None:
    """The user's agent.yaml: in the work tree if still there, else in the last commit."""
    path = Path(OLD_FILE)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    shown = subprocess.run(["git", "show", f"HEAD:./{OLD_FILE}"], capture_output=True, text=True, check=False)
    return shown.stdout if shown.returncode == 0 else None


def text(value: Any) -> str:
    """An environment value as azd's schema wants it: a string (true/false for booleans)."""
    return str(value).lower() if isinstance(value, bool) else "" if value is None else str(value)


def convert(old: dict[str, Any], package: str, rules: ModuleType) -> dict[str, Any]:
    """azure.yaml's content holding every value of the old agent.yaml."""
    resources = old.get("resources") or {}
    registry = old.get("registry") or {}
    return rules.document(
        name=old["name"],
        package=package,
        description=old.get("description") or "",
        model_deployment=old["model_deployment"],
        cpu=str(resources["cpu"]),
        memory=str(resources["memory"]),
        acr_name=registry.get("acr_name") or "",
        image_repository=registry.get("image_repository") or old["name"],
        environment_variables={
            str(name): text(value) for name, value in (old.get("environment_variables") or {}).items()
        },
        tools=old.get("tools") or [],
        extra={key: value for key, value in old.items() if key not in KNOWN},
    )


def main(argv: list[str]) -> int:
    text = old_manifest()
    if text is None:
        return 0
    answers = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
    package = answers["package_name"]
    rules = load_rules(package)
    try:
        old = yaml.safe_load(text)
        data = convert(old, package, rules)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        print(
            f"error: {OLD_FILE} cannot be carried into {rules.MANIFEST_FILE} ({error!r}); "
            f"restore it with `git checkout HEAD -- {OLD_FILE}`, fix it and update again",
            file=sys.stderr,
        )
        return 1
    Path(rules.MANIFEST_FILE).write_text(rules.dump(data), encoding="utf-8")
    Path(OLD_FILE).unlink(missing_ok=True)
    print(f"{OLD_FILE} is now {rules.MANIFEST_FILE} (the agent service); your edits are kept")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
