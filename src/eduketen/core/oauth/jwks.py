"""Fetching a JSON Web Key Set from a ``jwks_uri``, through a cache.

A set is kept ``cache_seconds``; a kid the cached set does not hold triggers a refetch at most
every ``refetch_seconds`` (key rotation at the client); when the server cannot be reached the
cached set is used. Only ``https://`` URIs are fetched, except on loopback (tests serve a JWKS
on 127.0.0.1). Bodies over 256 KB are refused."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

import httpx
import orjson

MAX_BYTES = 256 * 1024


class JwksUnavailable(Exception):
    pass


def check_jwks_uri(uri: str) -> str:
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "https" and parsed.hostname:
        return uri
    if parsed.scheme == "http" and parsed.hostname and _loopback(parsed.hostname):
        return uri
    raise ValueError("jwks_uri must be an https:// URL (http:// only on loopback)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Entry:
    jwks: dict
    fetched: float


class JwksFetcher:
    def __init__(self, *, cache_seconds: float, refetch_seconds: float, timeout: float, ca: str | None = None) -> None:
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self.timeout = timeout
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the network was asked (tests read this)

    def get(self, uri: str, kid: str | None = None) -> dict:
        now = time.monotonic()
        entry = self._entries.get(uri)
        if entry is not None:
            fresh = now - entry.fetched < self.cache_seconds
            has_kid = kid is None or any(k.get("kid") == kid for k in entry.jwks.get("keys", []))
            if fresh and (has_kid or now - entry.fetched < self.refetch_seconds):
                return entry.jwks
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None and time.monotonic() - entry.fetched < min(self.refetch_seconds, self.cache_seconds):
                return entry.jwks
            try:
                jwks = self._fetch(uri)
            except JwksUnavailable:
                if entry is not None:
                    return entry.jwks
                raise
            self._entries[uri] = _Entry(jwks, time.monotonic())
            return jwks

    def _fetch(self, uri: str) -> dict:
        check_jwks_uri(uri)
        self.fetches += 1
        try:
            with httpx.Client(timeout=self.timeout, verify=self._verify, follow_redirects=False) as client:
                with client.stream("GET", uri, headers={"Accept": "application/json"}) as response:
                    if response.status_code != 200:
                        raise JwksUnavailable(f"the JWKS at {uri} answered {response.status_code}")
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BYTES:
                            raise JwksUnavailable(f"the JWKS at {uri} is too large")
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"the JWKS at {uri} cannot be fetched ({type(exc).__name__})") from exc
        try:
            jwks = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise JwksUnavailable(f"the JWKS at {uri} is not JSON") from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise JwksUnavailable(f"the JWKS at {uri} has no 'keys' list")
        return jwks
