"""One HTTP exchange with the implementation under test, as the suite made it, and the ``curl``
line that makes it again by hand.

Secrets never reach a report: an access token is shown as ``Bearer <token>`` (unless it is one the
suite made up to be refused, which is harmless and needed to repeat the check), a token request
shows ``<client_assertion>`` instead of the signed assertion, and an ``access_token`` in an answer
is masked."""

from __future__ import annotations

import re
import shlex
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from eduketen.conformance.target import Identity

INLINE_LIMIT = 1500  # bodies up to this size go inline in the curl line, larger ones in a file
TOKEN_PLACEHOLDER = "Bearer <token>"
_ACCESS_TOKEN = re.compile(rb'("access_token"\s*:\s*")[^"]*(")')


@dataclass
class Exchange:
    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    identity: Identity | None = None
    ca: Path | None = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    error: str | None = None  # a transport error (TLS handshake refused, timeout, ...)
    show_token: bool = False  # the bearer token is a made-up one (garbage, unsigned): safe to show
    redacted_body: bytes | None = None  # what reports show instead of a body holding a secret

    @property
    def full_url(self) -> str:
        return self.url + ("?" + urlencode(self.params) if self.params else "")

    def json(self):
        import json

        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    @property
    def melding(self) -> str | None:
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("melding"), str):
            return body["melding"]
        return None

    @property
    def shown_body(self) -> bytes | None:
        return self.redacted_body if self.redacted_body is not None else self.body

    def shown_headers(self) -> dict[str, str]:
        shown = {}
        for name, value in self.headers.items():
            if name.lower() == "authorization" and not self.show_token:
                value = TOKEN_PLACEHOLDER if value.lower().startswith("bearer") else "<credential>"
            shown[name] = value
        return shown

    def summary(self) -> str:
        if self.error:
            return f"{self.method} {self.url}: no answer ({self.error})"
        text = _ACCESS_TOKEN.sub(rb"\1<access token>\2", self.response_body[:2000])[:300].decode("utf-8", "replace")
        return f"{self.method} {self.url} -> {self.status} {text}"

    def curl(self, body_file: Path | None = None) -> str:
        """A shell command that repeats this exchange. ``body_file``: where the body is (or will be)
        written when it is too large or not text enough to go inline."""
        parts = ["curl", "-sS", "-i", "-X", self.method]
        if self.ca is not None:
            parts += ["--cacert", str(self.ca)]
        if self.identity is not None:
            parts += ["--cert", str(self.identity.cert), "--key", str(self.identity.key)]
        for name, value in self.shown_headers().items():
            parts += ["-H", f"{name}: {value}"]
        if self.shown_body is not None:
            if self.inline_body():
                parts += ["--data-binary", self.shown_body.decode("utf-8")]
            else:
                parts += ["--data-binary", f"@{body_file or 'body.bin'}"]
        parts.append(self.full_url)
        return " ".join(shlex.quote(p) for p in parts)

    def inline_body(self) -> bool:
        body = self.shown_body
        if body is None or len(body) > INLINE_LIMIT:
            return False
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return "\x00" not in text


def tls_context(ca: Path | None, identity: Identity | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key))
    return context


class Http:
    """httpx clients per identity (None: no client certificate), each with its own TLS context."""

    def __init__(self, ca: Path | None, timeout: float = 60.0) -> None:
        self.ca = ca
        self.timeout = timeout
        self._clients: dict[Identity | None, httpx.Client] = {}

    def client(self, identity: Identity | None) -> httpx.Client:
        if identity not in self._clients:
            self._clients[identity] = httpx.Client(verify=tls_context(self.ca, identity), timeout=self.timeout)
        return self._clients[identity]

    def send(self, exchange: Exchange) -> Exchange:
        try:
            response = self.client(exchange.identity).request(
                exchange.method, exchange.url, params=exchange.params, headers=exchange.headers, content=exchange.body
            )
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return exchange
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_body = response.content
        return exchange

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
