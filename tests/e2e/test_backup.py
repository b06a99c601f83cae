"""`eduketen backup` while a real server takes messages, then `eduketen restore` into a new
database: every message acknowledged before the backup began is in the restored store and is
processed there exactly once. SQLite (online backup API) and PostgreSQL (pg_dump/pg_restore)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from eduketen.core.auth import encode_client_cert_header
from eduketen.simulate.region import PupilSpec, schooladviezenlijst

from .conftest import EDUKETEN, ServerProcess

PER_MESSAGE = 3


def _message(school, n: int):
    pupils = [
        PupilSpec(None, f"bk-{school.brin}-{n:06d}-{i}", "A", "", "B", "AB", "2014-01-01", 9, "g", "8", "HAVO")
        for i in range(PER_MESSAGE)
    ]
    return schooladviezenlijst(school, "v1.1", pupils=pupils), [p.las_key for p in pupils]


def _cli(env, *args) -> subprocess.CompletedProcess:
    result = subprocess.run([EDUKETEN, *args], env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def restore_url(database_url, tmp_path, request):
    """An empty database to restore into (a new file, or a new PostgreSQL database)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name = f"restored_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield server.url(name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_backup_under_write_load_restores_every_acknowledged_message(server_env, database_url, restore_url, region, ca, tmp_path):
    server = ServerProcess(server_env, [], tmp_path / "server.log")
    server.start()
    headers = {s.oin: {"Client-Cert": encode_client_cert_header(ca.issue_client(s.oin, s.name).der)} for s in region.las_suppliers}
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10_000_000))
    problems: list[str] = []

    def client_loop() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                n = next(counter)
                school = region.schools[n % len(region.schools)]
                body, refs = _message(school, n)
                r = client.post(
                    f"http://127.0.0.1:{server.port}/doorstroomtoets/v1.1/registreren-schooladviezen",
                    params={"edu-to": school.oin, "edu-from": school.routing},
                    json=body,
                    headers=headers[school.las.oin],
                )
                if r.status_code == 202:
                    with lock:
                        acknowledged.extend(refs)
                else:
                    problems.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client_loop) for _ in range(3)]
    for t in threads:
        t.start()
    backup_file = tmp_path / "backups" / "eduketen.backup"
    try:
        time.sleep(1.5)
        with lock:
            before_backup = list(acknowledged)  # acknowledged before the backup began
        made = _cli(server_env, "backup", str(backup_file))
        time.sleep(0.5)  # the load goes on after the backup
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        server.stop()
    assert made.returncode == 0, made.stderr
    assert "backup written" in made.stdout
    assert problems == []
    assert len(before_backup) >= 20 * PER_MESSAGE, "too little traffic before the backup to prove anything"
    assert len(acknowledged) > len(before_backup), "the server took no writes while the backup ran"
    assert not backup_file.with_name(backup_file.name + ".partial").exists()

    env = {**server_env, "EDUKETEN_DATABASE_URL": restore_url}
    restored = _cli(env, "restore", str(backup_file))
    assert restored.returncode == 0, restored.stderr
    # a second restore over data is refused without --yes
    again = _cli(env, "restore", str(backup_file))
    assert again.returncode == 1 and "--yes" in again.stderr
    assert _cli(env, "db", "upgrade").returncode == 0
    # whatever was still waiting in the backup's inbox is processed in the restored installation
    worked = _cli(env, "worker", "--once")
    assert worked.returncode == 0, worked.stderr
    assert _cli(env, "audit", "verify").returncode == 0

    engine = create_engine(restore_url)
    with engine.connect() as conn:
        times = dict(conn.execute(text("SELECT id_value, times FROM dt_onbekend_advies WHERE id_label='LAS-key'")).all())
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM inbox_message GROUP BY status")).all())
    engine.dispose()
    missing = [ref for ref in before_backup if ref not in times]
    assert missing == []
    assert {ref: n for ref, n in times.items() if n != 1} == {}
    assert set(statuses) == {"done"}, statuses


def test_backup_and_restore_refuse_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")}
    env["EDUKETEN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'none.db'}"
    missing = _cli(env, "backup", str(tmp_path / "b.db"))
    assert missing.returncode == 1 and "no SQLite database" in missing.stderr
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database" * 100)
    bad = _cli(env, "restore", str(junk))
    assert bad.returncode == 1 and "error" in bad.stderr
    assert not (tmp_path / "none.db").exists() or (tmp_path / "none.db").stat().st_size == 0
