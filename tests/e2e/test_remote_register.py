"""Two installations: A plays the register (OSR-compatible API over mutual TLS); B is a test
supplier whose mandate checks go to A through the remote adapter. Mandates granted, revoked and
expired on A change B's answers (202 vs 401) within the cache time; when A stops, B answers from
its cache within the grace period, and after it with a clear 503."""

from __future__ import annotations

import os
import ssl
import time
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.migrations import upgrade
from eduketen.simulate.region import deelnemerslijst, open_windows

from .conftest import ServerProcess

CACHE = 1.0
GRACE = 6.0


@pytest.fixture
def two_installations(server_env, database_url, region, ca, tmp_path):
    pki = tmp_path / "pki"
    ca_cert, _ = ca.write(pki, "ca")
    server_cert, server_key = ca.issue_server(["127.0.0.1"]).write(pki, "server")
    toets = region.toetsaanbieder
    b_cert, b_key = ca.issue_client(toets.oin, toets.name).write(pki, "toetsaanbieder")

    # A: the register, over HTTPS with client certificates required.
    env_a = {**server_env, "EDUKETEN_ROLES": '["register"]', "EDUKETEN_TRUSTED_PROXIES": "[]"}
    a = ServerProcess(env_a, ["--tls-cert", str(server_cert), "--tls-key", str(server_key), "--tls-ca", str(ca_cert)], tmp_path / "a.log")
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.load_cert_chain(str(b_cert), str(b_key))
    a.start(ready_url=f"https://127.0.0.1:{a.port}/health", verify=context)

    # B: a test supplier with its own, empty database; it learns schools and mandates from A.
    b_url = f"sqlite:///{tmp_path / 'b.db'}"
    upgrade(b_url)
    engine = make_engine(b_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        open_windows(session)
    engine.dispose()
    env_b = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
        "EDUKETEN_DATABASE_URL": b_url,
        "EDUKETEN_OWN_OIN": toets.oin,
        "EDUKETEN_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "EDUKETEN_LOG_LEVEL": "INFO",
        "EDUKETEN_REGISTER_SOURCE": "remote",
        "EDUKETEN_REGISTER_URL": f"https://127.0.0.1:{a.port}/osr/api/v2",
        "EDUKETEN_REGISTER_CLIENT_CERT": str(b_cert),
        "EDUKETEN_REGISTER_CLIENT_KEY": str(b_key),
        "EDUKETEN_REGISTER_CA": str(ca_cert),
        "EDUKETEN_REGISTER_CACHE_SECONDS": str(CACHE),
        "EDUKETEN_REGISTER_GRACE_SECONDS": str(GRACE),
    }
    b = ServerProcess(env_b, [], tmp_path / "b.log")
    b.start()
    try:
        yield a, b, context
    finally:
        b.stop()
        a.stop()


def test_mandates_on_the_register_drive_the_second_installation(two_installations, database_url, region, ca, tmp_path):
    a, b, context = two_installations
    school = region.schools[0]
    las_header = {"Client-Cert": encode_client_cert_header(ca.issue_client(school.las.oin, school.las.name).der)}
    counter = iter(range(1000))

    def post_to_b() -> httpx.Response:
        body = deelnemerslijst(school, pupils=school.pupils[:1])
        body["auteur"] = f"poging {next(counter)}"  # a new message each time
        return httpx.post(
            f"http://127.0.0.1:{b.port}/doorstroomtoets/v1.1/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=body,
            headers=las_header,
            timeout=10,
        )

    admin = httpx.Client(base_url=f"https://127.0.0.1:{a.port}", verify=context, headers={"Authorization": "Bearer test-admin-token"})

    def las_mandates() -> list[dict]:
        found = admin.get("/admin/mandates", params={"school": school.brin, "supplier_oin": school.las.oin}).json()["mandates"]
        return [m for m in found if not m["revoked"] and m["version"] == "1.1.0"]

    def grant(start: date, end: date | None) -> None:
        r = admin.post(
            "/admin/mandates",
            json={
                "school": school.brin, "supplier_oin": school.las.oin, "system": school.las.system,
                "service": "doorstroomtoets", "version": "1.1.0",
                "start_date": start.isoformat(), "end_date": end.isoformat() if end else None,
            },
        )
        assert r.status_code == 201, r.text

    def revoke_all() -> None:
        for m in las_mandates():
            assert admin.post(f"/admin/mandates/{m['id']}/revoke").status_code == 200

    # granted on A: B accepts (and learned the school from A)
    assert post_to_b().status_code == 202
    # revoked on A: within the cache time B refuses
    revoke_all()
    time.sleep(CACHE + 0.5)
    r = post_to_b()
    assert r.status_code == 401 and "LAS" in r.json()["toelichting"]
    # granted again: accepted again
    grant(date.today() - timedelta(days=10), None)
    time.sleep(CACHE + 0.5)
    assert post_to_b().status_code == 202
    # expired yesterday: refused
    revoke_all()
    grant(date.today() - timedelta(days=30), date.today() - timedelta(days=1))
    time.sleep(CACHE + 0.5)
    assert post_to_b().status_code == 401
    # valid again, then the register stops: B answers from its cache within the grace period
    grant(date.today() - timedelta(days=1), date.today() + timedelta(days=100))
    time.sleep(CACHE + 0.5)
    assert post_to_b().status_code == 202
    admin.close()
    a.kill()  # the register goes down hard
    time.sleep(CACHE + 0.5)  # the cached answer is stale but within the grace period
    assert post_to_b().status_code == 202
    assert "cached answer" in b.log.read_text()
    time.sleep(GRACE + 0.5)  # past the grace period: a clear, documented error
    r = post_to_b()
    assert r.status_code == 503
    assert r.json()["melding"] == "Mandaat kan nu niet worden gecontroleerd; probeer het later opnieuw."
    assert "register" in r.json()["toelichting"]

    # B learned the school from A, and processed what it accepted
    b.stop()
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT oin FROM school")).scalars().all() == [school.oin]
    engine.dispose()
