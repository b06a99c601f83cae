"""Who is calling: the OIN in the client certificate, from the TLS layer or from the RFC 9440
``Client-Cert`` header of a trusted proxy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import urllib.parse

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from eduketen.core.auth import (
    Caller,
    CertificateProblem,
    TrustedProxies,
    caller_from_der,
    caller_from_header,
    caller_from_scope,
    encode_client_cert_header,
)
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.region import deelnemerslijst

SUPPLIER_OIN = "00000003000000002000"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("auth test CA")


@pytest.fixture(scope="module")
def issued(ca):
    return ca.issue_client(SUPPLIER_OIN, "Leverancier Zuid B.V.")


def url_encoded_pem(pem: bytes) -> str:
    """What nginx puts in ``$ssl_client_escaped_cert``."""
    return urllib.parse.quote(pem.decode())


def scope(client_host: str, headers: list[tuple[bytes, bytes]] = (), tls_chain=None) -> dict:
    s = {"type": "http", "client": (client_host, 50000), "headers": list(headers)}
    if tls_chain is not None:
        s["extensions"] = {"tls": {"client_cert_chain": tls_chain}}
    return s


# -- header parsing ------------------------------------------------------------------------------


def test_rfc9440_byte_sequence_gives_the_oin(issued):
    header = encode_client_cert_header(issued.der)
    assert header.startswith(":") and header.endswith(":")
    caller = caller_from_header(header)
    assert isinstance(caller, Caller)
    assert caller.oin == SUPPLIER_OIN
    assert "Leverancier Zuid B.V." in caller.subject
    assert SUPPLIER_OIN in caller.subject


def test_rfc9440_with_surrounding_whitespace(issued):
    assert caller_from_header("  " + encode_client_cert_header(issued.der) + " ").oin == SUPPLIER_OIN


def test_url_encoded_pem_gives_the_same_caller(issued):
    encoded = url_encoded_pem(issued.cert_pem)
    assert "\n" not in encoded and "%0A" in encoded
    assert caller_from_header(encoded) == caller_from_header(encode_client_cert_header(issued.der))


def test_oin_with_capital_letters_is_read(ca):
    school_like = ca.issue_client("0000000700011BB00000", "Stichting School")
    assert caller_from_der(school_like.der).oin == "0000000700011BB00000"


def test_thumbprint_is_base64url_sha256_of_der_and_stable(ca, issued):
    expected = base64.urlsafe_b64encode(hashlib.sha256(issued.der).digest()).rstrip(b"=").decode()
    first = caller_from_header(encode_client_cert_header(issued.der))
    again = caller_from_header(url_encoded_pem(issued.cert_pem))
    via_tls = caller_from_scope(scope("203.0.113.9", tls_chain=[issued.cert_pem.decode()]), TrustedProxies([]))
    assert first.thumbprint == again.thumbprint == via_tls.thumbprint == expected
    assert "=" not in expected and "+" not in expected and "/" not in expected
    renewed = ca.issue_client(SUPPLIER_OIN, "Leverancier Zuid B.V.")  # same OIN, new key
    other = caller_from_der(renewed.der)
    assert other.oin == first.oin and other.thumbprint != first.thumbprint


# -- refusals ------------------------------------------------------------------------------------


def test_certificate_without_serial_number_is_refused():
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example", common_name="client zonder OIN")
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    with pytest.raises(CertificateProblem, match="no serialNumber"):
        caller_from_header(encode_client_cert_header(der))
    with pytest.raises(CertificateProblem, match="no serialNumber"):
        caller_from_header(url_encoded_pem(leaf.cert_chain_pems[0].bytes()))


def _cert_with_serial_number(ca: CertificateAuthority, serial_number: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number), x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


@pytest.mark.parametrize("serial", ["0000000300000000200", "000000030000000020001", "0000000300000000200-", ""])
def test_serial_number_that_is_no_oin_is_refused(ca, serial):
    der = _cert_with_serial_number(ca, serial)
    with pytest.raises(CertificateProblem, match="not a 20-position OIN"):
        caller_from_der(der)


@pytest.mark.parametrize(
    "header,words",
    [
        (":dit is geen base64!:", "not base64"),
        (":" + base64.b64encode(b"garbage, no certificate").decode() + ":", "cannot be read"),
        ("hello", "neither"),
        ("", "neither"),
        ("::", "neither"),
        (urllib.parse.quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "cannot be read"),
    ],
)
def test_garbage_header_is_refused_with_a_reason(header, words):
    with pytest.raises(CertificateProblem) as caught:
        caller_from_header(header)
    assert words in str(caught.value)


def test_certificate_problem_is_a_value_error():
    assert issubclass(CertificateProblem, ValueError)


# -- trusted proxies -----------------------------------------------------------------------------


def test_trusted_proxies_networks_and_addresses():
    trusted = TrustedProxies(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])
    assert "10.1.2.3" in trusted
    assert "192.0.2.7" in trusted
    assert "2001:db8::1" in trusted
    assert "11.0.0.1" not in trusted
    assert "192.0.2.8" not in trusted
    assert "not-an-address" not in trusted
    assert None not in trusted
    assert "" not in trusted
    assert "10.1.2.3" in trusted  # cached answer is the same


def test_no_trusted_proxies_trusts_nobody():
    assert "127.0.0.1" not in TrustedProxies([])


def test_header_from_trusted_proxy_is_used(issued):
    header = (b"client-cert", encode_client_cert_header(issued.der).encode())
    caller = caller_from_scope(scope("10.0.0.5", [header]), TrustedProxies(["10.0.0.0/24"]))
    assert caller is not None and caller.oin == SUPPLIER_OIN


def test_header_from_untrusted_address_is_ignored(issued):
    header = (b"client-cert", encode_client_cert_header(issued.der).encode())
    assert caller_from_scope(scope("203.0.113.9", [header]), TrustedProxies(["10.0.0.0/24"])) is None
    assert caller_from_scope(scope("10.0.0.5", [header]), TrustedProxies([])) is None


def test_garbage_header_from_untrusted_address_is_ignored_not_refused():
    header = (b"client-cert", b":garbage:")
    assert caller_from_scope(scope("203.0.113.9", [header]), TrustedProxies(["10.0.0.0/24"])) is None
    with pytest.raises(CertificateProblem):
        caller_from_scope(scope("10.0.0.5", [header]), TrustedProxies(["10.0.0.0/24"]))


def test_tls_layer_certificate_wins_over_a_header(ca, issued):
    other = ca.issue_client("00000003000000009999", "Andere leverancier")
    header = (b"client-cert", encode_client_cert_header(other.der).encode())
    caller = caller_from_scope(scope("10.0.0.5", [header], tls_chain=[issued.cert_pem.decode()]), TrustedProxies(["10.0.0.0/8"]))
    assert caller.oin == SUPPLIER_OIN
    as_der = caller_from_scope(scope("203.0.113.9", tls_chain=[issued.der]), TrustedProxies([]))
    assert as_der.oin == SUPPLIER_OIN


def test_no_certificate_at_all_is_none():
    assert caller_from_scope(scope("10.0.0.5"), TrustedProxies(["10.0.0.0/8"])) is None
    assert caller_from_scope({"type": "http", "headers": []}, TrustedProxies(["10.0.0.0/8"])) is None


# -- through the API -------------------------------------------------------------------------------


def test_api_answers_401_not_500_for_unusable_certificates(chain):
    school = chain.region.schools[0]
    params = {"edu-to": school.oin, "edu-from": school.routing}
    body = deelnemerslijst(school)
    leaf = trustme.CA().issue_cert("client.example")
    for value in (":garbage:", "nonsense", url_encoded_pem(leaf.cert_chain_pems[0].bytes())):
        r = chain.client.post("/doorstroomtoets/v1.1/registreren", params=params, json=body, headers={"Client-Cert": value})
        assert r.status_code == 401, (value, r.text)
        assert "clientcertificaat" in r.json()["toelichting"].lower()


def test_api_accepts_url_encoded_pem_from_the_proxy(chain):
    school = chain.region.schools[0]
    issued = chain.ca.issue_client(school.las.oin, school.las.name)
    r = chain.client.post(
        "/doorstroomtoets/v1.1/registreren",
        params={"edu-to": school.oin, "edu-from": school.routing},
        json=deelnemerslijst(school),
        headers={"Client-Cert": url_encoded_pem(issued.cert_pem)},
    )
    assert r.status_code == 202, r.text
