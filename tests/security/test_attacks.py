"""Attacks on every endpoint, counted: each attempt is recorded with whether it leaked, and the
run ends with "security attempts made: N, leaks found: M" (goal 0).

- every route the application serves is in the catalogue below (a new endpoint without an
  entry fails ``test_every_endpoint_is_in_the_catalogue``);
- no certificate or token, a token for another scope, a supplier without a mandate, the LAS of
  another school, a report of another school's pupil;
- mass assignment of fields the caller may not set;
- per-client limits (failed authentication, OSR reads);
- oversized and deeply nested JSON on every endpoint that takes a body;
- security headers on every answer; cookies, when any are set, Secure/HttpOnly/SameSite.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from eduketen.app import create_app
from eduketen.core.db import unit_of_work
from eduketen.core.models import InboxMessage
from eduketen.doorstroomtoets.models import Resultaat
from eduketen.doorstroomtoets.service import ResultInput, store_results
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import Mandate, Pupil, School
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst
from eduketen.simulate.results import leerlingresultaat
from tests.conftest import PROXY

ADMIN = {"Authorization": "Bearer test-admin-token"}
STRANGER_OIN = "00000003999999990000"  # a supplier with a valid certificate and no mandate anywhere
VERSIONS = ("v1.0", "v1.1", "2026-2027")

# Every route and how it is guarded. "edukoppeling": client certificate + mandate; "osr": client
# certificate; "admin": the admin bearer token; "local": loopback only; "public": by design.
CATALOGUE: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/health"): "public",
    ("GET", "/ready"): "public",
    ("GET", "/metrics"): "local",
    **{("GET", f"/doorstroomtoets/{v}/openapi.json"): "public" for v in VERSIONS},
    **{("POST", f"/doorstroomtoets/{v}/registreren"): "edukoppeling" for v in VERSIONS},
    **{("POST", f"/doorstroomtoets/{v}/registreren-schooladviezen"): "edukoppeling" for v in VERSIONS[1:]},
    **{("POST", f"/doorstroomtoets/{v}/leerlingresultaat"): "edukoppeling" for v in VERSIONS},
    **{("GET", f"/doorstroomtoets/{v}/leerlingrapport/{{rapportid}}"): "edukoppeling" for v in VERSIONS},
    ("PUT", "/admin/doorstroomtoets/vensters"): "admin",
    ("GET", "/admin/doorstroomtoets/vensters"): "admin",
    ("GET", "/admin/doorstroomtoets/overzicht"): "admin",
    ("POST", "/admin/schools"): "admin",
    ("GET", "/admin/schools"): "admin",
    ("GET", "/admin/schools/{key}"): "admin",
    ("POST", "/admin/schools/{key}/administraties"): "admin",
    ("POST", "/admin/suppliers"): "admin",
    ("GET", "/admin/suppliers"): "admin",
    ("POST", "/admin/suppliers/{oin}/systems"): "admin",
    ("POST", "/admin/services"): "admin",
    ("GET", "/admin/services"): "admin",
    ("POST", "/admin/services/{name}/versions"): "admin",
    ("POST", "/admin/mandates"): "admin",
    ("GET", "/admin/mandates"): "admin",
    ("POST", "/admin/mandates/{mandate_id}/revoke"): "admin",
    ("GET", "/osr/api/v2/mandates"): "osr",
    ("GET", "/osr/api/v2/endpoints"): "osr",
    ("POST", "/osr/api/v2/endpoints"): "osr",
    ("GET", "/osr/api/v2/schools"): "osr",
    ("GET", "/osr/api/v2/services"): "osr",
    ("GET", "/osr/api/v2/service-versions"): "osr",
    ("POST", "/admin/keurmerk/admissions"): "admin",
    ("GET", "/admin/keurmerk/admissions"): "admin",
    ("GET", "/admin/keurmerk/admissions/{admission_id}"): "admin",
    ("POST", "/admin/keurmerk/admissions/{admission_id}/steps"): "admin",
    ("POST", "/admin/keurmerk/admissions/{admission_id}/evidence"): "admin",
    ("GET", "/admin/keurmerk/evidence/{evidence_id}"): "admin",
    ("POST", "/admin/keurmerk/admissions/{admission_id}/qualifications"): "admin",
    ("GET", "/keurmerk/deelnemers"): "public",  # qualified participants: public by design, no evidence in it
    ("GET", "/admin/keurmerk/releases"): "admin",
    ("PUT", "/admin/keurmerk/releases/{service_name}/{version}"): "admin",
    ("POST", "/admin/keurmerk/releases/{service_name}/{version}/transitions"): "admin",
    ("POST", "/admin/keurmerk/test-periods"): "admin",
    ("GET", "/admin/keurmerk/test-periods"): "admin",
    ("GET", "/admin/keurmerk/test-periods/{period_id}"): "admin",
    ("POST", "/admin/keurmerk/test-periods/{period_id}/pairings"): "admin",
    ("POST", "/admin/keurmerk/pairings/{pairing_id}/status"): "admin",
    ("GET", "/admin/keurmerk/reminders"): "admin",
    ("PUT", "/admin/keurmerk/contacts/{oin}"): "admin",
    ("POST", "/admin/keurmerk/tickets"): "admin",
    ("GET", "/admin/keurmerk/tickets"): "admin",
    ("GET", "/admin/keurmerk/tickets/{ticket_id}"): "admin",
    ("POST", "/admin/keurmerk/tickets/{ticket_id}/transitions"): "admin",
    ("GET", "/keurmerk/kalender"): "public",  # the release calendar: public by design (versions, dates, announced changes)
    ("GET", "/keurmerk/ketentests"): "public",  # who tests with whom and the state: public by design, no notes, no evidence
    ("POST", "/keurmerk/v1/meldingen"): "bearer",  # a participant's desk tickets: OAuth, scope eduketen.keurmerk
    ("GET", "/keurmerk/v1/meldingen"): "bearer",
    ("GET", "/keurmerk/v1/meldingen/{ticket_id}"): "bearer",
    ("GET", "/keurmerk/v1/herinneringen"): "bearer",
    # Edu-V: the authorization server's public parts, the results and consent APIs (OAuth bearer
    # tokens), their admin side, and the staff pages (session cookie)
    ("GET", "/.well-known/jwks.json"): "public",
    ("GET", "/.well-known/oauth-authorization-server"): "public",
    ("GET", "/toetsresultaten/{major}/openapi.json"): "public",
    ("POST", "/oauth/token"): "token-endpoint",
    ("POST", "/toetsresultaten/v1/results"): "bearer",
    ("POST", "/toetsresultaten/v0/results"): "bearer",
    ("GET", "/consent/v1/relations"): "bearer",
    ("POST", "/consent/v1/requests"): "bearer",
    ("POST", "/consent/v1/relations/{consent_id}/confirm"): "bearer",
    ("GET", "/admin/consent"): "admin",
    ("POST", "/admin/consent"): "admin",
    ("GET", "/admin/consent/{consent_id}"): "admin",
    ("POST", "/admin/consent/{consent_id}/{action}"): "admin",
    ("GET", "/admin/oauth/clients"): "admin",
    ("POST", "/admin/oauth/clients"): "admin",
    ("POST", "/admin/oauth/clients/{client_id}/disable"): "admin",
    ("POST", "/admin/oauth/keys/rotate"): "admin",
    ("GET", "/admin/toetsresultaten/schools/{school}/assessments"): "admin",
    ("GET", "/admin/toetsresultaten/schools/{school}/assessments/{assessment_id}"): "admin",
    ("GET", "/admin/toetsresultaten/schools/{school}/export.csv"): "admin",
    ("GET", "/admin/toetsresultaten/schools/{school}/student"): "admin",
    ("DELETE", "/admin/toetsresultaten/schools/{school}/student"): "admin",
    ("GET", "/insight/login"): "public",
    ("POST", "/insight/login"): "login",
    ("GET", "/insight/"): "session",
    ("GET", "/insight/consent"): "session",
    ("POST", "/insight/consent"): "session",
    ("POST", "/insight/consent/{consent_id}/{action}"): "session",
    ("POST", "/insight/logout"): "session",
    ("GET", "/insight/groups"): "session",
    ("GET", "/insight/groups/{group_id}"): "session",
    ("GET", "/insight/pupils/{pupil_id}"): "session",
    ("GET", "/insight/school"): "session",
    ("GET", "/insight/usage"): "session",
    ("GET", "/insight/kalender"): "public",  # the release calendar page, readable without login
    ("GET", "/insight/ketentest"): "public",  # the chain-test board, readable without login
    ("GET", "/insight/meldpunt"): "session",  # the desk: platform staff only
    ("GET", "/insight/meldpunt/{ticket_id}"): "session",
    ("POST", "/insight/meldpunt/{ticket_id}/status"): "session",
    ("GET", "/insight/mandaten"): "session",
    ("GET", "/insight/landschap"): "session",
    ("GET", "/insight/mandaatcheck"): "public",  # yes or no only, like the OSR for third parties; rate-limited
    ("GET", "/insight/mandaatcheck.json"): "public",
    ("GET", "/insight/keurmerk"): "public",  # qualified participants, no evidence
    ("POST", "/admin/boards/administrators"): "admin",
    ("GET", "/admin/boards/administrators"): "admin",
    ("POST", "/leervoortgang/v1/progress"): "bearer",
    ("PUT", "/leervoortgang/v1/progress/{record_id}"): "bearer",
}


def served_routes(app) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if hasattr(route, "path"):
                for method in getattr(route, "methods", None) or ():
                    if method != "HEAD":
                        found.add((method, prefix + route.path))
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
            elif hasattr(route, "routes"):
                walk(route.routes, prefix + getattr(route, "path", ""))

    walk(app.routes, "")
    return found


@pytest.fixture
def chain_settings():
    return {"roles": ["toetsaanbieder", "las", "register"], "auth_failure_burst": 0}


@pytest.fixture
def world(chain):
    """School A's pupils registered with a result and a report made, its LAS endpoint known."""
    a, b = chain.region.schools[0], next(s for s in chain.region.schools[1:] if s.las.oin != chain.region.schools[0].las.oin)
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(a), school=a).status_code == 202
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(b), school=b).status_code == 202
    chain.drain()
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, a.oin)
        for m, _sc, system, supplier, version, _svc in register_repo.mandates(s, school_id=db_school.id):
            if system.kind == "las" and version.version == "1.1.0":
                register.register_endpoint(
                    s, caller_oin=supplier.oin, mandate_token=m.token, administration_id=a.routing, namespace=version.namespace,
                    url="https://las.example/doorstroomtoets/v1.1", attributes=["LAS"], start=date.today() - timedelta(days=1), end=None,
                )  # fmt: skip
        pupil = a.pupils[0]

        def build(spec_key, url, p=pupil):
            return leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=url, seed=p.las_key)

        store_results(s, [ResultInput(pupil.las_key, a.brin, pupil.eck_id, pupil.las_key, "2025-2026", build)], public_url="https://x")
    chain.drain()
    with chain.platform.sessions() as s:
        rapport_id = s.scalars(select(Resultaat.rapport_id)).one()
    return chain, a, b, rapport_id


