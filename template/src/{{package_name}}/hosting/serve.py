"""Start the server: `python -m <package> [--agent module:attribute]`."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys

import uvicorn

from ..agentkit.agent_settings import model_configured
from .app import create_app
from .manifest import ManifestError, load
from .settings import Settings, SettingsError
from .shutdown import DrainingServer
from .store import StoreError
from .turn import Agent

PACKAGE = __package__.rpartition(".")[0]


def main(argv: list[str] | None = None) -> None:
    """Serve an agent on $HOST:$PORT; a bad setting or agent exits 2 with its fix."""
    parser = argparse.ArgumentParser(prog=f"python -m {PACKAGE}", description=__doc__)
    parser.add_argument(
        "--agent",
        default=f"{PACKAGE}.agent:agent",
        help="the agent to serve, as module:attribute (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        manifest = load()
        agent = load_agent(args.agent)
        if model_configured():
            # The model agent will answer: import its client now, not during the first turn
            # (openai and azure-identity take seconds to import). Offline, they never load.
            importlib.import_module(f"{PACKAGE}.agentkit.model_client")
            importlib.import_module(f"{PACKAGE}.agentkit.model_errors")
        app = create_app(agent, settings, manifest)
    except (SettingsError, ManifestError, StoreError, ImportError, AttributeError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    # The drain (shutdown.py) ends every response first; the uvicorn timeout is only a
    # backstop for connections that are still open after it.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,  # one log call per request for lines nobody reads at this level
        # Nothing here reads the client's address or scheme, which is all X-Forwarded-*
        # would change: the middleware would only wrap every request.
        proxy_headers=False,
        server_header=False,  # no `server: uvicorn` on every answer
        ws="none",  # HTTP only: importing a WebSocket library cost ~9 ms of every start
        timeout_graceful_shutdown=5,
    )
    config.load()  # imports the event loop and HTTP modules now, before the freeze
    server = DrainingServer(config, drain=app.server.drain)
    # What start-up made lives as long as the process: freezing it keeps the collector's
    # full passes to what requests make (scanning it all stalled requests by ~10 ms).
    gc.freeze()
    gc.enable()
    server.run()


def load_agent(spec: str) -> Agent:
    """Import `module:attribute`; the error names what is missing."""
    module_name, _, attribute = spec.partition(":")
    if not (module_name and attribute):
        raise ImportError(f"--agent {spec!r}: use module:attribute, e.g. {PACKAGE}.agent:agent")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AttributeError(f"--agent {spec!r}: {module_name} has no {attribute!r}") from None
