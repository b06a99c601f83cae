"""Response headers for every answer, and a limit on failed authentication per client.

Security headers: the API's answers are not to be sniffed, framed, cached or referred on
(``X-Content-Type-Options``, ``X-Frame-Options`` and CSP ``frame-ancestors``, ``Cache-Control:
no-store`` unless a route set its own, ``Referrer-Policy``). HSTS is nginx's (it owns TLS).

Failed authentication: each 401 answer costs the client one token of a bucket (``rate`` per second,
``burst`` at once); with the bucket empty, the client gets 429 with ``Retry-After`` before any
work is done. The client is the certificate when one came (handshake or trusted proxy), else the
peer address. Guessing the admin token or probing identities becomes slow; mandated traffic,
which never gets 401, is untouched. Each process keeps its own buckets; nginx's ``limit_req``
(deploy/nginx/eduketen.conf) limits requests per certificate across processes.
"""

from __future__ import annotations

import hashlib

from eduketen.core.auth import TrustedProxies
from eduketen.core.ratelimit import RateLimiter

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


def client_key(scope, trusted: TrustedProxies) -> str:
    tls = scope.get("extensions", {}).get("tls")
    if tls and tls.get("client_cert_chain"):
        first = tls["client_cert_chain"][0]
        return "cert:" + hashlib.sha256(first if isinstance(first, bytes) else first.encode()).hexdigest()[:32]
    client = scope.get("client")
    host = client[0] if client else "?"
    if host in trusted:
        for name, value in scope.get("headers", ()):
            if name == b"client-cert":
                return "cert:" + hashlib.sha256(value).hexdigest()[:32]
    return "addr:" + host


TOO_MANY_FAILURES = b'{"status":429,"title":"Too many requests","detail":"too many failed authentication attempts from this client; retry later"}'


def too_many_failures_headers(wait: float) -> list[tuple[bytes, bytes]]:
    """The headers of the 429 for a client whose bucket is empty for ``wait`` more seconds."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(TOO_MANY_FAILURES)).encode()),
        (b"retry-after", str(max(1, round(wait + 0.5))).encode()),
    ]


class AuthFailureLimitMiddleware:
    """``limiter``: the buckets, shared with the express lane (core/lane.py) so that a client's
    failures count alike on every path; made from ``rate`` and ``burst`` when not given."""

    def __init__(self, app, *, trusted: TrustedProxies, rate: float = 5.0, burst: int = 200, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.trusted = trusted
        self.limiter = limiter if limiter is not None else RateLimiter(rate, burst)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.limiter.burst <= 0:
            return await self.app(scope, receive, send)
        key = client_key(scope, self.trusted)
        wait = self.limiter.peek(key)
        if wait:
            await send({"type": "http.response.start", "status": 429, "headers": too_many_failures_headers(wait)})
            await send({"type": "http.response.body", "body": TOO_MANY_FAILURES})
            return

        async def send_wrapper(message):
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.take(key)
            await send(message)

        await self.app(scope, receive, send_wrapper)
