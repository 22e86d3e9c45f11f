"""Checks made before anything is sent: each problem is one line with its fix."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

ENDPOINT_VARIABLES = ("FOUNDRY_PROJECT_ENDPOINT", "AZURE_AI_PROJECT_ENDPOINT")
ENDPOINT = re.compile(r"^https://[^\s/?#@]+/api/projects/[^\s/?#]+/?$")
ENDPOINT_FORM = "https://<account>.services.ai.azure.com/api/projects/<project>"
IMAGE_RECORD = ".image.json"
# registry host (with a dot, a port or localhost) / repository [:tag] [@sha256:digest]
IMAGE = re.compile(
    r"^(?P<registry>(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?|localhost(?::\d+)?|[a-z0-9-]+:\d+)"
    r"/(?P<repository>[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512


def endpoint(given: str | None) -> tuple[str, list[str]]:
    """The project endpoint from --endpoint or the environment, and its problems."""
    value = given or next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), "")
    if not value:
        return "", [
            f"no project endpoint: set FOUNDRY_PROJECT_ENDPOINT={ENDPOINT_FORM} or pass --endpoint"
        ]
    if not ENDPOINT.match(value):
        return value, [f"endpoint '{value}' is not a project endpoint; use {ENDPOINT_FORM}"]
    return value.rstrip("/"), []


def image(given: str | None, root: Path) -> tuple[str, list[str], list[str]]:
    """The image reference from --image or the build record: (image, problems, warnings)."""
    if not given:
        record = root / IMAGE_RECORD
        try:
            given = json.loads(record.read_text(encoding="utf-8"))["image"]
        except FileNotFoundError:
            return (
                "",
                [f"no image: run the build script (writes {IMAGE_RECORD}) or pass --image"],
                [],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "", [f"{record} has no image entry; rerun the build script or pass --image"], []
    reference = str(given)
    match = IMAGE.match(reference)
    if not match:
        return (
            reference,
            [
                f"image '{reference}' is not a full reference; use <registry>/<repository>:<tag> "
                "(e.g. myacr.azurecr.io/my-agent:20261101T1200)"
            ],
            [],
        )
    warnings = []
    if not match["digest"] and match["tag"] in (None, "latest"):
        warnings.append(
            f"image '{reference}' uses the 'latest' tag: a new version may not pick up your "
            "new image; push a unique tag (the build script does)"
        )
    return reference, [], warnings


def metadata(pairs: Mapping[str, str]) -> list[str]:
    """Problems with version metadata: at most 16 pairs, keys <= 64, values <= 512 characters."""
    problems = []
    if len(pairs) > METADATA_PAIRS:
        problems.append(f"metadata has {len(pairs)} pairs; keep at most {METADATA_PAIRS}")
    for key, value in pairs.items():
        if not key or len(key) > METADATA_KEY:
            problems.append(f"metadata key '{key[:70]}': use 1-{METADATA_KEY} characters")
        if len(value) > METADATA_VALUE:
            problems.append(
                f"metadata '{key}': the value has {len(value)} characters; "
                f"keep at most {METADATA_VALUE}"
            )
    return problems


def metadata_pairs(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Parse repeated --metadata KEY=VALUE options."""
    pairs: dict[str, str] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            problems.append(f"--metadata '{item}': write KEY=VALUE")
        else:
            pairs[key.strip()] = value
    return pairs, problems
