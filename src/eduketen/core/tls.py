"""uvicorn terminating TLS with client certificates, passing the peer certificate to the app.

uvicorn can require client certificates (``ssl_cert_reqs=CERT_REQUIRED``) but does not hand the
certificate to the application. These protocol classes add the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings) to every request scope.
"""

from __future__ import annotations

import ssl

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _peer_chain(transport) -> list[str]:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return []
    der = ssl_object.getpeercert(binary_form=True)
    return [ssl.DER_cert_to_PEM_cert(der)] if der else []


class _ClientCertMixin:
    _client_chain: list[str]

    def connection_made(self, transport):  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._client_chain = _peer_chain(transport)

    def _with_tls(self) -> None:
        if self._client_chain:
            self.scope["extensions"] = {  # type: ignore[attr-defined]
                "tls": {"client_cert_chain": self._client_chain, "tls_version": None}
            }


class ClientCertHttpToolsProtocol(_ClientCertMixin, HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._with_tls()
