"""`python deploy.py ...`: create, watch, route, list, show, delete and invoke agent versions."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai
from azure.core.exceptions import AzureError

from ..hosting.manifest import MANIFEST_FILE, Manifest, ManifestError, load
from . import operations, validate
from .definition import TOOLS_NOTE, build
from .errors import DeployError, translate
from .output import LiveStatus, emit_json, summary, table
from .sdk import line

OK, FAILED, INVALID = 0, 1, 2


class Invalid(Exception):
    """Problems found before anything was sent, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        help="project endpoint (default: $FOUNDRY_PROJECT_ENDPOINT or $AZURE_AI_PROJECT_ENDPOINT)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    main = argparse.ArgumentParser(
        prog="deploy.py",
        description="Deploy this agent to Azure AI Foundry and manage its versions.",
    )
    commands = main.add_subparsers(dest="command", required=True)

    deploy = commands.add_parser(
        "deploy",
        parents=[common],
        help="create a version, wait until active, route traffic to it, send a smoke request",
        epilog=TOOLS_NOTE,
    )
    deploy.add_argument("--image", help="image reference (default: the build script's .image.json)")
    deploy.add_argument("--dry-run", action="store_true", help="print the JSON it would send")
    deploy.add_argument("--timeout", type=float, default=600, help="seconds to wait (600)")
    deploy.add_argument("--poll", type=float, default=5, help="seconds between status checks (5)")
    deploy.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    deploy.add_argument("--no-route", action="store_true", help="leave traffic routing as it is")
    deploy.add_argument("--no-smoke", action="store_true", help="skip the smoke request")

    commands.add_parser("versions", parents=[common], help="list versions with status and image")
    show = commands.add_parser("show", parents=[common], help="one version's details")
    show.add_argument("version")
    delete = commands.add_parser("delete", parents=[common], help="delete a version")
    delete.add_argument("version")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--force", action="store_true", help="also end the version's sessions")
    invoke = commands.add_parser("invoke", parents=[common], help="stream a reply from the agent")
    invoke.add_argument("text")
    invoke.add_argument("--previous", metavar="RESPONSE_ID", help="continue from this response")
    return main


def _manifest(root: Path, problems: list[str]) -> Manifest | None:
    try:
        return load(root / MANIFEST_FILE)
    except ManifestError as error:
        problems.append(str(error))
        return None


def _endpoint(args: argparse.Namespace, problems: list[str]) -> str:
    endpoint, endpoint_problems = validate.endpoint(args.endpoint)
    problems += endpoint_problems
    return endpoint


def _deploy(args: argparse.Namespace, root: Path, credential: Any) -> int:
    problems: list[str] = []
    endpoint = "" if args.dry_run else _endpoint(args, problems)
    manifest = _manifest(root, problems)
    image, image_problems, warnings = validate.image(args.image, root)
    metadata, metadata_problems = validate.metadata_pairs(args.metadata)
    problems += image_problems + metadata_problems
    if manifest is None:
        raise Invalid(problems + validate.metadata(metadata))
    request = build(manifest, image, line(), metadata)
    problems += validate.metadata(request.metadata)  # with the metadata the platform needs
    if problems:
        raise Invalid(problems)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.dry_run:
        if line() == "current":
            print(f"note: {TOOLS_NOTE}", file=sys.stderr)
        emit_json(request.body())
        return OK

    sdk = line()
    progress = LiveStatus(manifest.name)
    with operations.connect(endpoint, credential) as client:
        try:
            details = operations.deploy(
                client,
                manifest.name,
                request,
                timeout=args.timeout,
                poll=args.poll,
                progress=progress,
                route_traffic=not args.no_route,
            )
        finally:
            progress.done()
        result = summary(details)
        if sdk == "b3":
            result["note"] = "2.0.0b3: no routing or smoke request (needs azure-ai-projects>=2.10)"
        elif not args.no_route:
            result["traffic"] = "100%"
        if not args.no_smoke and sdk == "current":
            result["smoke_reply"] = operations.smoke(client, manifest.name)
    if args.json:
        emit_json(result)
    else:
        _print_deployed(result)
    return OK


