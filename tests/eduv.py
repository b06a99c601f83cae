"""Shared fixtures for the Edu-V exchanges (OAuth, consent, results, staff pages): a platform that
plays the results administration, two test suppliers with OAuth clients (one with inline keys, one
with a jwks_uri served on loopback), a school administrator, and helpers to get tokens and post."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.testclient import TestClient

from eduketen.app import create_app
from eduketen.core.db import unit_of_work
from eduketen.core.oauth import service as oauth
from eduketen.core.platform import Platform
from eduketen.insight.security import create_account
from eduketen.register import consent as consent_svc
from eduketen.register import service as register
from eduketen.simulate.region import install_region, supplier_oin
from eduketen.toetsresultaten import repository as results_repo

from .conftest import PROXY, make_settings

BASE = "https://eduketen.test"
ADMIN_OIN = supplier_oin(4000)  # the supplier running this results administration
B_OIN = supplier_oin(3000)  # a second test supplier
RECEIVER = "Resultatenadministratie"
STAFF_PASSWORD = "correct horse battery staple"


class JwksServer:
    """A JWKS on loopback (http://127.0.0.1:port/<name>.json); tests change what it serves."""

    def __init__(self) -> None:
        self.sets: dict[str, dict] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                name = self.path.strip("/").removesuffix(".json")
                outer.hits[name] = outer.hits.get(name, 0) + 1
                body = json.dumps(outer.sets.get(name, {})).encode()
                self.send_response(200 if name in outer.sets else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}.json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def client_keys() -> dict:
    return {
        "a": RSAKey.generate_key(2048, parameters={"kid": "a-1", "alg": "RS256", "use": "sig"}),
        "b": RSAKey.generate_key(2048, parameters={"kid": "b-1", "alg": "PS256", "use": "sig"}),
        "b2": ECKey.generate_key("P-256", parameters={"kid": "b-2", "alg": "ES256", "use": "sig"}),
        "stranger": RSAKey.generate_key(2048, parameters={"kid": "a-1", "alg": "RS256", "use": "sig"}),
        "external-as": ECKey.generate_key("P-256", parameters={"kid": "ext-1", "alg": "ES256", "use": "sig"}),
    }


def make_assertion(client_id: str, key, *, alg: str = "RS256", aud: str | list = f"{BASE}/oauth/token", iss: str | None = None,
                   sub: str | None = None, exp_in: float = 120, iat_shift: float = 0, nbf_shift: float | None = None,
                   jti: str | None = None, kid: str | None = "default") -> str:  # fmt: skip
    now = time.time()
    claims = {"iss": iss or client_id, "sub": sub or client_id, "aud": aud, "iat": int(now + iat_shift),
              "exp": int(now + exp_in), "jti": str(uuid.uuid4()) if jti is None else jti}  # fmt: skip
    if nbf_shift is not None:
        claims["nbf"] = int(now + nbf_shift)
    header = {"alg": alg}
    if kid == "default":
        kid = key.kid
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=[alg])


@dataclass
class Eduv:
    platform: Platform
    client: TestClient
    region: object
    keys: dict
    jwks_server: JwksServer
    ids: dict = field(default_factory=dict)  # names -> register ids

    @property
    def school(self):
        return self.region.schools[0]

    def token_response(self, client_id: str = "toets-a", key=None, *, scope: str | None = None, **kw):
        key = key or self.keys["a" if client_id.startswith("toets-a") else "b"]
        alg = {"a": "RS256", "b": "PS256"}.get("a" if client_id.startswith("toets-a") else "b")
        kw.setdefault("alg", alg if isinstance(key, RSAKey) else "ES256")
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": oauth.ASSERTION_TYPE,
            "client_assertion": make_assertion(client_id, key, **kw),
            "client_id": client_id,
        }
        if scope is not None:
            form["scope"] = scope
        return self.client.post("/oauth/token", data=form)

    def token(self, client_id: str = "toets-a", **kw) -> str:
        response = self.token_response(client_id, **kw)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def post(self, bundle, *, token: str | None = None, version: str = "v1", client_id: str = "toets-a", raw: bytes | None = None,
             headers: dict | None = None):  # fmt: skip
        token = token if token is not None else self.token(client_id)
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        if raw is not None:
            all_headers.setdefault("Content-Type", "application/json")
            return self.client.post(f"/toetsresultaten/{version}/results", content=raw, headers=all_headers)
        return self.client.post(f"/toetsresultaten/{version}/results", json=bundle, headers=all_headers)

    def stored(self) -> tuple[int, int]:
        with self.platform.sessions() as session:
            return results_repo.count_all(session)

    def consent(self, school_index: int, source: str, *, state: str = "active") -> int:
        """Set the results-api consent of a school from ``source`` ("a" or "b") to this system."""
        with unit_of_work(self.platform.sessions) as session:
            school = register.get_school(session, self.region.schools[school_index].brin)
            src = session.get(register.System, self.ids[f"system-{source}"])
            rcv = session.get(register.System, self.ids["system-receiver"])
            consent = consent_svc.request(session, school=school, api="results-api", source=src, receiver=rcv, actor="test")
            if state in ("active", "unconfirmed"):
                consent_svc.activate(session, consent, actor="test")
            if state == "active":
                consent_svc.confirm(session, consent, actor="test")
            if state == "revoked":
                consent_svc.activate(session, consent, actor="test")
                consent_svc.revoke(session, consent, actor="test")
            return consent.id