def _markers(chain, school) -> list[str]:
    """Strings that must never appear in an answer to an attacker: pupil names and references."""
    out = []
    for p in school.pupils:
        out += [p.achternaam, p.las_key] + ([p.eck_id] if p.eck_id else [])
    return [m for m in out if m and len(m) > 3]


def _call(client, method, path, *, params=None, headers=None, body=None, raw=None):
    headers = dict(headers or {})
    if raw is not None:
        headers.setdefault("Content-Type", "application/json")
        return client.request(method, path, params=params, headers=headers, content=raw)
    return client.request(method, path, params=params, headers=headers, json=body)


def _edukoppeling_request(template: str, school, chain) -> tuple[str, dict, object]:
    version = template.split("/")[2]
    spec = "v1.1" if version == "2026-2027" else version
    if template.endswith("/registreren"):
        return template, {"edu-to": school.oin, "edu-from": school.routing}, deelnemerslijst(school, spec)
    if template.endswith("/registreren-schooladviezen"):
        return template, {"edu-to": school.oin, "edu-from": school.routing}, schooladviezenlijst(school, spec)
    if template.endswith("/leerlingresultaat"):
        p = school.pupils[0]
        body = leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key="v1.1", rapport_url="https://x/r", seed=p.las_key)
        return template, {"edu-to": school.routing, "edu-from": school.oin}, body
    raise AssertionError(template)


