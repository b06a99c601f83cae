"""eduketen behind real nginx (Debian package) with deploy/nginx/eduketen.conf as it stands:
nginx terminates TLS, requires a client certificate of the configured CA and forwards it in the
Client-Cert header to two `eduketen serve` processes; whatever Client-Cert header a client sends
itself never reaches eduketen."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.region import deelnemerslijst

from .conftest import ServerProcess, free_port
from .nginx import Nginx, client_context, nginx_binary

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make test installs it)")

UNAUTHORIZED = "Verzender en/of ontvanger van bericht is niet geautoriseerd door de betreffende school."


@pytest.fixture
def behind_nginx(server_env, ca, region, tmp_path):
    pki = tmp_path / "pki"
    ca_cert, _ = ca.write(pki, "ca")
    server_cert, server_key = ca.issue_server(["127.0.0.1", "localhost"]).write(pki, "server")
    apis = [ServerProcess(server_env, ["--no-worker", "--no-migrate"], tmp_path / f"api{i}.log") for i in range(2)]
    for api in apis:
        api.start()
    proxy = Nginx(port=free_port(), upstreams=[a.port for a in apis], server_cert=server_cert, server_key=server_key, clients_ca=ca_cert)
    proxy.start()
    try:
        yield proxy, pki, ca_cert
    finally:
        proxy.stop()
        for api in apis:
            api.stop()


def _inbox_count(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM inbox_message")).scalar()
    engine.dispose()
    return n


def _client(context) -> httpx.Client:
    # Clients come from another address than nginx (127.0.0.2; nginx itself is the trusted
    # proxy 127.0.0.1), as they would from another machine.
    return httpx.Client(transport=httpx.HTTPTransport(verify=context, local_address="127.0.0.2"), timeout=10)


def _post(proxy, context, school, *, headers=None, body=None):
    with _client(context) as client:
        return client.post(
            f"https://127.0.0.1:{proxy.port}/doorstroomtoets/v1.1/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=body if body is not None else deelnemerslijst(school),
            headers=headers or {},
        )


def test_valid_certificate_passes_through_nginx_to_every_api_process(behind_nginx, ca, region, database_url):
    proxy, pki, ca_cert = behind_nginx
    las = region.schools[0].las
    cert, key = ca.issue_client(las.oin, las.name).write(pki, "las")
    context = client_context(ca_cert, cert, key)
    schools = [s for s in region.schools if s.las.oin == las.oin]
    statuses = [_post(proxy, context, schools[i % len(schools)]).status_code for i in range(6)]
    assert statuses == [202] * 6
    # A client-chosen X-Forwarded-For does not make eduketen take nginx for a stranger.
    r = _post(proxy, context, schools[0], headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 202, r.text
    assert _inbox_count(database_url) >= 1
    # both API processes answered (round robin); the log format names the upstream
    upstreams = {line.split()[1] for line in proxy.access_log().splitlines() if line.split()[2] == "202"}
    assert len(upstreams) == 2, proxy.access_log()


def test_missing_certificate_is_refused_by_nginx(behind_nginx, region, database_url):
    proxy, _pki, ca_cert = behind_nginx
    before = _inbox_count(database_url)
    r = _post(proxy, client_context(ca_cert), region.schools[0])
    assert r.status_code == 401
    assert r.json()["title"] == "Unauthorized"
    assert _inbox_count(database_url) == before


def test_certificate_of_a_foreign_ca_is_refused(behind_nginx, region, tmp_path, database_url):
    proxy, _pki, ca_cert = behind_nginx
    las = region.schools[0].las
    rogue = CertificateAuthority.create("rogue CA")
    cert, key = rogue.issue_client(las.oin, las.name).write(tmp_path / "rogue", "las")
    before = _inbox_count(database_url)
    try:
        r = _post(proxy, client_context(ca_cert, cert, key), region.schools[0])
    except httpx.HTTPError:
        pass  # refused in the handshake: refused all the same
    else:
        assert r.status_code == 401
    assert _inbox_count(database_url) == before


@pytest.mark.parametrize("header_name", ["Client-Cert", "client-cert", "CLIENT-CERT", "Client_Cert"])
def test_client_supplied_client_cert_header_is_never_trusted(behind_nginx, ca, region, database_url, header_name):
    """A supplier with a valid certificate of its own sends the mandated LAS's certificate in a
    Client-Cert header: nginx overwrites (or drops) it, eduketen sees the handshake's supplier."""
    proxy, pki, ca_cert = behind_nginx
    school = region.schools[0]
    other = next(s for s in region.las_suppliers if s.oin != school.las.oin)
    cert, key = ca.issue_client(other.oin, other.name).write(pki, "other")
    forged = encode_client_cert_header(ca.issue_client(school.las.oin, school.las.name).der)
    before = _inbox_count(database_url)
    r = _post(proxy, client_context(ca_cert, cert, key), school, headers={header_name: forged})
    assert r.status_code == 401, r.text
    assert r.json()["melding"] == UNAUTHORIZED
    # ... and without any certificate, the forged header alone gets nowhere either
    r = _post(proxy, client_context(ca_cert), school, headers={header_name: forged})
    assert r.status_code == 401
    assert _inbox_count(database_url) == before


def test_metrics_are_not_served_through_the_proxy(behind_nginx, ca, region):
    proxy, pki, ca_cert = behind_nginx
    las = region.schools[0].las
    cert, key = ca.issue_client(las.oin, las.name).write(pki, "las-m")
    with _client(client_context(ca_cert, cert, key)) as client:
        r = client.get(f"https://127.0.0.1:{proxy.port}/metrics")
        health = client.get(f"https://127.0.0.1:{proxy.port}/health")
    assert r.status_code == 404
    assert health.status_code == 200
    assert health.headers["strict-transport-security"].startswith("max-age=")


def test_requests_are_limited_per_client_certificate(server_env, ca, region, tmp_path):
    """nginx's limit_req per certificate (the deployed file, with a rate a test can reach): one
    client sending fast gets 429 in JSON, another client is not held up."""
    pki = tmp_path / "pki"
    ca_cert, _ = ca.write(pki, "ca")
    server_cert, server_key = ca.issue_server(["127.0.0.1"]).write(pki, "server")
    api = ServerProcess(server_env, ["--no-worker", "--no-migrate"], tmp_path / "api.log")
    api.start()
    proxy = Nginx(port=free_port(), upstreams=[api.port], server_cert=server_cert, server_key=server_key, clients_ca=ca_cert, rate="1r/m", burst=3)
    proxy.start()
    try:
        fast, calm = region.las_suppliers[0], region.las_suppliers[1]
        fast_ctx = client_context(ca_cert, *ca.issue_client(fast.oin, fast.name).write(pki, "fast"))
        calm_ctx = client_context(ca_cert, *ca.issue_client(calm.oin, calm.name).write(pki, "calm"))
        with _client(fast_ctx) as client:
            codes = [client.get(f"https://127.0.0.1:{proxy.port}/health").status_code for _ in range(8)]
            limited = client.get(f"https://127.0.0.1:{proxy.port}/health")
        assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}, codes
        assert limited.json()["title"] == "Too many requests" and limited.headers["retry-after"] == "1"
        with _client(calm_ctx) as client:
            assert client.get(f"https://127.0.0.1:{proxy.port}/health").status_code == 200
    finally:
        proxy.stop()
        api.stop()