def sample_bundle(brin: str, students: list[str] | None = None, *, assessment_id: str = "afname-2026-1", value: str | int = 212) -> dict:
    students = students or ["https://ketenid.nl/201703/" + "a" * 128]
    return {
        "school": {"idType": "BRIN", "id": brin},
        "schoolYear": "2025-2026",
        "assessment": {
            "id": assessment_id,
            "assessmentDateTime": "2026-04-14T08:30:00Z",
            "assessmentDefinition": {
                "id": "wiskunde-a-se3", "name": "Wiskunde A SE3", "version": "2026",
                "parts": [{"id": "algebra", "index": 1, "name": "Algebra"}, {"id": "statistiek", "index": 2, "name": "Statistiek",
                           "parts": [{"id": "kansen", "index": 1}]}],
            },
        },  # fmt: skip
        "scoreScales": [
            {"id": "ruw", "type": "numeric", "min": 0, "max": 300, "decimals": 0},
            {"id": "cijfer", "type": "grade", "decimals": 1},
            {"id": "refniv", "type": "referenceLevel"},
            {"id": "pct", "type": "percentile"},
            {"id": "geslaagd", "type": "passFail"},
            {"id": "advies", "type": "ordinal", "labels": ["vmbo-kb", "vmbo-gt", "havo", "vwo"]},
        ],
        "students": [
            {
                "student": {"eckId": eck} if eck.startswith("https://") else {"userId": eck, "userIdType": "nlEduPersonProfileId"},
                "status": "Definitief",
                "releasedAt": "2026-04-20T12:00:00Z",
                "scores": [{"kind": "total", "scale": "ruw", "value": value}, {"kind": "detail", "part": "kansen", "scale": "ruw", "value": "17"}],
                "results": [
                    {"kind": "grade", "scale": "cijfer", "value": "7.4"},
                    {"kind": "referenceLevel", "part": "algebra", "scale": "refniv", "value": "2F"},
                    {"kind": "percentile", "scale": "pct", "value": 81},
                    {"kind": "passFail", "scale": "geslaagd", "value": "pass"},
                    {"kind": "advice", "scale": "advies", "value": "havo"},
                ],
            }
            for eck in students
        ],
    }


def build_eduv(database_url, region, client_keys, jwks_server, **overrides) -> tuple[Eduv, Platform, TestClient]:
    settings = make_settings(database_url, region, own_oin=ADMIN_OIN, public_url=BASE, **overrides)
    platform = Platform.build(settings)
    ids = {}
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        admin = register.add_supplier(session, name="Resultaten BV", oin=ADMIN_OIN)
        ids["system-receiver"] = register.add_system(session, supplier=admin, name=RECEIVER, kind="administratie").id
        ta = register.get_supplier(session, region.toetsaanbieder.oin)
        ids["system-a"] = register.get_system(session, ta, region.toetsaanbieder.system).id
        b = register.add_supplier(session, name="Toets B", oin=B_OIN)
        ids["system-b"] = register.add_system(session, supplier=b, name="Toetsplatform", kind="toetssysteem").id
        public = {"keys": [client_keys["a"].as_dict(private=False)]}
        oauth.register_client(session, client_id="toets-a", supplier_oin=region.toetsaanbieder.oin, name="Toets A",
                              scopes=["eduv.result", "eduv.consent"], jwks=public, system_id=ids["system-a"])  # fmt: skip
        oauth.register_client(session, client_id="toets-a-consent-only", supplier_oin=region.toetsaanbieder.oin, name="Toets A (consent)",
                              scopes=["eduv.consent"], jwks=public, system_id=ids["system-a"])  # fmt: skip
        jwks_server.sets[f"b-{id(platform)}"] = {"keys": [client_keys["b"].as_dict(private=False)]}
        oauth.register_client(session, client_id="toets-b", supplier_oin=B_OIN, name="Toets B", scopes=["eduv.result", "eduv.consent"],
                              jwks_uri=jwks_server.url(f"b-{id(platform)}"), system_id=ids["system-b"])  # fmt: skip
        school = register.get_school(session, region.schools[0].brin)
        create_account(session, username="beheer-school0", password=STAFF_PASSWORD, role="school-administrator",
                       display_name="Beheerder school 0", school_id=school.id)  # fmt: skip
        school1 = register.get_school(session, region.schools[1].brin)
        create_account(session, username="beheer-school1", password=STAFF_PASSWORD, role="school-administrator", school_id=school1.id)
        create_account(session, username="mentor-school0", password=STAFF_PASSWORD, role="mentor", school_id=school.id)
    app = create_app(settings, platform=platform)
    client = TestClient(app, base_url=BASE, client=PROXY, raise_server_exceptions=False)
    return Eduv(platform, client, region, client_keys, jwks_server, ids), platform, client


@pytest.fixture
def eduv_settings() -> dict:
    return {}


@pytest.fixture
def eduv(database_url, region, client_keys, jwks_server, eduv_settings):
    env, platform, client = build_eduv(database_url, region, client_keys, jwks_server, **eduv_settings)
    with client:
        env.consent(0, "a")
        yield env
    platform.close()
