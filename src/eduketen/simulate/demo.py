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
RESULTS_SUPPLIER = ("Toetsplatform Zuid (demo)", "00000003000000003000", "Toetsplatform")
PROGRESS_SUPPLIER = ("Lesmethode Oost (demo)", "00000003000000005000", "Oefenplatform")
RESULTS_RECEIVER = "Resultatenadministratie"
SWITCHED_OFF_SUPPLIER = ("Digitale Toetsen West (demo)", "00000003000000006000", "Toetsomgeving")
PREVIOUS_TEST_SUPPLIER = ("Toetsbureau Oost (demo)", "00000003000000007000", "Eindtoets-systeem")
BOARD_PEOPLE = [("Marieke de Wit", "OSR-beheerder"), ("Jeroen Bos", "functioneel beheerder ICT"), ("Fatima El Idrissi", "bestuurssecretaris"),
                ("Kees van Dam", "OSR-beheerder"), ("Lotte Hendriks", "informatiemanager"), ("Sander Kok", "OSR-beheerder")]
DEMO_CLIENT = "demo-toetsplatform"
PROGRESS_CLIENT = "demo-lesmethode"


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
        public_url=f"https://127.0.0.1:{port}",
        results_system=RESULTS_RECEIVER,
    )
    upgrade(settings.database_url)
    platform = Platform.build(settings)
    try:
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            open_windows(session)
            results = _seed_results(session, region, directory)
            progress = _seed_progress(session, region, directory, settings)
            progress["key_file"] = _seed_progress_client(session, directory)
            releases = _seed_releases(session, region, directory)
            _seed_landscape(session, region, settings)
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
        "results": {
            "what": "Edu-V results exchange: a test platform posts results with an OAuth token; the school decides (consent)",
            "token_endpoint": f"{base}/oauth/token",
            "results_endpoint": f"{base}/toetsresultaten/v1/results",
            "client_id": DEMO_CLIENT,
            "client_key": results["key_file"],
            "sample_bundle": results["bundle_file"],
            "staff_pages": f"{base}/insight/",
            "staff_login_file": results["login_file"],
        },
        "progress": {
            "what": "Edu-V Progress API and the mentor's pages: synthetic progress with planted patterns in two groups",
            "put_endpoint": f"{base}/leervoortgang/v1/progress/{{id}}",
            "bulk_endpoint": f"{base}/leervoortgang/v1/progress",
            "mentor_pages": f"{base}/insight/groups",
            "mentor_login_file": progress["login_file"],
        },
        "keurmerk": {
            "what": "change and release: the release calendar, chain-test periods with 1-on-1 pairings, reminders, the desk (meldpunt)",
            "calendar_page": f"{base}/insight/kalender",
            "calendar_json": f"{base}/keurmerk/kalender",
            "board_page": f"{base}/insight/ketentest",
            "board_json": f"{base}/keurmerk/ketentests",
            "desk_page": f"{base}/insight/meldpunt",
            "platform_login_file": releases["login_file"],
            "reminders": f"{base}/admin/keurmerk/reminders",
        },
        "register_pages": {
            "what": "public mandate check, the school's mandates and board administrators, its application landscape, the keurmerk",
            "mandate_check": f"{base}/insight/mandaatcheck?school={region.schools[0].brin}&leverancier={region.schools[0].las.oin}&dienst=doorstroomtoets",
            "mandates": f"{base}/insight/mandaten",
            "landscape": f"{base}/insight/landschap",
            "keurmerk": f"{base}/insight/keurmerk",
        },
    }
    manifest["conformance"] = _conformance_manifests(directory, base, pki / "ca.crt", token_file, region, results, progress)
    (directory / "demo.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return DemoSetup(directory, settings, region, manifest, server_cert, server_key, pki / "ca.crt")


def _seed_releases(session, region: Region, directory: Path) -> dict:
    """The keurmerk's calendar, chain tests, reminders and desk tickets, and a platform administrator."""
    from eduketen.core.platform import today_nl
    from eduketen.insight.security import create_account
    from eduketen.simulate import releases

    outcome = releases.seed(session, region, today=today_nl())
    login_file = directory / "platform-login"
    if not login_file.exists():
        username, password = "ketencoordinator", secrets.token_urlsafe(12)
        create_account(session, username=username, password=password, role="platform-admin", display_name="Ketencoördinator (demo)")
        login_file.write_text(f"{username}\n{password}\n")
        login_file.chmod(0o600)
    return {**outcome, "login_file": str(login_file)}


def _seed_results(session, region: Region, directory: Path) -> dict:
    """The results exchange of the demo: this installation's receiving system, a test platform
    with an OAuth client (its private key in pki/), consent of the first school (the second has
    only a request), a school-administrator account, and a sample bundle. Reused when present."""
    from joserfc.jwk import ECKey

    from eduketen.core.oauth import service as oauth
    from eduketen.insight.models import StaffAccount
    from eduketen.insight.security import create_account
    from eduketen.register import consent
    from eduketen.register import repository as repo
    from eduketen.register import service as register

    own = register.get_supplier(session, region.toetsaanbieder.oin)
    receiver = repo.system_by_name(session, own.id, RESULTS_RECEIVER) or register.add_system(
        session, supplier=own, name=RESULTS_RECEIVER, kind="administratie")  # fmt: skip
    name, oin, system_name = RESULTS_SUPPLIER
    supplier = repo.supplier_by_oin(session, oin) or register.add_supplier(session, name=name, oin=oin)
    source = repo.system_by_name(session, supplier.id, system_name) or register.add_system(
        session, supplier=supplier, name=system_name, kind="toetssysteem")  # fmt: skip
    key_file = directory / "pki" / f"{DEMO_CLIENT}.jwk"
    if oauth.client_by_id(session, DEMO_CLIENT) is None:
        key = ECKey.generate_key("P-256", parameters={"kid": f"{DEMO_CLIENT}-1", "alg": "ES256", "use": "sig"})
        key_file.write_text(json.dumps(key.as_dict(private=True)))
        key_file.chmod(0o600)
        oauth.register_client(session, client_id=DEMO_CLIENT, supplier_oin=oin, name=name, scopes=["eduv.result", "eduv.consent"],
                              jwks={"keys": [key.as_dict(private=False)]}, system_id=source.id)  # fmt: skip
    first, second = region.schools[0], region.schools[1]
    for spec, state in ((first, "confirmed"), (second, "requested")):
        school = register.get_school(session, spec.brin)
        if consent.find(session, school.id, "results-api", source.id, receiver.id) is None:
            c = consent.request(session, school=school, api="results-api", source=source, receiver=receiver, actor="demo")
            if state == "confirmed":
                consent.activate(session, c, actor="demo")
                consent.confirm(session, c, actor="demo")
    login_file = directory / "staff-login"
    username = f"beheer-{first.brin.lower()}"
    from sqlalchemy import select

    if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is None:
        password = secrets.token_urlsafe(12)
        create_account(session, username=username, password=password, role="school-administrator",
                       display_name=f"Schoolbeheerder {first.name}", school_id=register.get_school(session, first.brin).id)  # fmt: skip
        login_file.write_text(f"{username}\n{password}\n")
        login_file.chmod(0o600)
    bundle_file = directory / "messages" / "results-bundle.json"
    bundle_file.write_text(json.dumps(_sample_bundle(first), indent=2))
    return {"key_file": str(key_file), "login_file": str(login_file), "bundle_file": str(bundle_file)}


def _sample_bundle(school) -> dict:
    return {
        "school": {"idType": "BRIN", "id": school.brin},
        "schoolYear": "2025-2026",
        "assessment": {
            "id": "demo-rekenen-2026-voorjaar",
            "assessmentDateTime": "2026-04-14T08:30:00Z",
            "assessmentDefinition": {"id": "rekenen-eind-groep-8", "name": "Rekenen eind groep 8",
                                     "parts": [{"id": "getallen", "index": 1, "name": "Getallen"}, {"id": "verhoudingen", "index": 2, "name": "Verhoudingen"}]},
        },
        "scoreScales": [
            {"id": "vaardigheid", "type": "numeric", "min": 0, "max": 300, "decimals": 0},
            {"id": "cijfer", "type": "grade", "decimals": 1},
            {"id": "referentieniveau", "type": "referenceLevel", "levels": ["1F", "2F", "1S"]},
            {"id": "percentiel", "type": "percentile"},
        ],
        "students": [
            {"student": {"eckId": p.eck_id} if p.eck_id else {"userId": p.las_key, "userIdType": "LAS-key"},
             "status": "Definitief", "releasedAt": "2026-04-20T12:00:00Z",
             "scores": [{"kind": "total", "scale": "vaardigheid", "value": 150 + i * 3},
                        {"kind": "detail", "part": "getallen", "scale": "vaardigheid", "value": 70 + i}],
             "results": [{"kind": "grade", "scale": "cijfer", "value": f"{5 + i % 5}.{i % 10}"},
                         {"kind": "referenceLevel", "part": "getallen", "scale": "referentieniveau", "value": ["1F", "2F", "1S"][i % 3]},
                         {"kind": "percentile", "scale": "percentiel", "value": (i * 17) % 100}]}
            for i, p in enumerate(school.pupils[:10])
        ],
    }  # fmt: skip


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
            "",
            "# Edu-V results: a test platform gets an OAuth token (private_key_jwt) and posts results for a school",
            f"ASSERTION=$({env} eduketen oauth assertion --client-id {DEMO_CLIENT} --key {setup.manifest['results']['client_key']} "
            f"--audience {setup.manifest['results']['token_endpoint']})",
            f"TOKEN=$(curl -sS --cacert {setup.ca_cert} -d grant_type=client_credentials -d client_id={DEMO_CLIENT} "
            "-d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "
            f"--data-urlencode client_assertion=$ASSERTION {setup.manifest['results']['token_endpoint']} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f"curl -sS -i --cacert {setup.ca_cert} -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
            f"--data @{setup.manifest['results']['sample_bundle']} {setup.manifest['results']['results_endpoint']}",
            f"# the school decides: log in as its administrator at {setup.manifest['results']['staff_pages']}",
            f"#   (username and password in {setup.manifest['results']['staff_login_file']}), switch 'toetsresultaten' off, post again: 403",
            "",
            "# the conformance suite against this installation's Results and Progress APIs (OAuth tokens, reports with curl lines):",
            *(f"eduketen conformance run --service {name} --manifest {setup.manifest['conformance'][name]} --html "
              f"{setup.directory / f'conformance-{name}.html'}" for name in ("results", "progress")),
        ]
    )


