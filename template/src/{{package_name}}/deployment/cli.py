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
from . import bundle, image, operations, telemetry, validate
from .definition import PACKAGE, TOOLS_NOTE, Options, Request, build, version_metadata
from .errors import DeployError, Refused, translate
from .image import placeholder
from .output import LiveStatus, emit_json, fields, summary, table
from .sdk import INSTALL, Line, has_newest_features, line, refuse_retired

OK, FAILED, INVALID = 0, 1, 2
SNAPSHOT_WARNING = (
    "--memory-snapshot: sessions of this version do not keep $HOME across an idle suspend and "
    "resume, and the server stores responses there (STATE_DIR defaults to $HOME)"
)


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
    source = deploy.add_mutually_exclusive_group()
    source.add_argument(
        "--image", help="image reference (default: the build script's .image.json, by digest)"
    )
    source.add_argument(
        "--code",
        action="store_true",
        help="ship the project's code as a zip instead of an image: no registry needed",
    )
    deploy.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, print where it would send what; send nothing",
    )
    deploy.add_argument("--timeout", type=float, default=600, help="seconds to wait (600)")
    deploy.add_argument("--poll", type=float, default=5, help="seconds between status checks (5)")
    deploy.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    deploy.add_argument("--no-route", action="store_true", help="leave traffic routing as it is")
    deploy.add_argument("--no-smoke", action="store_true", help="skip the smoke request")
    low, high = validate.IDLE_TIMEOUT_RANGE
    sessions = deploy.add_argument_group("sessions")
    sessions.add_argument(
        "--idle-timeout",
        type=int,
        metavar="SECONDS",
        help=f"idle time before a session is suspended ({low}-{high}; the service default: 900)",
    )
    sessions.add_argument(
        "--memory-snapshot",
        action="store_true",
        help="start sessions from a memory snapshot ($HOME is then not kept across suspend)",
    )
    export = deploy.add_argument_group("telemetry the platform exports (telemetry_config)")
    export.add_argument(
        "--otlp-endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="an https:// OTLP collector (repeatable)",
    )
    export.add_argument("--otlp-protocol", default="http", help="http (default) or grpc")
    export.add_argument(
        "--telemetry-data",
        metavar="KIND,...",
        help=f"what to send: {', '.join(telemetry.DATA_KINDS)} (default: all)",
    )
    export.add_argument(
        "--otlp-auth",
        metavar=telemetry.AUTH_FORM,
        help="send a connection's secret to the collectors in this header",
    )

    commands.add_parser("versions", parents=[common], help="list versions with status and image")
    show = commands.add_parser(
        "show", parents=[common], help="a version's details, the agent's state"
    )
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


def _options(args: argparse.Namespace, problems: list[str]) -> Options:
    config, telemetry_problems = telemetry.config(
        args.otlp_endpoint, args.otlp_protocol.lower(), args.telemetry_data, args.otlp_auth
    )
    problems += telemetry_problems + validate.idle_timeout(args.idle_timeout)
    options = Options(args.memory_snapshot, args.idle_timeout, config)
    flags = ["--code"] * args.code + options.flags()
    if flags and not has_newest_features():
        problems += [f"{flag} needs azure-ai-projects 2.10 or later; {INSTALL}" for flag in flags]
    return options


