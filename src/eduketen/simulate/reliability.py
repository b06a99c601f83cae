"""`eduketen reliability`: load while things break, then count what was lost and duplicated.

One PostgreSQL cluster (throw-away, in a temp dir), one API process (`eduketen serve
--no-worker`), two worker processes (`eduketen worker`) claiming from the same queue, and an
outbound peer (a LAS endpoint over HTTP) that can answer 202, answer 500 or hang.

Inbound: clients post provisional-advice lists for the Doorstroomtoets (v1.1) without pause; every
list names pupils unknown to the test supplier under references unique to that list, and
processing one adds 1 to a counter per reference (``dt_onbekend_advies.times``). A message
processed twice shows as a 2, a lost one as a missing row. Meanwhile the API process, then a
worker, then PostgreSQL are killed (SIGKILL; PostgreSQL by an immediate shutdown, i.e. crash
recovery at the next start) and started again.

Outbound: results are imported for the registered pupils; workers make each pupil's PDF report
and deliver the result to the LAS endpoint through the outbox while the peer first answers 500,
then hangs (longer than the outbox timeout), then recovers, and a worker is killed once more.

It prints, per direction: acknowledged, processed, duplicated, dead-lettered and lost. Goal:
lost = 0 and duplicated = 0 (and no answer 500 while something is down: 503 says "try again").
Exit code 1 otherwise.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.processes import ChildProcess, free_port, wait_http
from eduketen.simulate.region import (
    PupilSpec,
    deelnemerslijst,
    generate_region,
    schooladviezenlijst,
)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- PostgreSQL ------------------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: install the PostgreSQL server binaries (make system-deps)")


class PgCluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE eduketen"))
        admin.dispose()

    def start(self) -> None:
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "start",
            "-o", f"-k {self.base} -p {self.port} -c listen_addresses='' -c max_connections=200",
        )  # fmt: skip

    def crash(self) -> None:
        """An immediate shutdown: no checkpoint; the next start runs crash recovery."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, database: str = "eduketen") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.base}&port={self.port}"


# -- the outbound peer -----------------------------------------------------------------------------


@dataclass
class Peer:
    """A LAS endpoint: POST /leerlingresultaat answered 202, 500, or never (mode)."""

    mode: str = "ok"  # ok | error | hang
    received: dict[str, int] = field(default_factory=dict)  # body hash -> times accepted
    refused: int = 0
    hung: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, cert: Path, key: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
        """HTTPS on loopback (the register accepts only https:// endpoints)."""
        import ssl

        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                mode = peer.mode
                if mode == "hang":
                    with peer.lock:
                        peer.hung += 1
                    time.sleep(30)  # longer than the outbox's timeout; the sender gives up
                    return
                if mode == "error":
                    with peer.lock:
                        peer.refused += 1
                    self._answer(500, b'{"melding":"interne fout"}')
                    return
                key = hashlib.sha256(body).hexdigest()
                with peer.lock:
                    peer.received[key] = peer.received.get(key, 0) + 1
                self._answer(202, b'{"melding":"Bericht ontvangen"}')

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        # the handshake happens in the request's own thread, not in the accepting one
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="peer", daemon=True).start()
        return server, server.server_address[1]


# -- eduketen processes ----------------------------------------------------------------------------


# -- the run ---------------------------------------------------------------------------------------


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _wait_for(engine, count_sql: str, timeout: float) -> bool:
    """Until the query counts 0 (a database that is restarting counts as not yet)."""

    def zero() -> bool:
        try:
            with engine.connect() as conn:
                return conn.execute(text(count_sql)).scalar() == 0
        except Exception:
            return False

    return _wait_until(zero, timeout)


@dataclass
class Load:
    acknowledged: list[str] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


PER_MESSAGE = 4