def _seed_progress_client(session, directory: Path) -> str:
    """An OAuth client of the demo's method supplier (scope eduv.progress), its key in pki/."""
    from joserfc.jwk import RSAKey

    from eduketen.core.oauth import service as oauth
    from eduketen.register import repository as repo

    key_file = directory / "pki" / f"{PROGRESS_CLIENT}.pem"
    if oauth.client_by_id(session, PROGRESS_CLIENT) is None:
        method = repo.supplier_by_oin(session, PROGRESS_SUPPLIER[1])
        system = repo.system_by_name(session, method.id, PROGRESS_SUPPLIER[2])
        key = RSAKey.generate_key(2048, parameters={"kid": f"{PROGRESS_CLIENT}-1"})
        key_file.write_bytes(key.as_pem(private=True))
        key_file.chmod(0o600)
        oauth.register_client(session, client_id=PROGRESS_CLIENT, supplier_oin=PROGRESS_SUPPLIER[1], name=PROGRESS_SUPPLIER[0],
                              scopes=["eduv.progress", "eduv.consent"], jwks={"keys": [key.as_dict(private=False)]}, system_id=system.id)  # fmt: skip
    return str(key_file)


def _conformance_manifests(directory: Path, base: str, ca: Path, token_file: Path, region: Region, results: dict, progress: dict) -> dict:
    """Suite manifests for `eduketen conformance run --service results|progress` against the demo:
    the first school gave consent, the second did not; eduketen's admin API observes effects."""
    common = {"ca": str(ca), "token_url": f"{base}/oauth/token", "wrong_scope": "eduv.consent",
              "school": f"BRIN:{region.schools[0].brin}", "no_consent_school": f"BRIN:{region.schools[1].brin}",
              "admin_url": base, "admin_token_file": str(token_file)}  # fmt: skip
    results_urls = {"1.0.0": f"{base}/toetsresultaten/v1", "0.9.0": f"{base}/toetsresultaten/v0"}
    targets = {
        "results": {**common, "url": results_urls, "client_id": DEMO_CLIENT, "key": results["key_file"]},
        "progress": {**common, "url": {"1.0.0": f"{base}/leervoortgang/v1"}, "client_id": PROGRESS_CLIENT, "key": progress["key_file"]},
    }
    paths = {}
    for name, doc in targets.items():
        path = directory / f"conformance-{name}.json"
        path.write_text(json.dumps(doc, indent=2))
        paths[name] = str(path)
    return paths


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


