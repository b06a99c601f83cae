"""`eduketen serve --processes N`: N API processes on one port (each its own socket, SO_REUSEPORT),
one embedded worker, no migrations in the children; an API process that dies is started again
while the other keeps answering; everything posted through both processes into one database is
stored once (SQLite: two processes writing one WAL database); SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import httpx
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.simulate.processes import EDUKETEN, child_processes, listening_sockets
from eduketen.simulate.region import PupilSpec, schooladviezenlijst

from .conftest import ServerProcess

PER_MESSAGE = 3


def _wait(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _apis(server) -> dict[int, str]:
    return {pid: cmd for pid, cmd in child_processes(server.proc.pid).items() if "--reuse-port" in cmd}


def test_two_processes_share_the_port_survive_a_crash_store_everything_and_stop(server_env, database_url, region, ca, tmp_path):
    server = ServerProcess(server_env, ["--processes", "2"], tmp_path / "server.log")
    server.start()
    try:
        _wait(lambda: listening_sockets(server.port) == 2 and len(_apis(server)) == 2, "two API processes listen")
        children = child_processes(server.proc.pid)
        workers = [cmd for cmd in children.values() if cmd.endswith(" worker")]
        assert len(workers) == 1, children  # the embedded worker: once, started by the parent
        assert all("--no-migrate" in cmd and "--no-worker" in cmd for cmd in _apis(server).values())

        headers = {s.oin: {"Client-Cert": encode_client_cert_header(ca.issue_client(s.oin, s.name).der)} for s in region.las_suppliers}
        acknowledged: list[str] = []
        unexpected: list[str] = []
        lock = threading.Lock()
        counter = iter(range(1_000_000))

        def post_some(n: int) -> None:
            for _ in range(n):
                # a new connection each time, so the kernel spreads them over both processes
                with httpx.Client(timeout=30) as client:
                    k = next(counter)
                    school = region.schools[k % len(region.schools)]
                    pupils = [PupilSpec(None, f"proc-{k:05d}-{i}", "A", "", "B", "AB", "2014-01-01", 9, "g", "8", "HAVO")
                              for i in range(PER_MESSAGE)]  # fmt: skip
                    try:
                        r = client.post(f"http://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren-schooladviezen",
                                        params={"edu-to": school.oin, "edu-from": school.routing},
                                        json=schooladviezenlijst(school, "v1.1", pupils=pupils), headers=headers[school.las.oin])  # fmt: skip
                    except httpx.TransportError as exc:  # only while one process is being killed (below)
                        with lock:
                            unexpected.append(f"transport {exc!r}")
                        continue
                    with lock:
                        if r.status_code == 202:
                            acknowledged.extend(p.las_key for p in pupils)
                        else:
                            unexpected.append(f"{r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=post_some, args=(15,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert unexpected == []
        assert len(acknowledged) == 60 * PER_MESSAGE

        # An API process killed hard: the other one keeps answering; the parent starts a new one.
        victim = next(iter(_apis(server)))
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: listening_sockets(server.port) == 1 or victim not in _apis(server), "the killed process is gone")
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=10).status_code == 200
        _wait(lambda: listening_sockets(server.port) == 2 and len(_apis(server)) == 2 and victim not in _apis(server),
              "a new API process listens")  # fmt: skip

        # The worker processed every message that got a 202, once.
        def drained() -> bool:
            return httpx.get(f"http://127.0.0.1:{server.port}/ready", timeout=5).json()["queue_depth"] == 0

        _wait(drained, "the worker drained the queue", timeout=90)
        engine = create_engine(database_url)
        with engine.connect() as conn:
            times = dict(conn.execute(text("SELECT id_value, times FROM dt_onbekend_advies WHERE id_label='LAS-key'")).all())
        engine.dispose()
        assert sorted(ref for ref in acknowledged if times.get(ref) == 1) == sorted(acknowledged)

        # SIGTERM to the parent stops every child and the parent itself, cleanly.
        pids = list(child_processes(server.proc.pid))
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        _wait(lambda: not any(os.path.exists(f"/proc/{p}") and "Z" not in _state(p) for p in pids), "the children stopped")
        assert listening_sockets(server.port) == 0
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log.split("exited with code -9")[0]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_port_in_use_is_refused_at_once_with_a_message(server_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([EDUKETEN, "serve", "--port", str(port), "--processes", "2", "--no-worker"], env=server_env,
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
