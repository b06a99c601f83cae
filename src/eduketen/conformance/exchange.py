"""One HTTP exchange with the implementation under test, as the suite made it, and the ``curl``
line that makes it again by hand."""

from __future__ import annotations

import shlex
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from eduketen.conformance.target import Identity

INLINE_LIMIT = 1500  # bodies up to this size go inline in the curl line, larger ones in a file


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

    def summary(self) -> str:
        if self.error:
            return f"{self.method} {self.url}: no answer ({self.error})"
        text = self.response_body[:300].decode("utf-8", "replace")
        return f"{self.method} {self.url} -> {self.status} {text}"

    def curl(self, body_file: Path | None = None) -> str:
        """A shell command that repeats this exchange. ``body_file``: where the body is (or will be)
        written when it is too large or not text enough to go inline."""
        parts = ["curl", "-sS", "-i", "-X", self.method]
        if self.ca is not None:
            parts += ["--cacert", str(self.ca)]
        if self.identity is not None:
            parts += ["--cert", str(self.identity.cert), "--key", str(self.identity.key)]
        for name, value in self.headers.items():
            parts += ["-H", f"{name}: {value}"]
        if self.body is not None:
            if self.inline_body():
                parts += ["--data-binary", self.body.decode("utf-8")]
            else:
                parts += ["--data-binary", f"@{body_file or 'body.bin'}"]
        parts.append(self.full_url)
        return " ".join(shlex.quote(p) for p in parts)

    def inline_body(self) -> bool:
        if self.body is None or len(self.body) > INLINE_LIMIT:
            return False
        try:
            text = self.body.decode("utf-8")
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
