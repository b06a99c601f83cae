"""Structured logs without personal data, a request id on every line.

Log lines carry identifiers of organisations (OINs) and messages, never pupil data: no names,
no birth dates, no pupil identifiers. Query strings are not logged."""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import structlog

from eduketen.core.identifiers import new_uuid4

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def _add_request_id(_logger, _method, event_dict):
    rid = _request_id.get()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # the report font subsetter talks at INFO
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).handlers[:] = []
        logging.getLogger(noisy).propagate = False
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


access_log = structlog.get_logger("eduketen.access")
_access_std = logging.getLogger("eduketen.access")


def _valid_request_id(value: str) -> bool:
    # At most 36 characters (a UUID): the id is stored with inbox messages and audit entries,
    # whose request_id columns hold 36; a longer one failed every message on PostgreSQL.
    return 8 <= len(value) <= 36 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def enter_request(scope) -> tuple[str, contextvars.Token]:
    """The request id (a valid ``X-Request-ID`` of the caller, or a new one), bound to the context
    for every log line of this request and kept in the scope's state. Undo with ``leave_request``."""
    rid = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _valid_request_id(candidate):
                rid = candidate
            break
    rid = rid or new_uuid4().hex
    token = _request_id.set(rid)
    # Kept in the scope too: a 500 is answered outside this middleware (Starlette's
    # ServerErrorMiddleware), after the context variable is reset.
    scope.setdefault("state", {})["request_id"] = rid
    return rid, token


def leave_request(scope, token: contextvars.Token, status: int, started: float, *, log_requests: bool = True) -> None:
    """The access line of a request (when INFO is kept), then the request id unbound."""
    try:
        if log_requests and _access_std.isEnabledFor(logging.INFO):  # skip building a line nobody keeps
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                caller=scope.get("state", {}).get("caller_oin"),
            )
    finally:
        _request_id.reset(token)


class RequestContextMiddleware:
    """Pure ASGI: request id from ``X-Request-ID`` (or a new one), echoed back; one access line."""

    def __init__(self, app, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid, token = enter_request(scope)
        started = time.perf_counter()
        status_holder = [0]
        header = (b"x-request-id", rid.encode())

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            leave_request(scope, token, status_holder[0], started, log_requests=self.log_requests)