def run(workdir: Path, *, schools: int, pupils: int, clients: int, phase_seconds: float) -> dict:
    from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
    from eduketen.doorstroomtoets.service import ResultInput, store_results
    from eduketen.migrations import upgrade
    from eduketen.register import repository as register_repo
    from eduketen.register import service as register
    from eduketen.simulate.region import install_region, open_windows
    from eduketen.simulate.results import leerlingresultaat

    workdir.mkdir(parents=True, exist_ok=True)
    region = generate_region(n_schools=schools, pupils_per_school=pupils, seed=8, n_las=2)
    ca = CertificateAuthority.create("reliability CA")
    headers = {s.oin: {"Client-Cert": encode_client_cert_header(ca.issue_client(s.oin, s.name).der)} for s in region.las_suppliers}

    pg = PgCluster(Path(tempfile.mkdtemp(prefix="eduketen-reliability-pg-")))
    pki = workdir / "pki"
    ca_file, _ = ca.write(pki, "ca")
    peer = Peer()
    peer_server, peer_port = peer.serve(*ca.issue_server(["127.0.0.1"]).write(pki, "peer"))
    supplier_cert, supplier_key = ca.issue_client(region.toetsaanbieder.oin, region.toetsaanbieder.name).write(pki, "toetsaanbieder")
    processes: list[ChildProcess] = []
    report: dict = {"parameters": {"schools": schools, "pupils_per_school": pupils, "clients": clients, "phase_seconds": phase_seconds}}
    try:
        _say("starting PostgreSQL")
        pg.init()
        url = pg.url()
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with unit_of_work(sessions) as session:
            install_region(session, region)
            open_windows(session)
        with unit_of_work(sessions) as session:  # every school's LAS endpoint: the outbound peer
            for school in region.schools:
                db_school = register_repo.school_by_oin(session, school.oin)
                for m, _sc, system, supplier, version, _svc in register_repo.mandates(session, school_id=db_school.id):
                    if system.kind == "las" and version.version == "1.1.0":
                        register.register_endpoint(
                            session, caller_oin=supplier.oin, mandate_token=m.token, administration_id=school.routing,
                            namespace=version.namespace, url=f"https://127.0.0.1:{peer_port}/doorstroomtoets/v1.1",
                            attributes=["LAS"], start=date.today() - timedelta(days=1), end=None,
                        )  # fmt: skip
        engine.dispose()

        api_port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
            "EDUKETEN_DATABASE_URL": url,
            "EDUKETEN_OWN_OIN": region.toetsaanbieder.oin,
            "EDUKETEN_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "EDUKETEN_LOG_LEVEL": "WARNING",
            "EDUKETEN_EMBEDDED_WORKER": "false",
            "EDUKETEN_REGISTER_CACHE_SECONDS": "1",
            "EDUKETEN_WORKER_LEASE_SECONDS": "3",
            "EDUKETEN_WORKER_POLL_SECONDS": "0.1",
            "EDUKETEN_WORKER_MAX_ATTEMPTS": "50",
            "EDUKETEN_OUTBOX_TIMEOUT_SECONDS": "1",
            "EDUKETEN_OUTBOX_BACKOFF_BASE_SECONDS": "0.2",
            "EDUKETEN_OUTBOX_BACKOFF_MAX_SECONDS": "1",
            "EDUKETEN_OUTBOX_MAX_ATTEMPTS": "1000",
            "EDUKETEN_OUTBOX_LEASE_SECONDS": "5",
            "EDUKETEN_DATA_DIR": str(workdir / "data"),
            "EDUKETEN_PEER_CA": str(ca_file),
            "EDUKETEN_CLIENT_CERT": str(supplier_cert),
            "EDUKETEN_CLIENT_KEY": str(supplier_key),
            "EDUKETEN_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        }
        api = ChildProcess(["serve", "--port", str(api_port), "--no-worker", "--no-migrate"], env, workdir / "api.log")
        workers = [ChildProcess(["worker"], env, workdir / f"worker{i}.log") for i in (1, 2)]
        processes = [api, *workers]
        for p in processes:
            p.start()
        wait_http(f"http://127.0.0.1:{api_port}/health")
        base = f"http://127.0.0.1:{api_port}/doorstroomtoets/v1.1"

        # the pupils whose results go out later
        with httpx.Client(timeout=10) as client:
            for school in region.schools:
                r = client.post(
                    f"{base}/registreren", params={"edu-to": school.oin, "edu-from": school.routing},
                    json=deelnemerslijst(school), headers=headers[school.las.oin],
                )  # fmt: skip
                if r.status_code != 202:
                    raise RuntimeError(f"registration refused: {r.status_code} {r.text[:300]}")

        # -- inbound load while the API, a worker and PostgreSQL are killed -------------------------
        load = Load()
        stop = threading.Event()
        counter = iter(range(10_000_000))

        def client_loop() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    n = next(counter)
                    school = region.schools[n % len(region.schools)]
                    refs = [f"rel-{school.brin}-{n:07d}-{i}" for i in range(PER_MESSAGE)]
                    body = schooladviezenlijst(
                        school, "v1.1",
                        pupils=[PupilSpec(None, ref, "A", "", "B", "AB", "2014-01-01", 9, "g", "8", "HAVO") for ref in refs],
                    )  # fmt: skip
                    try:
                        r = client.post(
                            f"{base}/registreren-schooladviezen", params={"edu-to": school.oin, "edu-from": school.routing},
                            json=body, headers=headers[school.las.oin],
                        )  # fmt: skip
                    except httpx.HTTPError:
                        with load.lock:
                            load.errors += 1  # no answer: nothing promised
                        time.sleep(0.05)
                        continue
                    with load.lock:
                        if r.status_code == 202:
                            load.acknowledged.extend(refs)
                        else:
                            load.refused[r.status_code] = load.refused.get(r.status_code, 0) + 1
                    if r.status_code != 202:
                        time.sleep(0.05)

        threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        events: list[str] = []

        def event(message: str) -> None:
            events.append(message)
            _say(message)

        time.sleep(phase_seconds)
        event("SIGKILL the API process")
        api.kill()
        time.sleep(0.5)
        api.start()
        wait_http(f"http://127.0.0.1:{api_port}/health")
        event("API process back")
        time.sleep(phase_seconds)
        event("SIGKILL worker 1")
        workers[0].kill()
        time.sleep(phase_seconds / 2)
        workers[0].start()
        event("worker 1 back")
        time.sleep(phase_seconds)
        event("PostgreSQL: immediate shutdown (crash)")
        pg.crash()
        time.sleep(1.5)
        pg.start()
        event("PostgreSQL back (crash recovery)")
        time.sleep(phase_seconds)
        stop.set()
        for t in threads:
            t.join(15)
        event(f"inbound load stopped: {len(load.acknowledged) // PER_MESSAGE} messages acknowledged")

        # -- outbound: results to the LAS while the peer answers 500, then hangs ------------------
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        _wait_for(engine, "SELECT count(*) FROM inbox_message WHERE status IN ('pending','processing')", 120 + 20 * phase_seconds)
        event("inbound backlog processed")
        inputs = []
        for school in region.schools:
            for p in school.pupils:
                def build(spec_key, rapport_url, p=p):
                    return leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=rapport_url, seed=p.las_key)

                inputs.append(ResultInput(line=p.las_key, school=school.brin, eck_id=p.eck_id, las_key=p.las_key, schooljaar="2025-2026", build=build))
        peer.mode = "error"
        event("peer answers 500")
        with unit_of_work(sessions) as session:
            outcome = store_results(session, inputs, public_url=env["EDUKETEN_PUBLIC_URL"])
        results_stored = outcome.stored
        event(f"{results_stored} results imported")
        _wait_until(lambda: peer.refused >= 3, 60 + 10 * phase_seconds)
        time.sleep(phase_seconds / 2)
        peer.mode = "hang"
        event(f"peer hangs (no answer), after {peer.refused} answers 500")
        _wait_until(lambda: peer.hung >= 2, 60 + 10 * phase_seconds)
        event("SIGKILL worker 2 (during delivery)")
        workers[1].kill()
        time.sleep(0.5)
        workers[1].start()
        time.sleep(phase_seconds / 2)
        peer.mode = "ok"
        event(f"peer answers 202 again, after {peer.hung} hung requests")

        # -- settle ---------------------------------------------------------------------------------
        _wait_for(
            engine,
            "SELECT (SELECT count(*) FROM inbox_message WHERE status IN ('pending','processing')) + "
            "(SELECT count(*) FROM outbox_message WHERE status = 'pending')",
            120 + 10 * phase_seconds,
        )
        with engine.connect() as conn:
            times = dict(conn.execute(text("SELECT id_value, times FROM dt_onbekend_advies WHERE id_value LIKE 'rel-%'")).all())
            inbox = dict(conn.execute(text("SELECT status, count(*) FROM inbox_message GROUP BY status")).all())
            outbox = dict(conn.execute(text("SELECT status, count(*) FROM outbox_message GROUP BY status")).all())
            current_results = conn.execute(text("SELECT count(*) FROM dt_resultaat")).scalar()
        engine.dispose()

        acked = set(load.acknowledged)
        inbound = {
            "acknowledged": len(acked) // PER_MESSAGE,
            "processed": sum(1 for r in acked if r in times) // PER_MESSAGE,
            "duplicated": len({r.rsplit("-", 1)[0] for r, n in times.items() if n > 1}),
            "dead_lettered": inbox.get("failed", 0),
            "lost": len({r.rsplit("-", 1)[0] for r in acked if r not in times}),
            "refused_while_down": load.refused,
            "server_errors": sum(n for status, n in load.refused.items() if status >= 500 and status != 503),
            "no_answer_while_down": load.errors,
            "unit": f"messages (each {PER_MESSAGE} pupils)",
        }
        delivered_bodies = len(peer.received)
        outbound = {
            "acknowledged": current_results,  # results the supplier holds: each must reach the LAS
            "processed": delivered_bodies,
            "duplicated": sum(n - 1 for n in peer.received.values()),
            "dead_lettered": outbox.get("dead", 0),
            "lost": max(0, current_results - delivered_bodies),
            "peer_500_answers": peer.refused,
            "peer_hung_requests": peer.hung,
            "outbox": outbox,
            "unit": "pupil results delivered to the LAS endpoint",
        }
        report.update({"events": events, "inbound": inbound, "outbound": outbound})
        report["ok"] = all(d["lost"] == 0 and d["duplicated"] == 0 and d["dead_lettered"] == 0 for d in (inbound, outbound))
        report["ok"] = report["ok"] and inbound["acknowledged"] > 0 and results_stored > 0 and inbound["server_errors"] == 0
        return report
    finally:
        for p in processes:
            p.stop()
        peer_server.shutdown()
        pg.stop()
        shutil.rmtree(pg.base, ignore_errors=True)


def print_report(report: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table("direction", "acknowledged", "processed", "duplicated", "dead-lettered", "lost", title="Reliability")
    for name in ("inbound", "outbound"):
        d = report[name]
        table.add_row(f"{name} ({d['unit']})", str(d["acknowledged"]), str(d["processed"]), str(d["duplicated"]), str(d["dead_lettered"]), str(d["lost"]))
    console.print(table)
    console.print("events: " + "; ".join(report["events"]))
    console.print(
        f"inbound refused while down: {report['inbound']['refused_while_down']} (server errors other than 503: "
        f"{report['inbound']['server_errors']}), no answer: {report['inbound']['no_answer_while_down']}; "
        f"peer answered 500 {report['outbound']['peer_500_answers']}x, hung {report['outbound']['peer_hung_requests']}x"
    )
    console.print("[green]goal met: lost 0, duplicated 0[/green]" if report["ok"] else "[red]GOAL NOT MET[/red]")
