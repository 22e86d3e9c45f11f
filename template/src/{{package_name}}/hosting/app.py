"""The ASGI application: the routes of the RESPONSES protocol and the platform's hooks.

The handlers are in routes.py; who is asking in identity.py; the request body in
requests.py; the Response object in responses.py; output items and stream events in
events.py; the stream in sse.py; whole JSON answers and errors in replies.py; the store
behind store.py; agent runs in runs.py; memory-snapshot hooks in lifecycle.py;
SIGTERM and SIGINT in shutdown.py; the bounds of each connection in limits.py.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .errors import ProtocolError, error_body
from .manifest import Manifest
from .records import PreviousNotFound, ResponseConflict, StoreFailure
from .replies import JsonReply, crashed, error_reply, refused
from .routes import ResponsesServer
from .runs import conflict
from .settings import Settings
from .turn import Agent


def create_app(agent: Agent, settings: Settings, manifest: Manifest) -> ResponsesApp:
    """Build the ASGI app serving `agent`."""
    server = ResponsesServer(agent, settings, manifest)
    routes = [
        Route("/readiness", server.readiness, methods=["GET"]),
        # Served by ResponsesApp directly; listed so other methods get a 405.
        Route("/responses", server.create, methods=["POST"]),
        Route("/responses/{id}", server.response, methods=["GET", "DELETE"]),
        Route("/responses/{id}/cancel", server.cancel, methods=["POST"]),
        Route("/responses/{id}/input_items", server.input_items, methods=["GET"]),
        Route("/_agent/before-snapshot", server.before_snapshot, methods=["POST"]),
        Route("/_agent/after-restore", server.after_restore, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ProtocolError: refused,
            HTTPException: _http_error,
            Exception: crashed,
            **STORE_ERRORS,
        },
        lifespan=server.lifespan,
    )
    return ResponsesApp(server, app)


async def _conflict(request: Request, error: Exception) -> JsonReply:
    assert isinstance(error, ResponseConflict)
    return await refused(request, conflict(str(error)))


async def _previous_not_found(request: Request, error: Exception) -> JsonReply:
    assert isinstance(error, PreviousNotFound)
    refusal = ProtocolError(
        400,
        f"Previous response with id '{error}' not found.",
        "previous_response_id",
        "previous_response_not_found",
    )
    return await refused(request, refusal)


async def _store_failed(request: Request, error: Exception) -> JsonReply:
    assert isinstance(error, StoreFailure)
    body = error_body(error.message, "server_error", code=error.code)
    return error_reply(request, error.status, body)


STORE_ERRORS = {
    ResponseConflict: _conflict,
    PreviousNotFound: _previous_not_found,
    StoreFailure: _store_failed,
}
"""What stores raise, as the protocol answers it."""


class ResponsesApp:
    """The ASGI app: Starlette routes every request except `POST /responses`.

    Creating responses is the hot path, and its streams send many messages: it goes
    straight to its handler instead of through Starlette's router and middleware, which
    would wrap every one of those messages.
    """

    def __init__(self, server: ResponsesServer, routes: Starlette) -> None:
        self.server = server
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/responses" and scope["method"] == "POST":
            request = Request(scope, receive)
            try:
                reply = await self.server.create(request)
            except ProtocolError as error:
                reply = await refused(request, error)
            except Exception as error:
                handler = STORE_ERRORS.get(type(error), crashed)
                reply = await handler(request, error)
            await reply(scope, receive, send)
        else:
            await self.routes(scope, receive, send)


async def _http_error(request: Request, error: Exception) -> JsonReply:
    """Unknown routes and methods get the error envelope too (with `Allow` on a 405)."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
    message = {404: "Not found.", 405: "Method not allowed."}.get(error.status_code, error.detail)
    extra = [(key.lower().encode(), value.encode()) for key, value in (error.headers or {}).items()]
    return error_reply(request, error.status_code, error_body(message, code=code), extra)
