"""A small HTTP/1.1 client for the outbox: persistent connections (keep-alive), a pool per
destination (scheme, host, port), asyncio streams with TLS and a client certificate.

Why not httpx: profiled in the chain test (py-spy on both installations' workers), httpx and
httpcore took about a third of each worker's CPU for one small request per pupil: per request
its pool looks at every connection (``has_expired``: a ``getpeername`` and a ``select`` each),
and httpcore looks for ``sniffio`` with an import that fails every time when it is not
installed. The outbox needs very little of HTTP: one request with a ``Content-Length`` body,
a response with ``Content-Length``, chunked, or read-until-close body, and keep-alive.

Rules kept: a connection is reused only when the server did not ask to close it and it was idle
for less than ``idle_seconds`` (below uvicorn's default keep-alive of 5 s). A request on a reused
connection that fails before any byte of the answer came (the server closed it meanwhile) is sent
once more on a new connection, as browsers do; the receivers of the outbox are idempotent
(inbox idempotency keys, standlevering), so a repeat has one effect. Any other failure is
reported as "no answer" with the exception's type name, and the outbox retries later.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


class PeerHttpError(Exception):
    """The answer was not HTTP/1.1 as expected (the outbox treats it as no answer)."""


class _Stale(Exception):
    """A reused connection was closed by the peer before it answered."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


class _Connection:
    __slots__ = ("last_used", "reader", "uses", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.last_used = time.monotonic()
        self.uses = 0

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken transport
            self.writer.close()


class _Pool:
    def __init__(self, limit: int) -> None:
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(limit)


class PeerClient:
    """One client per deliverer; at most ``per_origin`` connections to each destination."""

    def __init__(self, ssl_context: ssl.SSLContext | None, *, timeout: float = 10.0, per_origin: int = 16,
                 idle_seconds: float = 2.0) -> None:  # fmt: skip
        self._ssl = ssl_context
        self._timeout = timeout
        self._per_origin = per_origin
        self._idle = idle_seconds
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self.connections_opened = 0

    async def request(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise PeerHttpError(f"unsupported URL {url!r}")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = f"[{host}]" if ":" in host else host
        if parts.port:
            host_header += f":{port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Accept: */*", "Connection: keep-alive"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data = head + (body or b"")
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self._per_origin)
        async with pool.slots:
            return await asyncio.wait_for(self._exchange(pool, key, data, method), self._timeout)

    async def _exchange(self, pool: _Pool, key: tuple[str, str, int], data: bytes, method: str) -> Answer:
        connection = self._reuse(pool)
        if connection is not None:
            try:
                return await self._once(pool, connection, data, method)
            except _Stale:
                pass  # the peer closed it meanwhile: once more on a new connection
        connection = await self._open(key)
        try:
            return await self._once(pool, connection, data, method)
        except _Stale as exc:
            raise ConnectionResetError("connection closed before an answer") from exc

    def _reuse(self, pool: _Pool) -> _Connection | None:
        now = time.monotonic()
        while pool.idle:
            connection = pool.idle.pop()
            if now - connection.last_used < self._idle and not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    async def _open(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        if scheme == "https":
            context = self._ssl if self._ssl is not None else ssl.create_default_context()
            reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host, limit=MAX_HEADER_BYTES)
        else:
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
        self.connections_opened += 1
        return _Connection(reader, writer)

    async def _once(self, pool: _Pool, connection: _Connection, data: bytes, method: str) -> Answer:
        reused = connection.uses > 0
        received_any = False
        keep = False
        try:
            connection.writer.write(data)
            await connection.writer.drain()
            try:
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _Stale() from exc
                raise
            except asyncio.LimitOverrunError as exc:
                raise PeerHttpError("response header too large") from exc
            received_any = True
            status, headers = _parse_head(head)
            while 100 <= status < 200:  # an interim answer (103 Early Hints, ...): the real one follows
                status, headers = _parse_head(await connection.reader.readuntil(b"\r\n\r\n"))
            body, keep = await _read_body(connection.reader, status, headers, method)
            connection.uses += 1
            return Answer(status, body, headers.get("content-type", ""))
        except (ConnectionResetError, BrokenPipeError) as exc:
            if reused and not received_any:
                raise _Stale() from exc
            raise
        finally:
            if keep:
                connection.last_used = time.monotonic()
                pool.idle.append(connection)
            else:
                connection.close()

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()
        self._pools.clear()
        await asyncio.sleep(0)  # let the transports finish closing


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        raise PeerHttpError("not an HTTP/1.1 status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise PeerHttpError("malformed header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if status_line[0] == "HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower():
        headers["connection"] = "close"  # HTTP/1.0 closes unless it says otherwise
    return int(status_line[1]), headers


async def _read_body(reader: asyncio.StreamReader, status: int, headers: dict[str, str], method: str) -> tuple[bytes, bool]:
    """The body, and whether the connection can carry another request."""
    keep = "close" not in headers.get("connection", "").lower()
    if method == "HEAD" or status in (204, 304):
        return b"", keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        size_total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks), keep
            size_total += size
            if size_total > MAX_BODY_BYTES:
                raise PeerHttpError("response body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise PeerHttpError("bad Content-Length")
        n = int(length)
        if n > MAX_BODY_BYTES:
            raise PeerHttpError("response body too large")
        return (await reader.readexactly(n) if n else b""), keep
    body = await reader.read(MAX_BODY_BYTES + 1)  # no length: the body ends when the peer closes
    rest = [body]
    while body:
        body = await reader.read(65536)
        rest.append(body)
        if sum(map(len, rest)) > MAX_BODY_BYTES:
            raise PeerHttpError("response body too large")
    return b"".join(rest), False
