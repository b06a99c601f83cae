"""SIGKILL the server while clients are posting: after a restart every message that got a 202
is processed exactly once.

Each message is a provisional-advice list whose pupils are all unknown to the test supplier, with
references unique to that message. Processing such a message increments a counter per
reference (``dt_onbekend_advies.times``), so a message processed twice shows as a 2, and a
message lost shows as a missing row."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.simulate.region import PupilSpec, schooladviezenlijst

from .conftest import ServerProcess

PER_MESSAGE = 5


def _message(school, n: int) -> tuple[dict, list[str]]:
    pupils = [
        PupilSpec(None, f"crash-{school.brin}-{n:05d}-{i}", "A", "", "B", "AB", "2014-01-01", 9, "g", "8", "HAVO")
        for i in range(PER_MESSAGE)
    ]
    return schooladviezenlijst(school, "v1.1", pupils=pupils), [p.las_key for p in pupils]


def test_sigkill_while_posting_loses_nothing_and_duplicates_nothing(server_env, database_url, region, ca, tmp_path):
    server = ServerProcess(server_env, [], tmp_path / "server.log")
    server.start()
    headers = {
        s.oin: {"Client-Cert": encode_client_cert_header(ca.issue_client(s.oin, s.name).der)} for s in region.las_suppliers
    }
    acknowledged: list[str] = []  # references of every message that got a 202
    unexpected: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(1_000_000))

    def client_loop() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                school = region.schools[next(counter) % len(region.schools)]
                body, refs = _message(school, next(counter))
                try:
                    r = client.post(
                        f"http://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren-schooladviezen",
                        params={"edu-to": school.oin, "edu-from": school.routing},
                        json=body,
                        headers=headers[school.las.oin],
                    )
                except httpx.HTTPError:
                    time.sleep(0.05)  # the server is down; no 202, so nothing was promised
                    continue
                if r.status_code == 202:
                    with lock:
                        acknowledged.extend(refs)
                elif r.status_code != 503:  # 503: the store was unavailable, nothing promised
                    unexpected.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _round in range(3):
            time.sleep(1.5)
            server.kill()  # mid-stream: requests in flight, the worker mid-transaction
            time.sleep(0.3)
            server.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)

    # Let the restarted server's worker finish (expired leases come back after 3 s).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        depth = httpx.get(f"http://127.0.0.1:{server.port}/ready", timeout=5).json()["queue_depth"]
        if depth == 0:
            break
        time.sleep(0.5)
    server.stop()

    assert unexpected == []
    assert len(acknowledged) > 50 * PER_MESSAGE, "too little traffic to prove anything"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        times = dict(conn.execute(text("SELECT id_value, times FROM dt_onbekend_advies WHERE id_label='LAS-key'")).all())
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM inbox_message GROUP BY status")).all())
    engine.dispose()
    lost = [ref for ref in acknowledged if ref not in times]
    duplicated = {ref: n for ref, n in times.items() if n != 1}
    assert statuses.keys() == {"done"}, statuses
    assert lost == []
    assert duplicated == {}


def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_embedded_worker_killed_is_started_again_and_processes_what_waits(server_env, database_url, region, ca, tmp_path):
    server = ServerProcess(server_env, [], tmp_path / "server.log")
    server.start()
    try:
        first = _children(server.proc.pid)
        assert len(first) == 1, first  # the embedded worker
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not [c for c in _children(server.proc.pid) if c != first[0]]:
            time.sleep(0.1)
        second = _children(server.proc.pid)
        assert len(second) == 1 and second[0] != first[0], second
        school = region.schools[0]
        body, refs = _message(school, 1)
        r = httpx.post(
            f"http://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren-schooladviezen",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=body,
            headers={"Client-Cert": encode_client_cert_header(ca.issue_client(school.las.oin, school.las.name).der)},
            timeout=10,
        )
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if httpx.get(f"http://127.0.0.1:{server.port}/ready", timeout=5).json()["queue_depth"] == 0:
                break
            time.sleep(0.2)
    finally:
        server.stop()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        times = dict(conn.execute(text("SELECT id_value, times FROM dt_onbekend_advies WHERE id_label='LAS-key'")).all())
    engine.dispose()
    assert {ref: times.get(ref) for ref in refs} == {ref: 1 for ref in refs}
    assert "exited with code -9" in (tmp_path / "server.log").read_text()