def test_every_endpoint_is_in_the_catalogue(chain, record):
    served = served_routes(chain.client.app)
    missing = sorted(served - set(CATALOGUE))
    assert missing == [], f"endpoints without an attack entry: {missing}"


def test_callers_without_the_right_credentials_get_nothing(world, record):
    chain, a, b, rapport_id = world
    client = chain.client
    markers = _markers(chain, a) + _markers(chain, b)
    with chain.platform.sessions() as s:
        mandate_token = s.scalars(select(Mandate.token)).first()
    stranger = chain.cert_header(STRANGER_OIN, "Vreemde leverancier")
    las_b = chain.cert_header(b.las.oin)
    las_a = chain.cert_header(a.las.oin)
    for (method, template), guard in sorted(CATALOGUE.items()):
        if guard == "public":
            continue
        if guard == "local":
            for attack, headers in (("through the proxy", las_a), ("forwarded", {"X-Forwarded-For": "198.51.100.1"})):
                record.check("authentication", template, attack, _call(client, method, template, headers=headers), refused=(404,))
            continue
        if guard == "admin":
            path = (
                template.replace("{key}", a.brin).replace("{oin}", a.las.oin).replace("{name}", "doorstroomtoets").replace("{mandate_id}", "1").replace("{admission_id}", "1").replace("{evidence_id}", "1")
                .replace("{school}", a.brin).replace("{consent_id}", "1").replace("{action}", "revoke").replace("{client_id}", "x")
                .replace("{assessment_id}", "1").replace("{service_name}", "doorstroomtoets").replace("{version}", "1.1.0")
                .replace("{period_id}", "1").replace("{pairing_id}", "1").replace("{ticket_id}", "1")
            )
            body = {} if method in ("POST", "PUT") else None
            for attack, headers in (
                ("no token", {}),
                ("wrong token", {"Authorization": "Bearer not-the-token"}),
                ("token for another scope (a mandate token)", {"Authorization": f"Bearer {mandate_token}"}),
                ("client certificate instead of the token", las_a),
                ("basic instead of bearer", {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbg=="}),
            ):
                record.check("authentication", template, attack, _call(client, method, path, headers=headers, body=body), markers=markers)
            continue
        if guard in ("bearer", "session", "login", "token-endpoint"):
            path = template.replace("{consent_id}", "1").replace("{action}", "revoke").replace("{group_id}", "1")
            path = path.replace("{pupil_id}", "1").replace("{record_id}", "r-1").replace("{ticket_id}", "1")
            body = {} if method in ("POST", "PUT") else None
            if guard == "bearer":  # OAuth access tokens only: nothing else opens these
                attacks = [
                    ("no token", {}),
                    ("a forged token", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImVkdXYucmVzdWx0In0."}),
                    ("the admin token as bearer", ADMIN),
                    ("a mandate token as bearer", {"Authorization": f"Bearer {mandate_token}"}),
                    ("client certificate instead of a token", las_a),
                ]
                refused = (401, 403)
            elif guard == "session":  # staff pages: a session cookie, and for forms a CSRF token
                attacks = [("no session", {}), ("admin token, no session", ADMIN), ("client certificate, no session", las_a),
                           ("a made-up session cookie", {"Cookie": "__Host-eduketen-staff=forged; eduketen-staff=forged"})]  # fmt: skip
                refused = (303, 302, 401, 403)  # a page sends the visitor to the login form
            elif guard == "login":  # the login form: no CSRF token, wrong password
                attacks = [("no CSRF token, no password", {})]
                refused = (400, 401, 403, 422)
            else:  # the token endpoint: client authentication by a signed assertion only
                attacks = [("no client assertion", {}), ("admin token instead of an assertion", ADMIN), ("client certificate", las_a)]
                refused = (400, 401)
            for attack, headers in attacks:
                response = client.request(method, path, headers=headers, data=body if guard in ("login", "token-endpoint") else None,
                                          json=None if guard in ("login", "token-endpoint") else body, follow_redirects=False)  # fmt: skip
                record.check("authentication", template, attack, response, refused=refused, markers=markers)
            continue
        if guard == "osr":
            params = {
                "supplier_oin": a.las.oin, "school_oin": a.oin, "service_version_namespace": "x", "routing_id": None,
            }  # fmt: skip
            body = {} if method == "POST" else None
            for attack, headers in (("no certificate", {}), ("admin token, no certificate", ADMIN)):
                record.check("authentication", template, attack, _call(client, method, template, params=params, headers=headers, body=body))
            continue
        # edukoppeling: the Doorstroomtoets endpoints
        if "{rapportid}" in template:
            path = template.replace("{rapportid}", rapport_id)
            own = {"edu-to": a.oin, "edu-from": a.routing}
            attacks = [
                ("no certificate", own, {}),
                ("admin token, no certificate", own, ADMIN),
                ("supplier without a mandate", own, stranger),
                ("LAS of another school, naming this school", own, las_b),
                ("LAS of another school, naming its own school", {"edu-to": b.oin, "edu-from": b.routing}, las_b),
                ("the right LAS, another school's report id", own, None),
            ]
            for attack, params, headers in attacks:
                target = path
                if headers is None:  # school A's LAS asks for a report under school B's names
                    target, params, headers = path, {"edu-to": b.oin, "edu-from": b.routing}, las_a
                response = _call(client, "GET", target, params=params, headers=headers)
                record.check("authorisation", template, attack, response, markers=markers + ["%PDF"])
            continue
        path, params, body = _edukoppeling_request(template, a, chain)
        sender_a = chain.cert_header(chain.region.toetsaanbieder.oin) if template.endswith("leerlingresultaat") else las_a
        attacks = [
            ("no certificate", params, {}),
            ("admin token, no certificate", params, ADMIN),
            ("supplier without a mandate", params, stranger),
            ("LAS of another school", params, las_b),
            ("school A's sender, school B's edu-to with A's routing", {**params, "edu-to": b.oin}, sender_a)
            if not template.endswith("leerlingresultaat") else ("test supplier posing as a LAS sender", params, las_a),
        ]
        before = _inbox(chain)
        for attack, p, headers in attacks:
            refused = (401, 403, 404, 405, 422)  # 422 only where the body does not fit the school named
            record.check("authorisation", template, attack, _call(client, method, path, params=p, headers=headers, body=body), refused=refused, markers=markers)
        assert _inbox(chain) == before, f"{template}: a refused call stored a message"
    assert record.leaks == [], [f"{a.endpoint} {a.attack}: {a.why}" for a in record.leaks]


def _inbox(chain) -> int:
    with chain.platform.sessions() as s:
        return len(s.scalars(select(InboxMessage.id)).all())


def test_osr_third_party_learns_only_ok_or_nok(world, record):
    chain, a, b, _ = world
    with chain.platform.sessions() as s:
        namespace = next(v.namespace for *_, v, _svc in register_repo.mandates(s) if v.version == "1.1.0")
        token_of_a = next(m.token for m, sc, sy, su, v, _ in register_repo.mandates(s) if sc.oin == a.oin and su.oin == a.las.oin)
    params = {"supplier_oin": a.las.oin, "school_oin": a.oin, "service_version_namespace": namespace}
    r = chain.client.get("/osr/api/v2/mandates", params=params, headers=chain.cert_header(b.las.oin))
    record.check("authorisation", "/osr/api/v2/mandates", "another supplier asks for A's mandate", r, refused=(200,), markers=[token_of_a])
    assert r.json()["result"] == "OK"
    # registering an endpoint with another supplier's mandate token
    r = chain.client.post(
        "/osr/api/v2/endpoints",
        json={"mandate_token": token_of_a, "administration_id": a.routing, "service_version_namespace": namespace,
              "url": "https://evil.example/", "start_date": date.today().isoformat()},
        headers=chain.cert_header(b.las.oin),
    )  # fmt: skip
    record.check("authorisation", "/osr/api/v2/endpoints", "another supplier's mandate token", r, refused=(400, 401, 403, 404, 409, 422))
    assert record.leaks == []


def test_mass_assignment_is_refused_or_ignored(world, record):
    chain, a, b, _ = world
    client = chain.client
    attempts = [
        ("/admin/schools", {"name": "X", "brin": "99XX", "oin": "00000001999999990000", "id": 1}),
        ("/admin/schools", {"name": "X", "brin": "98XX", "created_at": "2000-01-01T00:00:00Z"}),
        ("/admin/suppliers", {"name": "X", "oin": "00000003777777770000", "id": 1, "created_at": "2000-01-01"}),
        ("/admin/mandates", {"school": a.brin, "supplier_oin": a.las.oin, "system": "x", "service": "doorstroomtoets", "version": "1.1.0",
                              "start_date": "2026-01-01", "token": "chosen-by-attacker", "revoked_at": None}),
        ("/admin/services", {"name": "svc-x", "id": 1}),
    ]  # fmt: skip
    for path, body in attempts:
        r = client.post(path, json=body, headers=ADMIN)
        record.check("mass assignment", path, f"sets {sorted(set(body) - {'name', 'brin', 'oin', 'school', 'supplier_oin', 'system', 'service', 'version', 'start_date'})}", r, refused=(422,))
    with chain.platform.sessions() as s:
        assert s.scalars(select(School).where(School.oin == "00000001999999990000")).first() is None
        assert s.scalars(select(Mandate).where(Mandate.token == "chosen-by-attacker")).first() is None
    # the OSR endpoint registration: fields the caller may not set
    with chain.platform.sessions() as s:
        namespace = next(v.namespace for *_, v, _svc in register_repo.mandates(s) if v.version == "1.1.0")
        token = next(m.token for m, sc, sy, su, v, _ in register_repo.mandates(s) if sc.oin == a.oin and su.oin == a.las.oin and v.version == "1.1.0")
    r = client.post(
        "/osr/api/v2/endpoints",
        json={"mandate_token": token, "administration_id": a.routing, "service_version_namespace": namespace, "url": "https://las.example/x",
              "start_date": date.today().isoformat(), "school_id": 999, "mandate_id": 999},
        headers=chain.cert_header(a.las.oin),
    )  # fmt: skip
    record.check("mass assignment", "/osr/api/v2/endpoints", "sets school_id, mandate_id", r, refused=(422,))
    # the Doorstroomtoets wire: unknown fields are allowed by the official schema, but never stored
    body = deelnemerslijst(a, pupils=a.pupils[:3])  # a new message (the full list was sent before)
    body.update({"school_id": 999, "status": "done", "attempts": 99, "id": "x"})
    body["deelnemers"][0]["pupil_id"] = 1
    body["deelnemers"][0]["school_id"] = 999
    r = chain.post("/doorstroomtoets/v1.1/registreren", body, school=a)
    assert r.status_code == 202
    with chain.platform.sessions() as s:
        message = s.scalars(select(InboxMessage).where(InboxMessage.status == "pending")).one()
        stored = json.loads(message.payload)
    injected = [k for k in ("school_id", "status", "attempts", "id") if k in stored] + [
        k for k in ("pupil_id", "school_id") if k in stored["deelnemers"][0]
    ]
    record.attempts.append(
        type(record.attempts[0])("mass assignment", "/doorstroomtoets/v1.1/registreren", "injected fields stored", 202, bool(injected), str(injected))
    )
    chain.drain()
    with chain.platform.sessions() as s:
        school_ids = set(s.scalars(select(Pupil.school_id).where(Pupil.las_key == a.pupils[0].las_key)).all())
        a_id = s.scalars(select(School.id).where(School.oin == a.oin)).one()
    assert school_ids == {a_id}
    assert record.leaks == [], [f"{x.endpoint} {x.attack}: {x.why}" for x in record.leaks]


def test_bodies_too_large_or_too_deep_are_refused_on_every_endpoint(world, record):
    chain, a, _b, _ = world
    limit = chain.platform.settings.max_body_bytes
    big = b'{"x":"' + b"a" * (limit + 10) + b'"}'
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    for (method, template), guard in sorted(CATALOGUE.items()):
        if method not in ("POST", "PUT"):
            continue
        # (revoke takes no body: an unknown mandate, so that ignoring the body shows as 404)
        path = (
            template.replace("{key}", a.brin).replace("{oin}", a.las.oin).replace("{name}", "doorstroomtoets").replace("{mandate_id}", "2147483647")
        )
        if guard == "edukoppeling":
            params = {"edu-to": a.routing, "edu-from": a.oin} if template.endswith("leerlingresultaat") else {"edu-to": a.oin, "edu-from": a.routing}
            sender = chain.region.toetsaanbieder.oin if template.endswith("leerlingresultaat") else a.las.oin
            headers = chain.cert_header(sender)
        elif guard == "osr":
            params, headers = None, chain.cert_header(a.las.oin)
        else:
            params, headers = None, ADMIN
        path = path.replace("{consent_id}", "1").replace("{action}", "revoke").replace("{client_id}", "x").replace("{record_id}", "r-1")
        path = path.replace("{service_name}", "doorstroomtoets").replace("{version}", "1.1.0").replace("{period_id}", "1")
        path = path.replace("{pairing_id}", "1").replace("{ticket_id}", "1")
        # a staff page without a session sends the visitor to the login form (303, not followed here);
        # rotating the signing keys takes no body at all, so there is nothing to refuse (201)
        deep_refused = (400, 401, 404, 405, 413, 422) + ((303,) if guard == "session" else ()) + (
            (201,) if template == "/admin/oauth/keys/rotate" else ()
        )
        over = big
        if template == "/leervoortgang/v1/progress":  # the bulk path has its own, larger limit
            over = b'{"x":"' + b"a" * (chain.platform.settings.progress_bulk_max_bytes + 10) + b'"}'
        r = _call(chain.client, method, path, params=params, headers=headers, raw=over)
        record.check("body", template, "over the size limit", r, refused=(413,))
        assert r.headers["content-type"].startswith("application/json")
        for attack, raw in (("100,000 nested arrays", deep), ("50,000 nested objects", deep_object)):
            r = chain.client.request(method, path, params=params, headers={"Content-Type": "application/json", **headers},
                                     content=raw, follow_redirects=False)  # fmt: skip
            record.check("body", template, attack, r, refused=deep_refused)
            if guard not in ("session", "login"):  # pages answer in HTML; APIs in JSON
                assert r.headers["content-type"].startswith("application/json"), (template, attack, r.text[:200])
    assert record.leaks == [], [f"{x.endpoint} {x.attack}: {x.why}" for x in record.leaks]


def test_security_headers_on_every_answer(world, record):
    chain, a, _b, rapport_id = world
    probes = [
        ("GET", "/health", {}), ("GET", "/ready", {}), ("GET", "/admin/schools", ADMIN), ("GET", "/admin/schools", {}),
        ("GET", "/osr/api/v2/schools", chain.cert_header(a.las.oin)), ("GET", "/no/such/path", {}),
        ("POST", "/doorstroomtoets/v1.1/registreren", {}), ("GET", "/doorstroomtoets/v1.1/openapi.json", {}),
    ]  # fmt: skip
    r = chain.client.get(
        f"/doorstroomtoets/v1.1/leerlingrapport/{rapport_id}", params={"edu-to": a.oin, "edu-from": a.routing}, headers=chain.cert_header(a.las.oin)
    )
    assert r.status_code == 200
    responses = [(f"GET /leerlingrapport (PDF)", r)] + [(f"{m} {p}", chain.client.request(m, p, headers=h)) for m, p, h in probes]
    for name, response in responses:
        h = response.headers
        missing = [
            k for k, v in (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer"))
            if h.get(k) != v
        ]  # fmt: skip
        if "frame-ancestors 'none'" not in h.get("content-security-policy", ""):
            missing.append("content-security-policy frame-ancestors")
        if "no-store" not in h.get("cache-control", ""):
            missing.append("cache-control no-store")
        for cookie in response.headers.get_list("set-cookie"):
            lowered = cookie.lower()
            for flag in ("secure", "httponly", "samesite"):
                if flag not in lowered:
                    missing.append(f"cookie without {flag}")
        attempt = record.check("headers", name, "security headers", response, refused=(response.status_code,))
        if missing:
            attempt.leak, attempt.why = True, f"missing {missing}"
    assert record.leaks == [], [f"{x.endpoint}: {x.why}" for x in record.leaks]


def test_failed_authentication_is_limited_per_client(chain, record):
    settings = chain.platform.settings.model_copy(update={"auth_failure_burst": 5, "auth_failure_rate": 0.01})
    app = create_app(settings, platform=chain.platform)
    with TestClient(app, client=("198.51.100.7", 1000), raise_server_exceptions=False) as guesser, TestClient(
        app, client=("198.51.100.8", 1000), raise_server_exceptions=False
    ) as bystander:
        statuses = [guesser.get("/admin/schools", headers={"Authorization": f"Bearer guess-{i}"}).status_code for i in range(8)]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3
        # even the right token waits now: guessing does not pay
        right = guesser.get("/admin/schools", headers=ADMIN)
        record.check("rate limit", "/admin/schools", "6th+ guess of the admin token", right, refused=(429,))
        assert right.headers["retry-after"]
        # another client is not affected
        assert bystander.get("/admin/schools", headers=ADMIN).status_code == 200
    # the OSR read limit per calling supplier: a slow refill, so the outcome does not depend on
    # how fast this machine sends 60 requests
    from eduketen.core.ratelimit import RateLimiter

    las = chain.region.schools[0].las
    limiter = chain.platform.views["osr_limiter"]
    chain.platform.views["osr_limiter"] = RateLimiter(0.01, 40)
    try:
        codes = [chain.client.get("/osr/api/v2/services", headers=chain.cert_header(las.oin)).status_code for _ in range(60)]
        record.check("rate limit", "/osr/api/v2/services", "60 reads at once", chain.client.get("/osr/api/v2/services", headers=chain.cert_header(las.oin)), refused=(429,))
        assert codes[:40] == [200] * 40 and set(codes[40:]) == {429}
        other = chain.region.toetsaanbieder
        assert chain.client.get("/osr/api/v2/services", headers=chain.cert_header(other.oin)).status_code == 200
    finally:
        chain.platform.views["osr_limiter"] = limiter
    assert record.leaks == []


def test_the_public_mandate_check_learns_only_yes_or_no(world, record):
    """The public check answers yes or no like the OSR answers third parties: no token, no dates,
    no system; odd input never a server error; the staff pages of a school stay closed to others."""
    chain, a, b, _ = world
    with chain.platform.sessions() as s:
        rows = register_repo.mandates(s)
        markers = [m.token for m, *_ in rows] + [m.start_date.isoformat() for m, *_ in rows] + [a.routing, b.routing]
    for path in ("/insight/mandaatcheck", "/insight/mandaatcheck.json"):
        for attack, params in (
            ("asks about a real mandate", {"school": a.brin, "leverancier": a.las.oin, "dienst": "doorstroomtoets"}),
            ("asks by school OIN", {"school": a.oin, "leverancier": a.las.oin, "dienst": "doorstroomtoets"}),
            ("LIKE wildcards", {"school": "%", "leverancier": "_", "dienst": "doorstroomtoets"}),
            ("SQL in a field", {"school": "' OR '1'='1", "leverancier": "x", "dienst": "doorstroomtoets"}),
            ("markup in a field", {"school": "<script>alert(1)</script>", "leverancier": "x", "dienst": "x"}),
            ("oversized field", {"school": "A" * 5000, "leverancier": "x", "dienst": "x"}),
        ):
            r = chain.client.get(path, params=params)
            record.check("disclosure", path, attack, r, refused=(200, 400, 404, 409), markers=[*markers, "<script>alert(1)"])
    assert record.leaks == [], [f"{x.endpoint} {x.attack}: {x.why}" for x in record.leaks]
