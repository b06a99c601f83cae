"""Who is calling: the supplier OIN in the client certificate (Edukoppeling style).

Two ways the verified certificate reaches the app:

1. uvicorn terminates TLS and requires client certificates (``eduketen serve --tls-...``); our
   protocol class (``eduketen.core.tls``) puts the peer certificate into the ASGI TLS extension
   ``scope["extensions"]["tls"]["client_cert_chain"]``.
2. A TLS-terminating proxy forwards it in the RFC 9440 ``Client-Cert`` header
   (``:<base64 DER>:``; a URL-encoded PEM as nginx's ``$ssl_client_escaped_cert`` gives is
   accepted too). The header is trusted only from the configured proxy addresses; from anyone
   else it is ignored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import urllib.parse
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

_DER = Encoding.DER


@dataclass(frozen=True, slots=True)
class Caller:
    oin: str
    thumbprint: str  # x5t#S256, base64url without padding
    subject: str


class CertificateProblem(ValueError):
    pass


def _oin_from_certificate(cert: x509.Certificate) -> Caller:
    serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not serials:
        raise CertificateProblem("certificate subject has no serialNumber (OIN)")
    oin = str(serials[0].value).strip()
    if len(oin) != 20 or not oin.isalnum():
        raise CertificateProblem("certificate serialNumber is not a 20-position OIN")
    der = cert.public_bytes(encoding=_DER)
    thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    return Caller(oin=oin, thumbprint=thumb, subject=cert.subject.rfc4514_string())


@functools.lru_cache(maxsize=8192)
def caller_from_der(der: bytes) -> Caller:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateProblem("client certificate cannot be read") from exc
    return _oin_from_certificate(cert)


@functools.lru_cache(maxsize=8192)
def caller_from_header(value: str) -> Caller:
    """Parse a Client-Cert header value (RFC 9440 byte sequence, or URL-encoded PEM)."""
    value = value.strip()
    if value.startswith(":") and value.endswith(":") and len(value) > 2:
        try:
            der = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CertificateProblem("Client-Cert header is not base64") from exc
        return caller_from_der(der)
    text = urllib.parse.unquote(value)
    if "BEGIN CERTIFICATE" in text:
        try:
            cert = x509.load_pem_x509_certificate(text.encode())
        except ValueError as exc:
            raise CertificateProblem("client certificate cannot be read") from exc
        return _oin_from_certificate(cert)
    raise CertificateProblem("Client-Cert header is neither an RFC 9440 byte sequence nor a PEM")


def encode_client_cert_header(der: bytes) -> str:
    """The RFC 9440 form of a DER certificate, as a proxy would send it."""
    return ":" + base64.b64encode(der).decode() + ":"


class TrustedProxies:
    def __init__(self, networks: list[str]):
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._cache: dict[str, bool] = {}

    def __contains__(self, host: str | None) -> bool:
        if not host or not self._networks:
            return False
        hit = self._cache.get(host)
        if hit is None:
            try:
                address = ipaddress.ip_address(host)
                hit = any(address in network for network in self._networks)
            except ValueError:
                hit = False
            if len(self._cache) < 10_000:
                self._cache[host] = hit
        return hit


def caller_from_scope(scope: dict, trusted: TrustedProxies) -> Caller | None:
    """The verified caller, or None. Raises CertificateProblem for a present but unusable cert."""
    tls = scope.get("extensions", {}).get("tls")
    if tls and tls.get("client_cert_chain"):
        pem = tls["client_cert_chain"][0]
        der = pem if isinstance(pem, bytes) and not pem.startswith(b"-----") else None
        if der is None:
            cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
            der = cert.public_bytes(_DER)
        return caller_from_der(der)
    client = scope.get("client")
    if client and client[0] in trusted:
        for name, value in scope.get("headers", ()):
            if name == b"client-cert":
                return caller_from_header(value.decode("latin-1"))
    return None