def _seed_progress(session, region: Region, directory: Path, settings) -> dict:
    """Learning progress of the demo: this installation's dashboard system, a method supplier with
    consent of the first school, two groups with planted patterns and a mentor of the first group."""
    from datetime import UTC, datetime

    from eduketen.insight.security import create_account
    from eduketen.leervoortgang import repository as progress_repo
    from eduketen.leervoortgang import service as progress_svc
    from eduketen.register import consent
    from eduketen.register import repository as repo
    from eduketen.register import service as register
    from eduketen.simulate.progress import plant

    login_file = directory / "mentor-login"
    first = region.schools[0]
    username = f"mentor-{first.brin.lower()}"
    if progress_repo.account_by_username(session, username) is not None:
        return {"login_file": str(login_file)}
    own = register.get_supplier(session, settings.own_oin or region.toetsaanbieder.oin)
    dashboard = repo.system_by_name(session, own.id, settings.progress_system) or register.add_system(
        session, supplier=own, name=settings.progress_system, kind="dashboard")  # fmt: skip
    method = repo.supplier_by_oin(session, PROGRESS_SUPPLIER[1]) or register.add_supplier(session, name=PROGRESS_SUPPLIER[0], oin=PROGRESS_SUPPLIER[1])
    source = repo.system_by_name(session, method.id, PROGRESS_SUPPLIER[2]) or register.add_system(
        session, supplier=method, name=PROGRESS_SUPPLIER[2], kind="leermiddel")  # fmt: skip
    school = register.get_school(session, first.brin)
    if consent.find(session, school.id, "progress-api", source.id, dashboard.id) is None:
        c = consent.request(session, school=school, api="progress-api", source=source, receiver=dashboard, actor="demo")
        consent.activate(session, c, actor="demo")
        consent.confirm(session, c, actor="demo")
    groups = plant(session, school_id=school.id, brin=school.brin, schooljaar="2026-2027", source_system_id=source.id,
                   until=datetime.now(UTC), thresholds=progress_svc.Thresholds.from_settings(settings), n_groups=2, size=25, seed=2026)  # fmt: skip
    password = secrets.token_urlsafe(12)
    create_account(session, username=username, password=password, role="mentor", display_name=f"Mentor {groups[0].group_external_id}",
                   school_id=school.id)  # fmt: skip
    progress_svc.assign_mentor(session, username=username, school_id=school.id, schooljaar="2026-2027",
                               group_external_id=groups[0].group_external_id)  # fmt: skip
    login_file.write_text(f"{username}\n{password}\n")
    login_file.chmod(0o600)
    return {"login_file": str(login_file)}