def _print_deployed(result: dict[str, Any]) -> None:
    print(f"{result['name']} version {result['version']} is {result['status'] or 'created'}")
    print(f"  image: {result['image']}")
    if "traffic" in result:
        print("  traffic: 100% to this version")
    if "smoke_reply" in result:
        print(f"  smoke reply: {result['smoke_reply']}")
    if "note" in result:
        print(f"  note: {result['note']}")


def _confirm(args: argparse.Namespace, name: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise Invalid([f"delete {name} version {args.version}: pass --yes to confirm"])
    answer = input(f"Delete {name} version {args.version}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _manage(args: argparse.Namespace, root: Path, credential: Any) -> int:
    problems: list[str] = []
    endpoint = _endpoint(args, problems)
    manifest = _manifest(root, problems)
    if manifest is None or problems:
        raise Invalid(problems)
    name = manifest.name
    if args.command == "delete" and not _confirm(args, name):
        print("nothing deleted", file=sys.stderr)
        return FAILED
    with operations.connect(endpoint, credential) as client:
        if args.command == "versions":
            rows = [summary(v) for v in operations.versions(client, name)]
            if args.json:
                emit_json(rows)
            else:
                columns = ("version", "status", "image", "created_at")
                print(table(rows, columns) if rows else f"{name} has no versions")
        elif args.command == "show":
            details = summary(operations.show(client, name, args.version))
            if args.json:
                emit_json(details)
            else:
                print(table([details], tuple(details)))
        elif args.command == "delete":
            deleted = operations.delete(client, name, args.version, force=args.force)
            if args.json:
                emit_json(
                    {"name": name, "version": args.version, "deleted": deleted.get("deleted")}
                )
            else:
                print(f"deleted {name} version {args.version}")
        else:
            return _invoke(args, client, name)
    return OK


def _invoke(args: argparse.Namespace, client: Any, name: str) -> int:
    text, final = [], {}
    for part in operations.invoke(client, name, args.text, args.previous):
        if isinstance(part, dict):
            final = part
        else:
            text.append(part)
            if not args.json:
                print(part, end="", flush=True)
    if not args.json:
        print()
    if final.get("status") != "completed":
        ended = final.get("status") or "a stream that stopped early"
        raise DeployError(f"the reply ended as {ended}; read the container logs in the portal")
    if args.json:
        emit_json({**final, "output_text": "".join(text)})
    else:
        print(f"(response {final['id']}; continue with --previous {final['id']})", file=sys.stderr)
    return OK


def fail(message: str, code: int, as_json: bool) -> int:
    """Report an expected failure: one line per problem, nothing else."""
    if as_json:
        emit_json({"error": message.splitlines()})
    else:
        for problem in message.splitlines():
            print(f"error: {problem}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None, *, root: Path, credential: Any = None) -> int:
    """Run one command; returns the exit code (0 done, 1 failed, 2 nothing sent, 130 ^C).

    `credential` is any azure-core TokenCredential; DefaultAzureCredential when None.
    """
    args = parser().parse_args(argv)
    # azure-identity logs each failed credential as a warning; the one-line error says it all.
    logging.getLogger("azure").addHandler(logging.NullHandler())
    try:
        line()  # the installed SDK, before anything else needs it
        if args.command == "deploy":
            return _deploy(args, root, credential)
        return _manage(args, root, credential)
    except Invalid as invalid:
        return fail(str(invalid), INVALID, args.json)
    except DeployError as error:
        return fail(str(error), FAILED, args.json)
    except KeyboardInterrupt:
        # The service keeps going: a created version stays, whatever the client does.
        return fail("interrupted; check what was done with `python deploy.py versions`", 130, False)
    except (AzureError, openai.OpenAIError) as error:
        endpoint = validate.endpoint(args.endpoint)[0]
        return fail(str(translate(error, endpoint)), FAILED, args.json)
