"""The environment a run sees: the process's, then `.env`, then azure.yaml's variables.

In Foundry the platform sets azure.yaml's `env` (deploy.py and azd send it);
`apply` sets them here too, so code reads the same values on your machine. A `.env` file
(never in the image: .dockerignore leaves it out) holds your local settings, such as
FOUNDRY_PROJECT_ENDPOINT. A variable already set in the process always wins.

`.env` lines are `NAME=value`, optionally after `export `; `#` starts a comment (inside
quotes it is text). Values may be in single quotes (taken as written) or double quotes
(`\\n`, `\\t`, `\\"` and `\\\\` are escapes). Nothing is expanded: `$HOME` stays `$HOME`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from .manifest import Manifest
from .settings import SettingsError

ENV_FILE = ".env"
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def apply(
    manifest: Manifest, env_file: Path | None, env: MutableMapping[str, str] | None = None
) -> None:
    """Fill in what the process does not set: from `env_file` (if it exists), then azure.yaml."""
    env = os.environ if env is None else env
    layers: list[Mapping[str, str]] = []
    if env_file is not None and env_file.is_file():
        layers.append(read_env_file(env_file))
    layers.append(manifest.environment_variables)
    for layer in layers:
        for name, value in layer.items():
            env.setdefault(name, value)


def default_env_file() -> Path:
    """`.env` in the current directory, else in the project folder (beside azure.yaml)."""
    here = Path(ENV_FILE)
    return here if here.exists() else Path(__file__).resolve().parents[3] / ENV_FILE


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a `.env` file; SettingsError names the line that cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path} ({error}); fix or remove it") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        value = _value(match[2]) if match else None
        if match is None or value is None:
            raise SettingsError(
                f"{path} line {number}: expected NAME=value (quotes closed on the same line)"
            )
        found[match[1]] = value
    return found


def _value(raw: str) -> str | None:
    """The value of one line, or None when its quotes do not close."""
    if raw[:1] == "'":
        end = raw.find("'", 1)
        return raw[1:end] if end > 0 and _only_comment(raw[end + 1 :]) else None
    if raw[:1] == '"':
        chars: list[str] = []
        index = 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw):
                chars.append(_ESCAPES.get(raw[index + 1], "\\" + raw[index + 1]))
                index += 2
            elif char == '"':
                return "".join(chars) if _only_comment(raw[index + 1 :]) else None
            else:
                chars.append(char)
                index += 1
        return None
    comment = re.search(r"\s#", raw)
    return (raw[: comment.start()] if comment else raw).strip()


def _only_comment(rest: str) -> bool:
    rest = rest.strip()
    return not rest or rest.startswith("#")
