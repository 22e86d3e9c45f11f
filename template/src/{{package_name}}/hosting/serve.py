"""Start the server: `python -m <package>`."""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import create_app
from .manifest import ManifestError, load
from .settings import Settings, SettingsError


def main() -> None:
    """Serve the project's agent on $HOST:$PORT; a bad setting exits 2 with its fix."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        manifest = load()
    except (SettingsError, ManifestError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    from ..agent import agent

    app = create_app(agent, settings, manifest)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
