"""eduketen served in-process by uvicorn over HTTPS with client certificates, so the conformance
suite can be pointed at it, and at deliberately broken variants of it (ASGI wrappers swapped in
front of the same app)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from eduketen.app import create_app
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.core.tls import ClientCertHttpToolsProtocol
from eduketen.simulate.region import generate_region, install_region, open_windows

from ..conftest import make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Switch:
    """An ASGI app that forwards to the real app, or to a variant wrapped around it."""

    def __init__(self, app) -> None:
        self.app = app
        self.variant = None

    async def __call__(self, scope, receive, send):
        handler = self.variant if (self.variant is not None and scope["type"] == "http") else self.app
        await handler(scope, receive, send)


class InProcessServer:
    def __init__(self, app, *, pki: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            ssl_certfile=str(pki / "server.crt"),
            ssl_keyfile=str(pki / "server.key"),
            ssl_ca_certs=str(pki / "ca.crt"),
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
            http=ClientCertHttpToolsProtocol,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-process server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Installation:
    platform: Platform
    switch: Switch
    server: InProcessServer
    region: object
    pki: Path
    certs: dict  # name -> (cert, key)
    ca: object

    def url(self, key: str = "v1.1") -> str:
        return f"https://127.0.0.1:{self.server.port}/doorstroomtoets/{key}"

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"


def write_pki(ca, tmp: Path, region, extra: dict[str, tuple[str, str]] | None = None) -> tuple[Path, dict]:
    pki = tmp / "pki"
    ca.write(pki, "ca")
    ca.issue_server(["127.0.0.1", "localhost"]).write(pki, "server")
    certs = {}
    for supplier in [region.toetsaanbieder, *region.las_suppliers]:
        certs[supplier.oin] = ca.issue_client(supplier.oin, supplier.name).write(pki, supplier.oin)
    for name, (oin, organisation) in (extra or {}).items():
        certs[name] = ca.issue_client(oin, organisation).write(pki, name)
    return pki, certs


@pytest.fixture(scope="module")
def conformance_region():
    return generate_region(n_schools=2, pupils_per_school=4, seed=11, n_las=2)


def start_toetsaanbieder(database_url: str, region, ca, tmp: Path, **overrides) -> Installation:
    """A test supplier installation: the region in its register, windows open, its worker running."""
    settings = make_settings(
        database_url, region, embedded_worker=True, trusted_proxies=[], register_cache_seconds=0.0,
        worker_poll_seconds=0.05, data_dir=str(tmp / "data"), log_level="WARNING", **overrides,
    )  # fmt: skip
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        open_windows(session)
    pki, certs = write_pki(ca, tmp, region)
    switch = Switch(create_app(settings, platform=platform))
    server = InProcessServer(switch, pki=pki)
    server.start()
    return Installation(platform, switch, server, region, pki, certs, ca)


def stop(installation: Installation) -> None:
    installation.server.stop()
    installation.platform.close()


def toetsaanbieder_target(inst: Installation, version: str = "1.1.0", **overrides):
    from eduketen.conformance.target import VERSIONS, build_target

    school = inst.region.schools[0]
    other = next(s for s in inst.region.las_suppliers if s.oin != school.las.oin)
    cert, key = inst.certs[school.las.oin]
    other_cert, other_key = inst.certs[other.oin]
    values = dict(
        service="doorstroomtoets", version=version, role="toetsaanbieder", url=inst.url(VERSIONS[version]),
        cert=cert, key=key, ca=inst.pki / "ca.crt", other_cert=other_cert, other_key=other_key,
        school_oin=school.oin, routing=school.routing, brin=school.brin,
        admin_url=inst.base, admin_token="test-admin-token", timeout=20.0,
    )  # fmt: skip
    values.update(overrides)
    return build_target(**values)


def start_las(database_url: str, region, ca, tmp: Path) -> Installation:
    """A LAS installation: the first school's pupils imported, results received, reports fetched
    through the outbox with its own client certificate."""
    from eduketen.doorstroomtoets import las

    school = region.schools[0]
    pki, certs = write_pki(ca, tmp, region, extra={"stranger": ("00000003999999999999", "Onbekende toetsaanbieder")})
    cert, key = certs[school.las.oin]
    settings = make_settings(
        database_url, region, roles=["las"], own_oin=school.las.oin, embedded_worker=True, trusted_proxies=[],
        register_cache_seconds=0.0, worker_poll_seconds=0.05, data_dir=str(tmp / "data"), log_level="WARNING",
        client_cert=str(cert), client_key=str(key), peer_ca=str(pki / "ca.crt"),
        outbox_backoff_base_seconds=0.2, outbox_backoff_max_seconds=1.0,
    )  # fmt: skip
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        rows = ["brin,schooljaar,groep_id,achternaam,roepnaam,eck_id,las_key,geboortedatum,advies"]
        for p in school.pupils:
            rows.append(f"{school.brin},2025-2026,{p.groep},{p.achternaam},{p.roepnaam},{p.eck_id or ''},{p.las_key},{p.geboortedatum},{p.advies}")
        assert not las.import_pupils_csv(session, "\n".join(rows)).rejected
    switch = Switch(create_app(settings, platform=platform))
    server = InProcessServer(switch, pki=pki)
    server.start()
    return Installation(platform, switch, server, region, pki, certs, ca)


def las_target(inst: Installation, **overrides):
    from eduketen.conformance.target import build_target

    school = inst.region.schools[0]
    pupil = school.pupils[0]
    cert, key = inst.certs[inst.region.toetsaanbieder.oin]
    other_cert, other_key = inst.certs["stranger"]
    values = dict(
        service="doorstroomtoets", version="1.1.0", role="las", url=inst.url("v1.1"),
        cert=cert, key=key, ca=inst.pki / "ca.crt", other_cert=other_cert, other_key=other_key,
        school_oin=school.oin, routing=school.routing, brin=school.brin,
        pupil_ref=("LAS-key", pupil.las_key), las_oin=school.las.oin,
        report_listen=f"127.0.0.1:{free_port()}", report_cert=inst.pki / "server.crt", report_key=inst.pki / "server.key",
        timeout=20.0,
    )  # fmt: skip
    values.update(overrides)
    return build_target(**values)