def _seed_landscape(session, region: Region, settings) -> None:
    """What the register pages show: boards with the people who administer their mandates, the
    first school's mandate history (a previous test supplier whose mandate expired, one revoked,
    one starting next month), a flow the school switched off that a supplier keeps trying, a pupil
    list accepted but not processed, results received, and the test supplier qualified for the
    keurmerk (on a synthetic report: the demo runs no conformance suite). Reused when present."""
    from datetime import UTC, date, datetime, timedelta

    from eduketen.core.models import InboxMessage
    from eduketen.doorstroomtoets.schemas import SERVICE
    from eduketen.keurmerk import repository as keurmerk_repo
    from eduketen.keurmerk import service as keurmerk
    from eduketen.register import consent
    from eduketen.register import repository as repo
    from eduketen.register import service as register
    from eduketen.toetsresultaten import service as results
    from eduketen.toetsresultaten.schemas import AssessmentScoresAndResults

    first = region.schools[0]
    school = register.get_school(session, first.brin)
    if school.board is not None:
        return
    places = sorted({s.name.split()[-1] for s in region.schools if not s.name.split()[-1].isdigit()})
    for i, spec in enumerate(region.schools):
        board = f"Stichting Primair Onderwijs {places[i % len(places)] if places else 'Regio'}"
        register.get_school(session, spec.brin).board = board
        if not repo.board_administrators(session, board):
            for name, role in BOARD_PEOPLE[(i % 3) * 2 : (i % 3) * 2 + 2]:
                slug = name.lower().replace(" ", ".")
                register.add_board_administrator(session, board=board, name=name, role=role, email=f"{slug}@{board.split()[-1].lower()}.bestuur.example",
                                                 phone=f"038-{4000000 + i * 37 + len(name):07d}")  # fmt: skip
    today = date.today()
    # mandate history: the previous test supplier, expired; a revoked one; one from next month
    name, oin, system_name = PREVIOUS_TEST_SUPPLIER
    previous = repo.supplier_by_oin(session, oin) or register.add_supplier(session, name=name, oin=oin)
    old_system = repo.system_by_name(session, previous.id, system_name) or register.add_system(session, supplier=previous, name=system_name, kind="toetssysteem")
    old_version = register.get_service_version(session, SERVICE, "1.0.1")
    register.grant_mandate(session, school=school, system=old_system, service_version=old_version, start=today - timedelta(days=500),
                           end=today - timedelta(days=140))  # fmt: skip
    revoked = register.grant_mandate(session, school=school, system=old_system, service_version=register.get_service_version(session, SERVICE, "1.1.0"),
                                     start=today - timedelta(days=100))  # fmt: skip
    register.revoke_mandate(session, revoked.id)
    own = register.get_supplier(session, region.toetsaanbieder.oin)
    own_system = register.get_system(session, own, region.toetsaanbieder.system)
    draft = register.get_service_version(session, SERVICE, "2026-2027")
    register.grant_mandate(session, school=school, system=own_system, service_version=draft, start=today + timedelta(days=31))
    # a flow the school switched off, and a supplier that keeps sending on it
    receiver = repo.system_by_name(session, own.id, RESULTS_RECEIVER)
    name, oin, system_name = SWITCHED_OFF_SUPPLIER
    west = repo.supplier_by_oin(session, oin) or register.add_supplier(session, name=name, oin=oin)
    west_system = repo.system_by_name(session, west.id, system_name) or register.add_system(session, supplier=west, name=system_name, kind="toetssysteem")
    relation = consent.request(session, school=school, api="results-api", source=west_system, receiver=receiver, actor="demo")
    consent.activate(session, relation, actor="demo")
    consent.confirm(session, relation, actor="demo")
    consent.revoke(session, relation, actor=f"staff:beheer-{first.brin.lower()}")
    for _ in range(4):
        consent.record_refusal(session, school_id=school.id, api="results-api", source_system_id=west_system.id, receiving_system_id=receiver.id,
                               reason="The school has switched off toetsresultaten (results-api) between your system and this system.")  # fmt: skip
    # results received from the test platform the school lets in
    name, oin, system_name = RESULTS_SUPPLIER
    zuid = repo.system_by_name(session, repo.supplier_by_oin(session, oin).id, system_name)
    bundle = AssessmentScoresAndResults.model_validate(_sample_bundle(first))
    results.store(session, bundle, school_id=school.id, source_system_id=zuid.id, api_version="1")
    # the Doorstroomtoets chain: a pupil list processed yesterday, advice accepted but not processed
    now = datetime.now(UTC)
    for n, (operation, status, error, at) in enumerate((
        ("registreren", "done", None, now - timedelta(days=1)),
        ("registreren-schooladviezen", "failed", "PermanentError: school year 2025-2026 has no advice window open", now - timedelta(hours=3)),
    )):  # fmt: skip
        session.add(InboxMessage(id=f"00000000-0000-4000-8000-{n + 1:012d}", service=SERVICE, version="1.1.0", operation=f"{SERVICE}.{operation}",
                                 school_oin=first.oin, routing=first.routing, sender_oin=first.las.oin, schooljaar="2025-2026",
                                 idempotency_key=f"demo-landscape-{n}", payload=None, item_count=len(first.pupils), status=status, attempts=1,
                                 received_at=at, available_at=at, processed_at=at, last_error=error))  # fmt: skip
    # the keurmerk: the test supplier qualified for 1.1.0 (synthetic report, say so), a LAS at intake
    if not keurmerk_repo.admissions(session, supplier_id=own.id, service_id=None):
        from eduketen.conformance.runner import select as scenarios_of

        admission = keurmerk.apply(session, supplier_oin=own.oin, service=SERVICE, role="toetsaanbieder", on=today - timedelta(days=90))
        for stage, days in (("intake", 80), ("intentieverklaring", 70), ("basiskwalificatie", 60)):
            keurmerk.complete(session, admission.id, stage=stage, on=today - timedelta(days=days))
        summary = {"suite": keurmerk.SUITE, "service": SERVICE, "role": "toetsaanbieder", "version": "1.1.0",
                   "url": "demo: synthetisch rapport, geen echte testrun", "started": (today - timedelta(days=55)).isoformat(),
                   "scenarios": [{"name": sc.name, "status": "passed"} for sc in scenarios_of("toetsaanbieder", "1.1.0")]}  # fmt: skip
        evidence = keurmerk.add_evidence(session, admission.id, summary=summary)
        keurmerk.qualify(session, admission.id, version="1.1.0", evidence_id=evidence.id, on=today - timedelta(days=50))
        keurmerk.apply(session, supplier_oin=first.las.oin, service=SERVICE, role="las", on=today - timedelta(days=20))


