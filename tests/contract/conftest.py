"""Fixtures for the contract tests: the application as the test supplier runs it (the ``chain``
fixture: a migrated database, parametrized over SQLite and PostgreSQL, with the synthetic region
installed and the windows open), reached the way a LAS reaches it in production, through the
TLS-terminating proxy on loopback."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from schemathesis.python import asgi as schemathesis_asgi

from ..conftest import PROXY, Chain


@pytest.fixture
def chain_settings() -> dict:
    """The register view is cached as in production (``register_cache_seconds``; the shared test
    settings use 0 so that tests changing mandates see the change at once). With 0, every request
    starts a background reload of the whole register, which here costs about a third of the run;
    no contract test changes the register, so nothing else differs."""
    return {"register_cache_seconds": 300.0}


class BehindLoopbackProxy:
    """The ASGI application as the TLS-terminating proxy presents it: every request arrives from
    the proxy's loopback address, so the ``Client-Cert`` header (RFC 9440) is trusted, exactly as
    ``trusted_proxies=["127.0.0.1/32"]`` in the test settings says. (The in-process ASGI client of
    schemathesis reports every caller as ``testclient``, an address no proxy has.)

    The lifespan scope is declined before any message is read, which is how an ASGI application
    says it has no lifespan: the ``chain`` fixture's TestClient already ran the real lifespan (the
    inbox writer is running) and ends it; schemathesis must neither start nor stop it again.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan belongs to the chain fixture")
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "client": PROXY}
        await self.app(scope, receive, send)


@dataclass
class Edukoppeling:
    """What a LAS needs to be heard: its certificate, and a school that mandated it (and us)."""

    chain: Chain
    app: BehindLoopbackProxy
    school: object  # eduketen.simulate.region.SchoolSpec: .oin (edu-to), .routing (edu-from), .brin, .las
    cert_header: dict[str, str]


@pytest.fixture
def edukoppeling(chain) -> Edukoppeling:
    school = chain.region.schools[0]
    try:
        yield Edukoppeling(chain, BehindLoopbackProxy(chain.client.app), school, chain.cert_header(school.las.oin))
    finally:
        # schemathesis keeps the (declined) lifespan of every ASGI app it called, and with it a
        # reference to the app and its platform; let go of it with the database.
        schemathesis_asgi.shutdown_lifespans()
