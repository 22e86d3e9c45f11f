"""Server settings, read from the environment in one place.

    HOST, PORT                  where to listen: 127.0.0.1:8088 on your machine, 0.0.0.0 in
                                Foundry (its FOUNDRY_HOSTING_ENVIRONMENT) and in the image
    STATE_DIR                   where the SQLite store keeps responses (default $HOME, which
                                Foundry keeps per session); missing or read-only stops the server
    STATE_DIR_FALLBACK          "tmp": store in a temporary directory when STATE_DIR is
                                unusable, instead of stopping (default: unset)
    RESPONSE_STORE              "foundry" (the default in Foundry: the project's storage),
                                "sqlite" (the default elsewhere) or "memory" (lost on exit)
    STORAGE_TIMEOUT_SECONDS     how long one Foundry storage call may take (10)
    STORAGE_RETRIES             retries of a storage call after 429, 5xx or a timeout (3)
    MAX_REQUEST_BYTES           largest accepted request body (16 MiB); larger gets 413
    SHUTDOWN_GRACE_SECONDS      after SIGTERM, how long responses may still run (25)
    SSE_KEEPALIVE_INTERVAL      seconds of silence before a keep-alive comment (15; 0: never);
                                the platform cuts streams that stay silent for about 270 s
    HISTORY_MAX_RESPONSES       longest previous_response_id chain a turn may continue (1000)
    RESPONSE_RETENTION_DAYS     stored responses older than this are deleted (30; 0: kept)
    RESPONSE_RETENTION_COUNT    only the newest this many stored responses are kept
                                (100000; 0: no limit)
    REPLAY_SECONDS              how long a finished background stream can be replayed (600)
    REPLAY_MAX_BYTES            most bytes of finished background streams kept for replays
                                (64 MiB, at least 16384), the oldest going first; and the
                                most a running one keeps for its followers
  Connections (limits.py), each past its limit closed or refused with the status named:
    MAX_CONNECTIONS             open connections (1000); past it idle ones are closed and
                                requests get 503, but /readiness still answers
    MAX_HEADER_BYTES            a request's head: request line and headers (65536; 431)
    MAX_HEADERS                 header fields in a request (100; 431)
    MAX_REQUEST_LINE_BYTES      the request line (8192; 414)
    HEADER_TIMEOUT_SECONDS      time to send a request's head, from connecting or from a
                                later request's first byte (10; 408 and closed)
    IDLE_TIMEOUT_SECONDS        keep-alive: an idle connection is closed after it (5)
    WRITE_BUFFER_BYTES          bytes held for a client that is not reading (262144)
    WRITE_TIMEOUT_SECONDS       how long a client may leave them unread before it is
                                dropped (30); a dropped stream's run is stopped
    LOG_LEVEL                   debug, info (default), warning, error or critical
    LOG_FORMAT                  text (default) or json (see logs.py)

FOUNDRY_* variables are set by the platform and only read here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
STORES = ("foundry", "sqlite", "memory")


class SettingsError(ValueError):
    """An environment variable with a value the server cannot use."""


def number_setting(env: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    """The number in `env[name]`, `default` when unset; SettingsError says what to fix."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; unset it or give a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment."""

    host: str = "127.0.0.1"
    port: int = 8088
    state_dir: Path | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    shutdown_grace_seconds: float = 25.0
    sse_keepalive_seconds: float = 15.0
    history_max_responses: int = 1000
    retention_days: float = 30.0
    retention_count: int = 100_000
    state_dir_fallback: bool = False
    """Store in a temporary directory when state_dir is missing or read-only."""
    replay_seconds: float = 600.0
    replay_max_bytes: int = 64 * 1024 * 1024
    max_connections: int = 1000
    max_header_bytes: int = 65536
    max_headers: int = 100
    max_request_line_bytes: int = 8192
    header_timeout_seconds: float = 10.0
    idle_timeout_seconds: float = 5.0
    write_buffer_bytes: int = 262144
    write_timeout_seconds: float = 30.0
    store: str = "sqlite"
    """Where responses are kept: "foundry", "sqlite" (under state_dir) or "memory"."""
    storage_timeout_seconds: float = 10.0
    storage_retries: int = 3
    project_endpoint: str = ""
    session_id: str = ""
    log_level: str = "info"
    log_format: str = "text"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a bad value raises SettingsError with the fix."""
        env = os.environ if env is None else env
        state_dir = env.get("STATE_DIR") or env.get("HOME")
        # Foundry needs every interface; on a laptop, only this machine should reach it.
        # Hosted, history lives in the project's storage, as the platform expects.
        hosted = bool(env.get("FOUNDRY_HOSTING_ENVIRONMENT"))
        store = env.get("RESPONSE_STORE", "").strip().lower() or ("foundry" if hosted else "sqlite")
        if store not in STORES:
            raise SettingsError(f"RESPONSE_STORE={store!r}: use {', '.join(STORES)}")
        log_level = env.get("LOG_LEVEL", "").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL={log_level!r}: use {', '.join(LOG_LEVELS)}")
        log_format = env.get("LOG_FORMAT", "").strip().lower() or "text"
        if log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT={log_format!r}: use 'text' or 'json'")
        fallback = env.get("STATE_DIR_FALLBACK", "").strip().lower()
        if fallback not in ("", "tmp"):
            raise SettingsError(f"STATE_DIR_FALLBACK={fallback!r}: use 'tmp' or leave it unset")
        return cls(
            host=env.get("HOST") or ("0.0.0.0" if hosted else "127.0.0.1"),
            port=int(number_setting(env, "PORT", 8088, minimum=1)),
            state_dir=Path(state_dir) if state_dir else None,
            max_body_bytes=int(
                number_setting(env, "MAX_REQUEST_BYTES", 16 * 1024 * 1024, minimum=1024)
            ),
            shutdown_grace_seconds=number_setting(env, "SHUTDOWN_GRACE_SECONDS", 25.0),
            sse_keepalive_seconds=number_setting(env, "SSE_KEEPALIVE_INTERVAL", 15.0),
            history_max_responses=int(
                number_setting(env, "HISTORY_MAX_RESPONSES", 1000, minimum=1)
            ),
            retention_days=number_setting(env, "RESPONSE_RETENTION_DAYS", 30.0),
            retention_count=int(number_setting(env, "RESPONSE_RETENTION_COUNT", 100_000)),
            state_dir_fallback=fallback == "tmp",
            replay_seconds=number_setting(env, "REPLAY_SECONDS", 600.0),
            replay_max_bytes=int(  # below a few frames, followers would get no events at all
                number_setting(env, "REPLAY_MAX_BYTES", 64 * 1024 * 1024, minimum=16384)
            ),
            max_connections=int(number_setting(env, "MAX_CONNECTIONS", 1000, minimum=1)),
            max_header_bytes=int(number_setting(env, "MAX_HEADER_BYTES", 65536, minimum=1024)),
            max_headers=int(number_setting(env, "MAX_HEADERS", 100, minimum=8)),
            max_request_line_bytes=int(
                number_setting(env, "MAX_REQUEST_LINE_BYTES", 8192, minimum=256)
            ),
            header_timeout_seconds=number_setting(env, "HEADER_TIMEOUT_SECONDS", 10.0, 0.1),
            idle_timeout_seconds=number_setting(env, "IDLE_TIMEOUT_SECONDS", 5.0, 0.1),
            write_buffer_bytes=int(
                number_setting(env, "WRITE_BUFFER_BYTES", 262144, minimum=16384)
            ),
            write_timeout_seconds=number_setting(env, "WRITE_TIMEOUT_SECONDS", 30.0, 0.1),
            store=store,
            storage_timeout_seconds=number_setting(env, "STORAGE_TIMEOUT_SECONDS", 10.0, 0.1),
            storage_retries=int(number_setting(env, "STORAGE_RETRIES", 3)),
            project_endpoint=env.get("FOUNDRY_PROJECT_ENDPOINT")
            or env.get("AZURE_AI_PROJECT_ENDPOINT", ""),
            session_id=env.get("FOUNDRY_AGENT_SESSION_ID", ""),
            log_level=log_level,
            log_format=log_format,
        )
