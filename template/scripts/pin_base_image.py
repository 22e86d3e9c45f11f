"""Pin the Dockerfile's base image by digest: `ARG BASE_IMAGE=<name>:<tag>@sha256:<digest>`.

    python scripts/pin_base_image.py              # pin, or move the pin to the tag's newest image
    python scripts/pin_base_image.py --dry-run    # print the digest, change nothing

Asks the image's registry (the OCI distribution API: HEAD /v2/<name>/manifests/<tag>, with an
anonymous token where the registry wants one) which digest the tag names now, and rewrites
that one line. The digest is of the multi-platform index when there is one, so the build still
picks linux/amd64 from it. Exit 2 when the registry cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# name (with a registry host and port, if any), tag, and the digest a previous run pinned.
LINE = re.compile(
    r"^ARG BASE_IMAGE=(?P<name>[^\s:@]+(?::\d+)?(?:/[^\s:@]+)*)"
    r":(?P<tag>\w[\w.-]*)(?:@sha256:[0-9a-f]{64})?$",
    re.MULTILINE,
)
MANIFESTS = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TIMEOUT = 30


class Unreachable(Exception):
    """The registry did not answer."""


def split_image(name: str) -> tuple[str, str]:
    """Registry host and repository of an image name (Docker Hub when the name has no host)."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "registry-1.docker.io", name if rest else f"library/{name}"


def _open(request: urllib.request.Request) -> urllib.response.addinfourl:
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"{request.full_url.split('/v2/')[0]}: {reason}") from None


def _token(challenge: str, repository: str) -> str:
    """An anonymous pull token from the realm a 401's `WWW-Authenticate: Bearer ...` names."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in fields:
        raise SystemExit(
            f"pin: the registry wants credentials ({challenge}); log in is not supported"
        )
    query = {"scope": fields.get("scope", f"repository:{repository}:pull")}
    if "service" in fields:
        query["service"] = fields["service"]
    url = f"{fields['realm']}?{urllib.parse.urlencode(query)}"
    with _open(urllib.request.Request(url)) as answer:
        body = json.load(answer)
    return body.get("token") or body["access_token"]


def resolve(name: str, tag: str, registry_url: str | None = None) -> str:
    """The digest `name:tag` names now."""
    host, repository = split_image(name)
    url = f"{registry_url or f'https://{host}'}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFESTS}
    for attempt in range(2):
        request = urllib.request.Request(url, headers=headers, method="HEAD")
        try:
            with _open(request) as answer:
                digest = answer.headers.get("Docker-Content-Digest", "")
        except urllib.error.HTTPError as error:
            challenge = error.headers.get("WWW-Authenticate", "")
            if error.code == 401 and attempt == 0 and challenge:
                headers["Authorization"] = f"Bearer {_token(challenge, repository)}"
                continue
            raise SystemExit(
                f"pin: {url} answered {error.code}; check the image name and tag"
            ) from None
        if not DIGEST.match(digest):
            raise SystemExit(f"pin: {url} sent no sha256 Docker-Content-Digest header ({digest!r})")
        return digest
    raise SystemExit(f"pin: {url} refused the anonymous token; the image may be private")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/pin_base_image.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dockerfile", type=Path, default=PROJECT / "Dockerfile")
    parser.add_argument("--dry-run", action="store_true", help="print the digest, change nothing")
    parser.add_argument(
        "--registry-url", help="ask this URL instead of https://<registry> (a mirror)"
    )
    args = parser.parse_args(argv)
    text = args.dockerfile.read_text(encoding="utf-8")
    match = LINE.search(text)
    if not match:
        print(f"pin: no `ARG BASE_IMAGE=<name>:<tag>` line in {args.dockerfile}", file=sys.stderr)
        return 1
    name, tag = match["name"], match["tag"]
    try:
        digest = resolve(name, tag, args.registry_url)
    except Unreachable as error:
        print(
            f"pin: cannot reach the registry ({error}); the Dockerfile is unchanged",
            file=sys.stderr,
        )
        return 2
    pinned = f"ARG BASE_IMAGE={name}:{tag}@{digest}"
    if args.dry_run:
        print(pinned)
        return 0
    args.dockerfile.write_text(
        text[: match.start()] + pinned + text[match.end() :], encoding="utf-8"
    )
    print(f"pin: {name}:{tag} is {digest}; {args.dockerfile.name} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
