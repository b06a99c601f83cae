"""The express lane: the busiest POSTs answered before the middleware stack, its duties done inline.

In a registration season every school's LAS posts its pupil list within days; on one core the
application's own work per list (identify, mandate, schema, store) was less than half of the
CPU a request took, the rest being the ten layers every request passes (the application's
middlewares, Starlette's and FastAPI's own) and the request and response objects between them.
A route registered here (``Lane.add``) is answered by ``EduketenApp.__call__`` directly; what
those layers do for every request is done here in one pass, with the same pieces:

- request id (``X-Request-ID`` of the caller or a new one) bound for the log lines, echoed, and
  the access line (``core.logging.enter_request`` / ``leave_request``);
- the security headers and ``Cache-Control: no-store`` (``core.security.SECURITY_HEADERS``);
- the latency histogram under the route template (``Metrics.observe``);
- the limit on failed authentication: the same buckets as the middleware's (a shared
  ``RateLimiter``), 429 before any work, a 401 costs a token;
- the body limit: 413 on a ``Content-Length`` over it, or as soon as the streamed body passes it;
- an exception goes to the application's exception handlers (by the exception's class, as
  FastAPI dispatches), else a plain 500 without a trace.

A GET route (``Lane.add_get``) ends in one path parameter (``/prefix/{name}``): a GET whose
path is the prefix and one non-empty segment is answered here, with the segment as
``scope["path_params"][name]``; the busiest is the LAS fetching a pupil's PDF report.

Every other request, and every other method on these paths (405 from the router), takes the
full stack. The handler of a route gets the request and its whole body and returns
``(status, JSON bytes)`` or a Response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from eduketen.core.auth import TrustedProxies
from eduketen.core.errors import declared_too_large, too_large_body
from eduketen.core.logging import enter_request, leave_request
from eduketen.core.metrics import Metrics
from eduketen.core.ratelimit import RateLimiter
from eduketen.core.security import (
    SECURITY_HEADERS,
    TOO_MANY_FAILURES,
    client_key,
    too_many_failures_headers,
)

Handler = Callable[[Request, bytes], Awaitable["tuple[int, bytes] | Response"]]

_JSON = (b"content-type", b"application/json")
_TAIL = (*SECURITY_HEADERS, (b"cache-control", b"no-store"))
log = logging.getLogger("eduketen.lane")
_PLAIN_500 = b'{"status":500,"title":"Internal error","detail":"Something went wrong on our side; it has been logged."}'


@dataclass(frozen=True, slots=True)
class _Template:
    """What a router puts in ``scope["route"]``, as far as the metrics read it."""

    path: str


class _ClientGone(Exception):
    pass


class Lane:
    """The routes of the express lane and what answering them needs from the application."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        limiter: RateLimiter,
        trusted: TrustedProxies,
        max_body_bytes: int,
        handlers: dict,
        log_requests: bool = True,
    ) -> None:
        self.metrics = metrics
        self.limiter = limiter
        self.trusted = trusted
        self.max_body_bytes = max_body_bytes
        self.handlers = handlers  # the application's exception handlers (class -> handler)
        self.log_requests = log_requests
        self.routes: dict[str, tuple[Handler, _Template]] = {}  # POST path -> handler
        self.get_routes: dict[str, tuple[Handler, _Template, str]] = {}  # GET prefix (ending in /) -> handler

    def add(self, path: str, handler: Handler) -> None:
        self.routes[path] = (handler, _Template(path))

    def add_get(self, template: str, handler: Handler) -> None:
        """A GET route ``/prefix/{name}``: one path parameter, the last segment."""
        prefix, _, last = template.rpartition("/")
        if not (last.startswith("{") and last.endswith("}")) or "{" in prefix:
            raise ValueError(f"a lane GET route ends in its one path parameter: {template}")
        self.get_routes[prefix + "/"] = (handler, _Template(template), last[1:-1])

    def route(self, scope) -> tuple[Handler, _Template] | None:
        """The lane's route for this request, or None (then the full stack answers). A GET
        route's parameter is put in ``scope["path_params"]``."""
        method, path = scope["method"], scope["path"]
        if method == "POST":
            return self.routes.get(path)
        if method != "GET" or not self.get_routes:
            return None
        prefix, _, value = path.rpartition("/")
        found = self.get_routes.get(prefix + "/")
        if found is None or not value:
            return None
        handler, template, name = found
        scope["path_params"] = {name: value}
        return handler, template

    async def answer(self, scope, receive, send, route: tuple[Handler, _Template]) -> None:
        handler, template = route
        scope["route"] = template
        started = time.perf_counter()
        rid, token = enter_request(scope)
        extra = [(b"x-request-id", rid.encode())]
        status = 500
        try:
            key = client_key(scope, self.trusted) if self.limiter.burst > 0 else None
            wait = self.limiter.peek(key) if key is not None else 0.0
            if wait:
                status = 429
                await self._send(send, 429, TOO_MANY_FAILURES, too_many_failures_headers(wait), extra)
                return
            try:
                body = await self._body(scope, receive)
            except _ClientGone:
                status = 499  # nobody to answer; nothing was done
                return
            if body is None:
                status = 413
                refused = too_large_body(self.max_body_bytes)
                await self._send(send, 413, refused, [_JSON, (b"content-length", str(len(refused)).encode())], extra)
                return
            request = Request(scope)
            try:
                result = await handler(request, body)
            except Exception as exc:
                result = await self._handled(request, exc)
            if isinstance(result, Response):
                status = result.status_code
                headers, payload = result.raw_headers, result.body
            else:
                status, payload = result
                headers = [_JSON, (b"content-length", str(len(payload)).encode())]
            if status == 401 and key is not None:
                self.limiter.take(key)
            await self._send(send, status, payload, headers, extra)
        finally:
            self.metrics.observe(scope["method"], template.path, status, time.perf_counter() - started)
            leave_request(scope, token, status, started, log_requests=self.log_requests)

    async def _body(self, scope, receive) -> bytes | None:
        """The whole body, or None when it is over the limit (by its length or as it streams)."""
        limit = self.max_body_bytes
        if declared_too_large(scope, limit):
            return None
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if received > limit:
                    return None
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _handled(self, request: Request, exc: Exception) -> Response | tuple[int, bytes]:
        for cls in type(exc).__mro__:
            handler = self.handlers.get(cls)
            if handler is not None:
                try:
                    return await handler(request, exc)
                except Exception as failed:  # a handler that fails: still no trace to the caller
                    exc = failed
                    break
        log.error("unexpected error in the express lane: %s", type(exc).__name__)
        return 500, _PLAIN_500

    @staticmethod
    async def _send(send, status: int, body: bytes, headers: list, extra: list) -> None:
        present = {name for name, _ in headers}
        out = [*headers, *(h for h in _TAIL if h[0] not in present), *(h for h in extra if h[0] not in present)]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})
