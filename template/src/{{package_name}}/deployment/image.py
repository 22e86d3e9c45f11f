"""The image a container deploy sends: from --image or the build record, checked before use."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_RECORD = ".image.json"
# A dry run before anything is built previews with this tag; a live deploy never sends it.
PLACEHOLDER_TAG = "NOT-BUILT-YET"
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# <registry>/<repository>[:tag][@sha256:digest]; the registry is checked on its own.
REFERENCE = re.compile(
    r"^(?P<registry>[^/]+)"
    r"/(?P<repository>[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
HOST = re.compile(r"^(?:[a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$")
FULL_FORM = "use <registry>/<repository>:<tag> (e.g. myacr.azurecr.io/my-agent:20261101T1200)"


@dataclass(frozen=True)
class Image:
    """The reference to send, and what to say about it first."""

    reference: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve(given: str | None, root: Path, *, placeholder: str | None = None) -> Image:
    """The image from --image, else from the build record (by digest when it has one).

    With no record, `placeholder` (a dry run's preview) stands in for the image.
    """
    if given:
        return check(given)
    record = root / IMAGE_RECORD
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        reference, digest = str(data["image"]), data.get("digest")
    except FileNotFoundError:
        if placeholder:
            return Image(
                placeholder,
                warnings=[
                    f"nothing built yet (no {IMAGE_RECORD}): the preview shows the placeholder "
                    f"image {placeholder}; run the build script or pass --image before deploying"
                ],
            )
        return Image(
            "", [f"no image: run the build script (writes {IMAGE_RECORD}) or pass --image"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return Image("", [f"{record} has no image entry; rerun the build script or pass --image"])
    if not digest:
        return check(reference)
    if not (isinstance(digest, str) and DIGEST.match(digest)):
        return Image(
            reference,
            [
                f"{record}: digest '{digest}' of '{reference}' is not sha256:<64 hex digits>; "
                "rerun the build script or pass --image"
            ],
        )
    match = REFERENCE.match(reference)
    if not match:
        return check(reference)
    # The digest names exactly the pushed bytes; a tag can be moved to another image.
    return check(f"{match['registry']}/{match['repository']}@{digest}")


def placeholder(acr_name: str, repository: str) -> str:
    """The clearly marked stand-in a dry run previews before anything is built."""
    registry = f"{acr_name.lower()}.azurecr.io" if acr_name else "your-registry.azurecr.io"
    return f"{registry}/{repository}:{PLACEHOLDER_TAG}"


def check(reference: str) -> Image:
    """Problems with an image reference, including registries Foundry cannot pull from."""
    match = REFERENCE.match(reference)
    registry = match["registry"] if match else ""
    if not match or not ("." in registry or ":" in registry or registry == "localhost"):
        return Image(reference, [f"image '{reference}' is not a full reference; {FULL_FORM}"])
    host = re.sub(r":\d+$", "", registry)
    if not HOST.match(host):
        return Image(reference, [f"image '{reference}': registry '{registry}' is not a host name"])
    if _loopback(host):
        return Image(
            reference,
            [
                f"image '{reference}': Foundry pulls from Azure and cannot reach {registry} "
                "on your machine; push to an Azure Container Registry (scripts/build-and-push.sh)"
            ],
        )
    if "." not in host:
        return Image(
            reference,
            [
                f"image '{reference}': Foundry cannot resolve the registry host '{host}' "
                "(no domain); push to a registry with a full host name (<name>.azurecr.io)"
            ],
        )
    warnings = []
    if not match["digest"] and match["tag"] in (None, "latest"):
        warnings.append(
            f"image '{reference}' uses the 'latest' tag: a new version may not pick up your "
            "new image; push a unique tag (the build script does)"
        )
    return Image(reference, warnings=warnings)


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
