"""The Foundry storage service's HTTP API: pooled connections, bearer tokens, bounded retries.

Every call goes to `{project endpoint}/storage/...?api-version=v1` with the agent identity's
token for `https://ai.azure.com/.default` and, for a request's calls, the request's
`x-agent-foundry-call-id` (storage scopes everything to the end user it names).
`x-agent-user-id` is never sent. One aiohttp session keeps the connections for every
request: calls run concurrently, nothing waits behind a lock. 429, 5xx, timeouts and
dropped connections are retried with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from yarl import URL

from .identity import CALL_ID

log = logging.getLogger(__name__)

VERSION = {"api-version": "v1"}
SCOPE = "https://ai.azure.com/.default"
REFRESH_SECONDS = 300.0
"""A token this close to its expiry is replaced (in the background while it still works)."""
BACKOFF_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 2.0


class StorageError(Exception):
    """A call that got no usable answer; `transient` when trying again may help."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Reply:
    """A storage answer: its status, its JSON body (None when empty or not JSON), attempts."""

    status: int
    body: Any
    attempts: int = 1
    retry_after: str | None = None

    @property
    def error_code(self) -> str:
        """The `error.code` of an error body, lowercased, or ""."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code") or "").lower() if isinstance(error, dict) else ""


class Tokens:
    """Bearer tokens from an async credential: cached, refreshed before they expire.

    Callers read the cached token; only a refresh waits, and every caller that needs one
    shares it. Tokens are never logged.
    """

    def __init__(self, credential: AsyncTokenCredential) -> None:
        self.credential = credential
        self._token: AccessToken | None = None
        self._refresh: asyncio.Task[AccessToken] | None = None

    async def get(self) -> str:
        token = self._token
        left = token.expires_on - time.time() if token else 0.0
        if token is not None and left > REFRESH_SECONDS:
            return token.token
        refresh = self._refresh
        if refresh is None:
            refresh = self._refresh = asyncio.get_running_loop().create_task(self._fetch())
            refresh.add_done_callback(_retrieved)  # a failed background refresh is retried
        if token is not None and left > 30:
            return token.token  # still good: the refresh goes on in the background
        return (await asyncio.shield(refresh)).token

    async def _fetch(self) -> AccessToken:
        try:
            self._token = await self.credential.get_token(SCOPE)
            return self._token
        finally:
            self._refresh = None


class StorageClient:
    """Calls to Foundry storage for one project; `start` inside the event loop first."""

    def __init__(
        self, endpoint: str, credential: AsyncTokenCredential, timeout: float, retries: int
    ) -> None:
        self.base = endpoint.rstrip("/") + "/storage/"
        self.tokens = Tokens(credential)
        self.timeout = timeout
        self.retries = retries
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Built now, so SSL_CERT_FILE / SSL_CERT_DIR set before start are honoured.
        connector = aiohttp.TCPConnector(limit=256, ssl=ssl.create_default_context())
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        close = getattr(self.tokens.credential, "close", None)
        if close is not None:
            await close()

    async def call(
        self,
        method: str,
        path: str,
        call_id: str | None,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """One call, retried while the failure is transient; StorageError when it gives up."""
        assert self._session is not None, "StorageClient.start() was not awaited"
        # Encoded once here: yarl would parse and re-encode the query on every attempt.
        url = URL(f"{self.base}{path}?{urlencode({**(query or {}), **VERSION})}", encoded=True)
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = await self._once(method, url, call_id, body, attempt)
            except StorageError as error:
                if not error.transient or attempt > self.retries:
                    raise
                log.warning("Foundry storage %s %s: %s; retrying", method, path, error)
                await asyncio.sleep(_backoff(attempt))
                continue
            if not _transient(reply.status) or attempt > self.retries:
                if _transient(reply.status):
                    raise StorageError(f"HTTP {reply.status} after {attempt} attempts", True)
                return reply
            log.warning("Foundry storage %s %s: HTTP %d; retrying", method, path, reply.status)
            await asyncio.sleep(_backoff(attempt, reply.retry_after))

    async def _once(
        self,
        method: str,
        url: URL,
        call_id: str | None,
        body: bytes | None,
        attempt: int,
    ) -> Reply:
        assert self._session is not None
        try:
            token = await self.tokens.get()
        except Exception as error:
            raise StorageError(
                f"no token for the agent identity ({_first_line(error)}); in Foundry the"
                " platform provides it, on your machine sign in with `az login`"
            ) from None
        headers = {"Authorization": f"Bearer {token}"}
        if call_id:
            headers[CALL_ID] = call_id
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, data=body, headers=headers) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise StorageError(f"no answer within {self.timeout:g} s", transient=True) from None
        except aiohttp.ClientError as error:
            raise StorageError(f"unreachable ({_first_line(error)})", transient=True) from None
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        return Reply(status, parsed, attempt, retry_after)


def _retrieved(task: asyncio.Task[AccessToken]) -> None:
    if not task.cancelled():
        task.exception()


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    """Exponential backoff with jitter; a Retry-After in seconds is honoured up to the cap."""
    if retry_after and retry_after.isdigit():
        return min(float(retry_after), BACKOFF_CAP_SECONDS)
    delay = min(BACKOFF_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
    return delay * (0.5 + random.random() / 2)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
