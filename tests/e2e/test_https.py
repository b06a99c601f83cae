"""uvicorn terminating TLS itself and requiring client certificates: the supplier is the OIN in
the certificate that completed the handshake."""

from __future__ import annotations

import ssl

import httpx
import pytest

from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.region import deelnemerslijst

from .conftest import ServerProcess


def _client(ca_file, cert=None, key=None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert:
        context.load_cert_chain(str(cert), str(key))
    return httpx.Client(verify=context, timeout=10)


@pytest.fixture
def https_server(server_env, ca, region, tmp_path):
    pki = tmp_path / "pki"
    ca_cert, _ = ca.write(pki, "ca")
    server_cert, server_key = ca.issue_server(["127.0.0.1", "localhost"]).write(pki, "server")
    env = {**server_env, "EDUKETEN_TRUSTED_PROXIES": "[]"}
    server = ServerProcess(
        env,
        ["--tls-cert", str(server_cert), "--tls-key", str(server_key), "--tls-ca", str(ca_cert)],
        tmp_path / "server.log",
    )
    las = region.schools[0].las
    las_cert, las_key = ca.issue_client(las.oin, las.name).write(pki, "las")
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.load_cert_chain(str(las_cert), str(las_key))
    server.start(ready_url=f"https://127.0.0.1:{server.port}/health", verify=context)
    yield server, pki, ca_cert, (las_cert, las_key)
    server.stop()


def test_mandated_las_over_mutual_tls_gets_202(https_server, region):
    server, _pki, ca_cert, (cert, key) = https_server
    school = region.schools[0]
    with _client(ca_cert, cert, key) as client:
        r = client.post(
            f"https://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=deelnemerslijst(school),
        )
    assert r.status_code == 202, r.text


def test_no_client_certificate_fails_the_handshake(https_server):
    server, _pki, ca_cert, _ = https_server
    with _client(ca_cert) as client, pytest.raises(httpx.HTTPError):
        client.get(f"https://127.0.0.1:{server.port}/health")


def test_certificate_of_a_foreign_ca_fails_the_handshake(https_server, region, tmp_path):
    server, _pki, ca_cert, _ = https_server
    rogue = CertificateAuthority.create("rogue CA")
    las = region.schools[0].las
    cert, key = rogue.issue_client(las.oin, las.name).write(tmp_path / "rogue", "las")
    with _client(ca_cert, cert, key) as client, pytest.raises(httpx.HTTPError):
        client.get(f"https://127.0.0.1:{server.port}/health")


def test_valid_certificate_of_another_supplier_is_401(https_server, ca, region):
    server, pki, ca_cert, _ = https_server
    school = region.schools[0]
    other = next(s for s in region.las_suppliers if s.oin != school.las.oin)
    cert, key = ca.issue_client(other.oin, other.name).write(pki, "other")
    with _client(ca_cert, cert, key) as client:
        r = client.post(
            f"https://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=deelnemerslijst(school),
        )
    assert r.status_code == 401
    assert r.json()["melding"] == "Verzender en/of ontvanger van bericht is niet geautoriseerd door de betreffende school."


def test_client_cert_header_cannot_override_the_handshake(https_server, ca, region):
    """A caller with its own valid certificate cannot claim another supplier's identity by also
    sending a Client-Cert header: no proxy is trusted, and the handshake certificate wins."""
    from eduketen.core.auth import encode_client_cert_header

    server, pki, ca_cert, _ = https_server
    school = region.schools[0]
    other = next(s for s in region.las_suppliers if s.oin != school.las.oin)
    cert, key = ca.issue_client(other.oin, other.name).write(pki, "other2")
    forged = encode_client_cert_header(ca.issue_client(school.las.oin, school.las.name).der)
    with _client(ca_cert, cert, key) as client:
        r = client.post(
            f"https://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=deelnemerslijst(school),
            headers={"Client-Cert": forged},
        )
    assert r.status_code == 401