def run(directory: Path, port: int, *, schools: int = 40, pupils: int = 30, traffic: bool = True, serve: bool = True) -> DemoSetup:
    from rich.console import Console

    console = Console(soft_wrap=True)  # a password or a URL must not break across lines
    setup = prepare(directory, port, schools=schools, pupils=pupils)
    console.print(f"[bold]eduketen demo[/bold] in {setup.directory}")
    console.print(f"  {len(setup.region.schools)} schools, {len(setup.region.las_suppliers)} LAS suppliers, test supplier {setup.region.toetsaanbieder.name}")
    console.print(f"  manifest: {setup.directory / 'demo.json'}")
    console.print(f"  server:   https://127.0.0.1:{port}  (API docs: https://127.0.0.1:{port}/docs)")
    login = Path(setup.manifest["results"]["staff_login_file"])
    if login.exists():
        username, password = login.read_text().split()[:2]
        console.print(f"  staff pages: https://127.0.0.1:{port}/insight/  log in as [bold]{username}[/bold] / [bold]{password}[/bold]"
                      f" (school administrator of {setup.region.schools[0].name})")  # fmt: skip
    mentor = Path(setup.manifest["progress"]["mentor_login_file"])
    if mentor.exists():
        username, password = mentor.read_text().split()[:2]
        console.print(f"  mentor pages: https://127.0.0.1:{port}/insight/  log in as [bold]{username}[/bold] / [bold]{password}[/bold]"
                      " (a group with planted progress patterns)")  # fmt: skip
    platform_login = Path(setup.manifest["keurmerk"]["platform_login_file"])
    console.print(f"  release calendar (public): https://127.0.0.1:{port}/insight/kalender   chain-test board: https://127.0.0.1:{port}/insight/ketentest")
    if platform_login.exists():
        username, password = platform_login.read_text().split()[:2]
        console.print(f"  desk (meldpunt): https://127.0.0.1:{port}/insight/meldpunt  log in as [bold]{username}[/bold] / [bold]{password}[/bold]"
                      " (platform administrator); reminders: `eduketen keurmerk herinneringen`, tickets: `eduketen keurmerk meldingen`")  # fmt: skip
    pages = setup.manifest["register_pages"]
    console.print(f"  mandate check (public): {pages['mandate_check']}")
    console.print(f"  the school's mandates and board administrators: {pages['mandates']}; its application landscape "
                  f"(a refused flow, an unprocessed list, an expired mandate): {pages['landscape']}  (log in as the staff user above)")  # fmt: skip
    console.print(f"  keurmerk participants (public): {pages['keurmerk']}")
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
