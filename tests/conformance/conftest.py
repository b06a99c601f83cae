"""eduketen served in-process by uvicorn over HTTPS with client certificates, so the conformance
suite can be pointed at it, and at deliberately broken variants of it (ASGI wrappers swapped in
front of the same app)."""

from __future__ import annotations

import asyncio
import json
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
from eduketen.simulate.processes import free_port
from eduketen.simulate.region import generate_region, install_region, open_windows

from ..conftest import make_settings


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


# -- Edu-V: the Results and Progress APIs --------------------------------------------------------------

RECEIVER_OIN = "00000003400000000000"  # the supplier running the results administration and the dashboard
SENDER_OIN = "00000003500000000000"  # the test/method supplier the suite plays


@dataclass
class EduvInstallation:
    platform: Platform
    switch: Switch
    server: InProcessServer
    region: object
    pki: Path
    keys: dict  # name -> path of a private key file
    school: tuple[str, str]  # with consent
    no_consent_school: tuple[str, str]

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def expired_token(self, client_id: str = "conformance-suite", scope: str = "eduv.result eduv.progress") -> str:
        """A token signed by this installation's own signing key, with claims as it issues them,
        that expired an hour ago."""
        return self.signed_token(client_id, scope, -3600)

    def signed_token(self, client_id: str, scope: str, expires_in: int) -> str:
        import time
        import uuid

        from joserfc import jwt

        from eduketen.core.oauth.keys import ALG

        kid, key = self.platform.views["oauth_keys"].signing_key()
        settings = self.platform.settings
        now = int(time.time())
        then, issued = now + expires_in, min(now, now + expires_in - 300)
        claims = {"iss": settings.issuer, "sub": client_id, "aud": settings.resource_audience, "client_id": client_id, "scope": scope,
                  "iat": issued, "nbf": issued, "exp": then, "jti": str(uuid.uuid4()), "supplier_oin": SENDER_OIN}  # fmt: skip
        return jwt.encode({"alg": ALG, "kid": kid, "typ": "at+jwt"}, claims, key, algorithms=[ALG])


def start_eduv(database_url: str, region, ca, tmp: Path) -> EduvInstallation:
    """A results administration and learning-materials dashboard: a sending system with an OAuth
    client (private_key_jwt), a client of it without the services' scopes, the first school's
    consent for results-api and progress-api, none from the second school."""
    from joserfc.jwk import ECKey, RSAKey

    from eduketen.core.oauth import service as oauth
    from eduketen.register import consent as consent_svc
    from eduketen.register import service as register

    port = free_port()
    settings = make_settings(
        database_url, region, own_oin=RECEIVER_OIN, public_url=f"https://127.0.0.1:{port}", trusted_proxies=[],
        data_dir=str(tmp / "data"), log_level="WARNING", auth_failure_burst=10_000,
    )  # fmt: skip
    platform = Platform.build(settings)
    rsa = RSAKey.generate_key(2048, parameters={"kid": "suite-rsa"})
    ec = ECKey.generate_key("P-256", parameters={"kid": "suite-ec"})
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        receiver = register.add_supplier(session, name="Resultaten en Dashboard BV", oin=RECEIVER_OIN)
        results_system = register.add_system(session, supplier=receiver, name=settings.results_system, kind="administratie")
        dashboard = register.add_system(session, supplier=receiver, name=settings.progress_system, kind="dashboard")
        sender = register.add_supplier(session, name="Toets en Methode BV", oin=SENDER_OIN)
        system = register.add_system(session, supplier=sender, name="Toets- en oefenplatform", kind="toetssysteem")
        public = {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}
        oauth.register_client(session, client_id="conformance-suite", supplier_oin=SENDER_OIN, name="Conformance suite",
                              scopes=["eduv.result", "eduv.progress", "eduv.consent"], jwks=public, system_id=system.id)  # fmt: skip
        oauth.register_client(session, client_id="conformance-consent-only", supplier_oin=SENDER_OIN, name="Conformance suite (consent)",
                              scopes=["eduv.consent"], jwks=public, system_id=system.id)  # fmt: skip
        school = register.get_school(session, region.schools[0].brin)
        for api, rcv in (("results-api", results_system), ("progress-api", dashboard)):
            consent = consent_svc.request(session, school=school, api=api, source=system, receiver=rcv, actor="test")
            consent_svc.activate(session, consent, actor="test")
            consent_svc.confirm(session, consent, actor="test")
    pki = tmp / "pki"
    ca.write(pki, "ca")
    ca.issue_server(["127.0.0.1", "localhost"]).write(pki, "server")
    keys = {"rsa-pem": pki / "suite-rsa.pem", "ec-jwk": pki / "suite-ec.jwk"}
    keys["rsa-pem"].write_bytes(rsa.as_pem(private=True))
    keys["ec-jwk"].write_text(json.dumps(ec.as_dict(private=True)))
    switch = Switch(create_app(settings, platform=platform))
    server = InProcessServer(switch, pki=pki, port=port)
    server.start()
    return EduvInstallation(platform, switch, server, region, pki, keys, ("BRIN", region.schools[0].brin), ("BRIN", region.schools[1].brin))


def eduv_target(inst: EduvInstallation, service: str, version: str = "1.0.0", **overrides):
    """Results: the RSA key as PEM, the wrong scope asked of the same client; progress: the EC key
    as a JWK, the wrong scope from a second client. Both with eduketen's admin API and an expired token."""
    from eduketen.conformance.target import SERVICE_VERSIONS, build_target

    major = SERVICE_VERSIONS[service][version]
    values = {
        "service": service, "version": version, "url": f"{inst.base}/{service}/{major}", "ca": inst.pki / "ca.crt",
        "token_url": f"{inst.base}/oauth/token", "client_id": "conformance-suite",
        "school": f"{inst.school[0]}:{inst.school[1]}", "no_consent_school": f"{inst.no_consent_school[0]}:{inst.no_consent_school[1]}",
        "admin_url": inst.base, "admin_token": "test-admin-token", "expired_token": inst.expired_token(), "timeout": 10.0,
    }  # fmt: skip
    if service == "toetsresultaten":
        values.update(key=inst.keys["rsa-pem"], wrong_scope="eduv.consent")
    else:
        values.update(key=inst.keys["ec-jwk"], wrong_scope_client_id="conformance-consent-only", bulk_records=5000)
    values.update(overrides)
    return build_target(**values)


def stop_eduv(inst: EduvInstallation) -> None:
    inst.server.stop()
    inst.platform.close()
