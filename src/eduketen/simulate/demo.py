"""`eduketen demo`: a realistic synthetic region on disk, a manifest, and a running HTTPS server.

Everything lands in one directory (default ``var/demo``): the database, a demo CA, a server
certificate, a client certificate and key per supplier, sample messages, and ``demo.json`` that
tells scripts and outside tools how to reach and drive the server. Running it again reuses
what exists."""

from __future__ import annotations

import json
import os
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from eduketen.config import Settings
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.doorstroomtoets.schemas import versions
from eduketen.migrations import upgrade
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.region import (
    Region,
    deelnemerslijst,
    generate_region,
    install_region,
    open_windows,
    schooladviezenlijst,
)

DEMO_SEED = 2026


@dataclass
class DemoSetup:
    directory: Path
    settings: Settings
    region: Region
    manifest: dict
    server_cert: Path
    server_key: Path
    ca_cert: Path


def _ensure_ca(pki: Path) -> CertificateAuthority:
    cert, key = pki / "ca.crt", pki / "ca.key"
    if cert.exists() and key.exists():
        return CertificateAuthority.load(cert, key)
    ca = CertificateAuthority.create("eduketen demo CA (not for production)")
    ca.write(pki, "ca")
    return ca


def _ensure_client(ca: CertificateAuthority, pki: Path, oin: str, name: str) -> tuple[Path, Path]:
    cert, key = pki / f"{oin}.crt", pki / f"{oin}.key"
    if not (cert.exists() and key.exists()):
        ca.issue_client(oin, name).write(pki, oin)
    return cert, key


