"""The suite playing the test supplier's ``GET /leerlingrapport/{rapportid}`` for a LAS under test.

A small HTTPS server the suite starts itself: it answers 204 ("not yet available") to the first
request for a report and the PDF to the next, and remembers who asked, with which certificate and
on whose behalf, so the scenario can check that the LAS comes back after a 204."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from eduketen.conformance.target import Target


def tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF with one line of text (no library needed)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 760 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class Hit:
    rapport_id: str
    edu_to: str | None
    edu_from: str | None
    client_oin: str | None
    served: int


def _client_oin(peer: dict | None) -> str | None:
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "serialNumber":
                return value
    return None


class ReportServer:
    def __init__(self, target: Target) -> None:
        if target.report_cert is None:
            raise ValueError("the report server needs --report-cert and --report-key")
        self.target = target
        self._expected: set[str] = set()
        self._hits: dict[str, list[Hit]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.target.report_url:
            return self.target.report_url.rstrip("/")
        host, port = self.target.report_listen
        return f"https://{host}:{port}/doorstroomtoets/{self.target.spec_key}"

    def expect(self, rapport_id: str) -> str:
        with self._lock:
            self._expected.add(rapport_id)
        return f"{self.base_url}/leerlingrapport/{rapport_id}"

    def hits(self, rapport_id: str) -> list[Hit]:
        with self._lock:
            return list(self._hits.get(rapport_id, []))

    def wait(self, rapport_id: str, done: Callable[[list[Hit]], bool], timeout: float) -> tuple[bool, list[Hit]]:
        deadline = time.monotonic() + timeout
        while True:
            hits = self.hits(rapport_id)
            if done(hits):
                return True, hits
            if time.monotonic() > deadline:
                return False, hits
            time.sleep(0.1)

    def _answer(self, path: str, query: str, peer: dict | None) -> tuple[int, str, bytes]:
        parts = path.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != "leerlingrapport":
            return 404, "application/json", orjson.dumps({"melding": "Leerlingrapport niet bekend."})
        rapport_id = parts[-1]
        params = parse_qs(query)
        with self._lock:
            known = rapport_id in self._expected
            earlier = self._hits.setdefault(rapport_id, []) if known else []
            status = 404 if not known else (204 if not earlier else 200)
            if known:
                earlier.append(
                    Hit(rapport_id, (params.get("edu-to") or [None])[0], (params.get("edu-from") or [None])[0], _client_oin(peer), status)
                )
        if status == 404:
            return 404, "application/json", orjson.dumps({"melding": "Leerlingrapport niet bekend."})
        if status == 204:
            return 204, "", b""
        return 200, "application/pdf", tiny_pdf(f"Leerlingrapport {rapport_id} (eduketen conformance suite)")

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - the http.server interface
                split = urlsplit(self.path)
                try:
                    peer = self.connection.getpeercert()
                except (AttributeError, ValueError):
                    peer = None
                status, content_type, body = owner._answer(split.path, split.query, peer)
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                if status != 204:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and status != 204:
                    self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - quiet
                return

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.target.report_cert.cert), str(self.target.report_cert.key))
        client_ca = self.target.extra.get("report_client_ca") or self.target.ca
        if client_ca:
            context.load_verify_locations(cafile=str(client_ca))
            context.verify_mode = ssl.CERT_OPTIONAL
        host, port = self.target.report_listen
        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="conformance-report-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
