"""Start the server: `python -m <package> [--host H] [--port P] [--reload] [--agent m:a]`."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from ..agentkit.agent_settings import describe_model, model_configured
from . import environment, logs, tracing
from .access import AccessLog
from .app import ResponsesApp, create_app
from .limits import limited_protocol
from .manifest import ManifestError, load
from .settings import Settings, SettingsError
from .shutdown import DrainingServer
from .store import StoreError
from .turn import Agent

PACKAGE = __package__.rpartition(".")[0]
DEFAULT_AGENT = f"{PACKAGE}.agent:agent"
RELOAD_AGENT = "SERVE_RELOAD_AGENT"
RELOAD_ENV_FILE = "SERVE_RELOAD_ENV_FILE"
"""How `--reload` tells its server processes which agent to serve and which .env to read."""
FAILURES = (SettingsError, ManifestError, StoreError, ImportError, AttributeError)
YOUNG_OBJECTS = 10_000
"""New objects between two passes of the collector over the young ones (Python's default: 700).

Under load the requests in flight hold about a thousand objects at any moment, so at 700 a
pass ran every twenty requests and scanned all of them: 5-9 us a request. Unreachable
cycles (rare here) wait a little longer: a few MB at most.
"""

log = logging.getLogger(PACKAGE)


def main(argv: list[str] | None = None) -> None:
    """Serve an agent on $HOST:$PORT; a bad setting or agent exits 2 with its fix."""
    args = _arguments(argv)
    # Written to the environment, so settings read them and `--reload`'s processes inherit them.
    if args.host:
        os.environ["HOST"] = args.host
    if args.port:
        os.environ["PORT"] = str(args.port)
    try:
        if args.reload:
            settings = _reload_settings(args.agent, args.env_file)
        else:
            settings, app = build(args.agent, args.env_file)
    except FAILURES as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.reload:
        _serve_reloading(settings)
        return
    # The drain (shutdown.py) ends every response first; the uvicorn timeout is only a
    # backstop for connections that are still open after it.
    config = _config(
        _logged(app, settings),
        settings,
        timeout_graceful_shutdown=5,
        http=limited_protocol(settings),  # limits.py: the bounds of each connection
    )
    config.load()  # imports the event loop and HTTP modules now, before the freeze
    server = DrainingServer(config, drain=app.server.drain, stop=app.server.stop)
    # What start-up made lives as long as the process: freezing it keeps the collector's
    # full passes to what requests make (scanning it all stalled requests by ~10 ms).
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    gc.enable()
    server.run()


def build(agent_spec: str, env_file: Path | None) -> tuple[Settings, ResponsesApp]:
    """Everything before serving: environment, settings, logging, telemetry, agent, app."""
    manifest = load()
    environment.apply(manifest, env_file)
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format == "json" or tracing.export_configured())
    tracing.start_telemetry(manifest)
    agent = load_agent(agent_spec)
    if model_configured():
        # The model agent will answer: import its client now, not during the first turn
        # (openai and azure-identity take seconds to import). Offline, they never load.
        importlib.import_module(f"{PACKAGE}.agentkit.model_client")
        importlib.import_module(f"{PACKAGE}.agentkit.model_errors")
    app = create_app(agent, settings, manifest)
    agent_line = agent_spec
    if agent_spec == DEFAULT_AGENT:
        agent_line += f" ({describe_model(manifest)})"
    log.info(
        "serving %s on http://%s:%d; agent %s; store: %s; telemetry: %s",
        manifest.name,
        settings.host,
        settings.port,
        agent_line,
        app.server.store.description,
        tracing.tracer.description,
    )
    return settings, app


def reloaded_app() -> ASGIApp:
    """The app of one `--reload` server process, built from the files as they are now."""
    env_file = os.environ[RELOAD_ENV_FILE]
    settings, app = build(os.environ[RELOAD_AGENT], Path(env_file) if env_file else None)
    return _logged(app, settings)


def _reload_settings(agent_spec: str, env_file: Path | None) -> Settings:
    """The settings `--reload` listens with, checked before its first server process starts.

    Each server process reads .env and azure.yaml itself, so an edit to them takes effect
    on the next reload: here they are only read into a copy of the environment.
    """
    env = dict(os.environ)
    environment.apply(load(), env_file, env)
    settings = Settings.from_env(env)
    logs.configure(settings.log_level, settings.log_format == "json")
    os.environ[RELOAD_AGENT] = agent_spec
    os.environ[RELOAD_ENV_FILE] = str(env_file or "")
    return settings


def _serve_reloading(settings: Settings) -> None:
    """Restart the server process whenever a .py file under src/ changes.

    uvicorn's reloader: with watchfiles installed it is notified of changes, without it
    polls the files' times (src/ only, so a virtual environment is never scanned).
    """
    from uvicorn.supervisors import ChangeReload

    source = Path(__file__).resolve().parents[2]
    config = _config(
        f"{PACKAGE}.hosting.serve:reloaded_app",
        settings,
        factory=True,
        reload=True,
        reload_dirs=[str(source)],
    )
    ChangeReload(config, target=uvicorn.Server(config).run, sockets=[config.bind_socket()]).run()


def _config(app: ASGIApp | str, settings: Settings, **options: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # logs.py configured logging; uvicorn's records go through it
        # Its own lines at info are start-up chatter the server replaces with one line; but
        # under --reload they say what changed.
        log_level=settings.log_level if options.get("reload") else _uvicorn_level(settings),
        access_log=False,  # access.py writes one line per request, with the ids
        # Nothing here reads the client's address or scheme, which is all X-Forwarded-*
        # would change: the middleware would only wrap every request.
        proxy_headers=False,
        server_header=False,  # no `server: uvicorn` on every answer
        ws="none",  # HTTP only: importing a WebSocket library cost ~9 ms of every start
        timeout_keep_alive=settings.idle_timeout_seconds,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def _uvicorn_level(settings: Settings) -> str:
    return "debug" if settings.log_level == "debug" else "warning"


def _logged(app: ResponsesApp, settings: Settings) -> ASGIApp:
    """The app with its access log, unless LOG_LEVEL hides info lines."""
    return AccessLog(app) if settings.log_level in ("debug", "info") else app


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {PACKAGE}", description=__doc__)
    parser.add_argument(
        "--host", help="interface to listen on (default: $HOST, else 127.0.0.1; 0.0.0.0 in Foundry)"
    )
    parser.add_argument("--port", type=int, help="port to listen on (default: $PORT, else 8088)")
    parser.add_argument(
        "--reload", action="store_true", help="restart when a file under src/ changes (local runs)"
    )
    parser.add_argument(
        "--agent",
        default=DEFAULT_AGENT,
        help="the agent to serve, as module:attribute (default: %(default)s)",
    )
    parser.add_argument(
        "--env-file",
        type=lambda text: Path(text) if text else None,
        default=environment.default_env_file(),
        help="variables to set where the environment does not (default: .env; '' for none)",
    )
    return parser.parse_args(argv)


def load_agent(spec: str) -> Agent:
    """Import `module:attribute`; the error names what is missing."""
    module_name, _, attribute = spec.partition(":")
    if not (module_name and attribute):
        raise ImportError(f"--agent {spec!r}: use module:attribute, e.g. {DEFAULT_AGENT}")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AttributeError(f"--agent {spec!r}: {module_name} has no {attribute!r}") from None