def _request(args: argparse.Namespace, root: Path, sdk: Line) -> tuple[str, Manifest, Request]:
    """Everything a deploy sends, checked; Invalid lists every problem found."""
    problems: list[str] = []
    endpoint = _endpoint(args, problems)
    manifest = _manifest(root, problems)
    if manifest is not None:
        problems += validate.protocol(manifest.protocol_version)
    code, reference, warnings = None, None, []
    if not args.code:
        # A dry run before anything is built previews with a marked stand-in.
        stand_in = (
            placeholder(manifest.acr_name, manifest.image_repository)
            if manifest is not None and args.dry_run
            else None
        )
        found = image.resolve(args.image, root, placeholder=stand_in)
        problems += found.problems
        reference, warnings = found.reference, found.warnings
    elif manifest is not None and has_newest_features():
        code, code_problems = bundle.build(root, manifest.name)
        problems += code_problems
    metadata, metadata_problems = validate.metadata_pairs(args.metadata)
    problems += metadata_problems + validate.metadata(version_metadata(sdk, metadata))
    options = _options(args, problems)
    if manifest is None or problems:
        raise Invalid(problems)
    for warning in warnings + [SNAPSHOT_WARNING] * options.memory_snapshot:
        print(f"warning: {warning}", file=sys.stderr)
    request = build(manifest, sdk, metadata, image=reference, code=code, options=options)
    return endpoint, manifest, request


def _preview(endpoint: str, name: str, request: Request, sdk: Line) -> None:
    """What a live deploy would send, and where: the target on stderr, the JSON on stdout."""
    api_version = "2025-11-15-preview" if sdk == "b3" else "v1"
    print(f"POST {endpoint}/agents/{name}/versions?api-version={api_version}", file=sys.stderr)
    code = request.code
    if code is not None:
        print(
            f"  multipart/form-data: metadata (the JSON below) and code ({code.name})\n"
            f"  x-ms-code-zip-sha256: {code.sha256}\n"
            f"code: {code.name}, {code.size} bytes, {len(code.files)} files, "
            f"{code.runtime}, entry point python -m {PACKAGE}:",
            file=sys.stderr,
        )
        print("\n".join(f"  {file}" for file in code.files), file=sys.stderr)
    if sdk == "current":
        print(f"note: {TOOLS_NOTE}", file=sys.stderr)
    emit_json(request.body())


def _deploy(args: argparse.Namespace, root: Path, credential: Any) -> int:
    sdk = line()
    endpoint, manifest, request = _request(args, root, sdk)
    if args.dry_run:
        _preview(endpoint, manifest.name, request, sdk)
        return OK

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
        if not args.no_route:
            result["traffic"] = "100%"
        if not args.no_smoke:
            result["smoke_reply"] = operations.smoke(client, manifest.name)
    if args.json:
        emit_json(result)
    else:
        _print_deployed(result)
    return OK


def _print_deployed(result: dict[str, Any]) -> None:
    print(f"{result['name']} version {result['version']} is {result['status'] or 'created'}")
    if result["image"]:
        print(f"  image: {result['image']}")
    if result["code"]:
        print(f"  code: {result['code']}")
    if "traffic" in result:
        print("  traffic: 100% to this version")
    if "smoke_reply" in result:
        print(f"  smoke reply: {result['smoke_reply']}")


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
                columns = ("version", "status", "image", "code", "created_at")
                print(table(rows, columns) if rows else f"{name} has no versions")
        elif args.command == "show":
            details = summary(operations.show(client, name, args.version))
            agent = operations.agent(client, name)
            # Whether the agent endpoint takes requests at all (AgentDetails.state).
            details["state"] = agent.get("state")
            if agent.get("state_source"):
                details["state_source"] = agent["state_source"]
            if args.json:
                emit_json(details)
            else:
                print(fields(details))
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
        if not (args.command == "deploy" and args.dry_run):
            refuse_retired()
        if args.command == "deploy":
            return _deploy(args, root, credential)
        return _manage(args, root, credential)
    except Invalid as invalid:
        return fail(str(invalid), INVALID, args.json)
    except Refused as refused:
        return fail(str(refused), INVALID, args.json)
    except DeployError as error:
        return fail(str(error), FAILED, args.json)
    except KeyboardInterrupt:
        # The service keeps going: a created version stays, whatever the client does.
        return fail("interrupted; check what was done with `python deploy.py versions`", 130, False)
    except (AzureError, openai.OpenAIError) as error:
        endpoint = validate.endpoint(args.endpoint)[0]
        return fail(str(translate(error, endpoint)), FAILED, args.json)