def prepare(directory: Path, port: int, *, schools: int = 40, pupils: int = 30) -> DemoSetup:
    directory = directory.resolve()
    pki = directory / "pki"
    messages = directory / "messages"
    for d in (directory, pki, messages):
        d.mkdir(parents=True, exist_ok=True)
    token_file = directory / "admin-token"
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(24))
        token_file.chmod(0o600)
    region = generate_region(n_schools=schools, pupils_per_school=pupils, seed=DEMO_SEED)
    settings = Settings(
        database_url=f"sqlite:///{directory / 'eduketen.db'}",
        own_oin=region.toetsaanbieder.oin,
        admin_token=token_file.read_text().strip(),
        roles=["toetsaanbieder", "register"],
        log_json=False,
    )
    upgrade(settings.database_url)
    platform = Platform.build(settings)
    try:
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            open_windows(session)
    finally:
        platform.engine.dispose()

    ca = _ensure_ca(pki)
    server_cert, server_key = pki / "server.crt", pki / "server.key"
    if not (server_cert.exists() and server_key.exists()):
        ca.issue_server(["localhost", "127.0.0.1"]).write(pki, "server")
    suppliers = []
    for spec, role in [(region.toetsaanbieder, "toetsaanbieder"), *[(s, "las") for s in region.las_suppliers]]:
        cert, key = _ensure_client(ca, pki, spec.oin, spec.name)
        suppliers.append({"name": spec.name, "oin": spec.oin, "role": role, "system": spec.system, "cert": str(cert), "key": str(key)})

    for school in region.schools[:3]:
        for spec_key in ("v1.1", "2026-2027"):
            (messages / f"{school.brin}-{spec_key}-deelnemerslijst.json").write_text(
                json.dumps(deelnemerslijst(school, spec_key), indent=2, ensure_ascii=False)
            )
            (messages / f"{school.brin}-{spec_key}-schooladviezen.json").write_text(
                json.dumps(schooladviezenlijst(school, spec_key), indent=2, ensure_ascii=False)
            )

    base = f"https://127.0.0.1:{port}"
    manifest = {
        "what": "eduketen demo region: a test supplier (toetsaanbieder) and the schools whose LAS send to it",
        "server": {
            "url": base,
            "base_urls": {spec.version: base + spec.base_path for spec in versions().values()},
            "openapi": {spec.version: base + spec.base_path + "/openapi.json" for spec in versions().values()},
            "health": base + "/health",
            "admin_api": base + "/admin",
            "admin_token_file": str(token_file),
        },
        "client_certificate": {
            "how": "mutual TLS: present the supplier's client certificate and key in the TLS handshake; "
            "the OIN in its subject serialNumber identifies the supplier. Trust the demo CA for the server.",
            "ca": str(pki / "ca.crt"),
        },
        "database_url": settings.database_url,
        "toetsaanbieder": {"name": region.toetsaanbieder.name, "oin": region.toetsaanbieder.oin},
        "suppliers": suppliers,
        "schools": [
            {
                "name": s.name,
                "brin": s.brin,
                "oin": s.oin,
                "routeringskenmerken": [s.routing],
                "las_supplier_oin": s.las.oin,
                "pupils": len(s.pupils),
            }
            for s in region.schools
        ],
        "sample_messages": sorted(str(p) for p in messages.glob("*.json")),
    }
    (directory / "demo.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return DemoSetup(directory, settings, region, manifest, server_cert, server_key, pki / "ca.crt")


def example_requests(setup: DemoSetup) -> str:
    school = setup.region.schools[0]
    las = next(s for s in setup.manifest["suppliers"] if s["oin"] == school.las.oin)
    base = setup.manifest["server"]["base_urls"]["1.1.0"]
    msg = setup.directory / "messages" / f"{school.brin}-v1.1-deelnemerslijst.json"
    adv = setup.directory / "messages" / f"{school.brin}-v1.1-schooladviezen.json"
    curl = f"curl -sS --cacert {setup.ca_cert} --cert {las['cert']} --key {las['key']}"
    query = f"edu-to={school.oin}&edu-from={school.routing}"
    env = f"EDUKETEN_DATABASE_URL={setup.settings.database_url}"
    return "\n".join(
        [
            f"# {school.name} (BRIN {school.brin}) sends its pupil list through its LAS ({school.las.name}):",
            f"{curl} -H 'Content-Type: application/json' --data @{msg} '{base}/registreren?{query}'",
            "# ... and its provisional school advice:",
            f"{curl} -H 'Content-Type: application/json' --data @{adv} '{base}/registreren-schooladviezen?{query}'",
            "# an unknown school gets 405, a foreign certificate 401, a broken body 422:",
            f"{curl} -H 'Content-Type: application/json' --data '{{}}' '{base}/registreren?edu-to=0000000700099ZZ00000&edu-from={school.routing}'",
            "# the test supplier's staff view (what arrived per school):",
            f"{env} eduketen doorstroomtoets overzicht",
            "# the register's admin API:",
            f"curl -sS --cacert {setup.ca_cert} --cert {las['cert']} --key {las['key']} "
            f"-H \"Authorization: Bearer $(cat {setup.manifest['server']['admin_token_file']})\" "
            f"'{setup.manifest['server']['admin_api']}/mandates?school={school.brin}'",
        ]
    )


def seed_traffic(setup: DemoSetup, port: int, *, share: float = 0.6) -> dict[int, int]:
    """Post pupil lists and advice for part of the region over real HTTPS, as the LAS would, so
    the staff view has something to show. Some advice names pupils never registered."""
    manifest = setup.manifest
    certs = {s["oin"]: (s["cert"], s["key"]) for s in manifest["suppliers"]}
    base = manifest["server"]["base_urls"]["1.1.0"]
    outcome: dict[int, int] = {}
    clients: dict[str, httpx.Client] = {}
    try:
        for i, school in enumerate(setup.region.schools[: max(1, int(len(setup.region.schools) * share))]):
            client = clients.get(school.las.oin)
            if client is None:
                context = ssl.create_default_context(cafile=str(setup.ca_cert))
                context.load_cert_chain(*certs[school.las.oin])
                client = clients[school.las.oin] = httpx.Client(verify=context, timeout=30)
            params = {"edu-to": school.oin, "edu-from": school.routing}
            registered = school.pupils if i % 4 else school.pupils[:-3]  # some schools forget a few pupils
            for path, body in (
                ("/registreren", deelnemerslijst(school, "v1.1", pupils=registered)),
                ("/registreren-schooladviezen", schooladviezenlijst(school, "v1.1")),
            ):
                status = client.post(base + path, params=params, json=body).status_code
                outcome[status] = outcome.get(status, 0) + 1
    finally:
        for client in clients.values():
            client.close()
    return outcome


def run(directory: Path, port: int, *, schools: int = 40, pupils: int = 30, traffic: bool = True, serve: bool = True) -> DemoSetup:
    from rich.console import Console

    console = Console()
    setup = prepare(directory, port, schools=schools, pupils=pupils)
    console.print(f"[bold]eduketen demo[/bold] in {setup.directory}")
    console.print(f"  {len(setup.region.schools)} schools, {len(setup.region.las_suppliers)} LAS suppliers, test supplier {setup.region.toetsaanbieder.name}")
    console.print(f"  manifest: {setup.directory / 'demo.json'}")
    console.print(f"  server:   https://127.0.0.1:{port}  (API docs: https://127.0.0.1:{port}/docs)")
    console.print("\n[bold]Try:[/bold]")
    print(example_requests(setup) + "\n", flush=True)
    if not serve:
        return setup

    import uvicorn

    from eduketen.app import create_app
    from eduketen.core.logging import configure
    from eduketen.core.tls import ClientCertHttpToolsProtocol

    configure("INFO", json_lines=False)
    marker = setup.directory / ".traffic-seeded"
    if traffic and not marker.exists():

        def _seed():
            for _ in range(100):
                try:
                    httpx.get(f"https://127.0.0.1:{port}/health", verify=str(setup.ca_cert), timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            result = seed_traffic(setup, port)
            marker.write_text(json.dumps(result))
            console.print(f"[green]demo traffic sent:[/green] HTTP status counts {result}; see `eduketen doorstroomtoets overzicht`")

        threading.Thread(target=_seed, daemon=True).start()
    os.environ.setdefault("EDUKETEN_DATABASE_URL", setup.settings.database_url)
    uvicorn.run(
        create_app(setup.settings),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(setup.server_cert),
        ssl_keyfile=str(setup.server_key),
        ssl_ca_certs=str(setup.ca_cert),
        # Optional at the TLS layer so /health and /docs open in a browser; the exchange endpoints
        # still refuse a caller without a certificate (401).
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http=ClientCertHttpToolsProtocol,
        log_config=None,
        access_log=False,
    )
    return setup
