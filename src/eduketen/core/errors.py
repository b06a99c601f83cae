"""Errors: clear JSON bodies, never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import logging
import traceback

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("eduketen.errors")


def json_response(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def problem(status: int, title: str, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra) -> Response:
    body = {"status": status, "title": title}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return json_response(status, body, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.extra, self.headers = status, title, detail, extra, headers


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        errors = [
            {"field": "/".join(str(p) for p in err.get("loc", ()) if p != "body"), "problem": err.get("msg")}
            for err in exc.errors()
        ]
        return problem(422, "Invalid request", "The request does not match the expected form.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail) if exc.detail else None,
            headers=getattr(exc, "headers", None),  # e.g. Allow on 405
        )

    @app.exception_handler(_TooLarge)
    async def _too_large(_request: Request, exc: _TooLarge):
        # A streamed body passed the limit while a route was reading it (FastAPI would otherwise
        # turn the middleware's signal into "400 There was an error parsing the body").
        return Response(too_large_body(exc.max_bytes), status_code=413, media_type="application/json")

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _store_down(_request: Request, exc: Exception):
        # The database is restarting or unreachable: a temporary condition, nothing was stored.
        log.warning("database unavailable: %s", type(exc).__name__)
        return json_response(
            503,
            {
                "status": 503,
                "title": "Unavailable",
                "melding": "Bericht niet verwerkt; probeer het later opnieuw.",
                "detail": "The database cannot be reached right now; nothing was stored. Try again later.",
            },
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        rid = request.scope.get("state", {}).get("request_id")
        # The type and where it happened, not the message or a traceback with locals: an exception's
        # text may carry pupil data (SQL parameters are hidden by the engine as well).
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
        log.error("unexpected error: %s at %s", type(exc).__name__, where, extra={"request_id": rid} if rid else None)
        headers = {"x-request-id": rid} if rid else None
        return problem(500, "Internal error", "Something went wrong on our side; it has been logged.", headers=headers)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 before reading them (Content-Length), or as soon as
    the streamed body passes the limit."""

    def __init__(self, app, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = sorted((larger or {}).items(), key=lambda kv: -len(kv[0]))  # exact path -> its own limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = next((limit for path, limit in self.larger if scope["path"] == path), self.max_bytes)
        if declared_too_large(scope, max_bytes):
            return await self._refuse(send, max_bytes)
        received = 0
        refused = False

        async def limited_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    refused = True
                    raise _TooLarge(max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send, max_bytes)

    async def _refuse(self, send, max_bytes: int):
        body = too_large_body(max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def declared_too_large(scope, max_bytes: int) -> bool:
    """The request's ``Content-Length`` is over ``max_bytes`` (or is no length at all)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return True
            return length < 0 or length > max_bytes
    return False


def too_large_body(max_bytes: int) -> bytes:
    return orjson.dumps(
        {
            "status": 413,
            "title": "Body too large",
            "melding": f"Bericht is te groot: de grens is {max_bytes} bytes.",
            "detail": f"Request bodies are limited to {max_bytes} bytes.",
        }
    )


class _TooLarge(StarletteHTTPException):
    """Raised from the limited ``receive``. An HTTPException, so that FastAPI's body parsing
    passes it on instead of answering 400; the handler above answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request bodies are limited to {max_bytes} bytes.")
        self.max_bytes = max_bytes
