"""Fixtures: a real SQLite file and a real, throw-away PostgreSQL cluster; our own CA; a small
synthetic region installed through the real migrations and services."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from eduketen.app import create_app
from eduketen.config import Settings
from eduketen.core.auth import encode_client_cert_header
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.migrations import upgrade
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.processes import free_port
from eduketen.simulate.region import (
    Region,
    generate_region,
    install_region,
    open_windows,
)

PROXY = ("127.0.0.1", 40000)


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@dataclass
class PgServer:
    socket_dir: str
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A throw-away PostgreSQL cluster, started for the test session and removed after it."""
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not on the PATH; run `make test`, which installs them")
    base = Path(tempfile.mkdtemp(prefix="eduketen-pg-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = free_port()
    _as_postgres(["initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
    _as_postgres(
        [
            "pg_ctl", "-D", str(data), "-l", str(base / "log"), "-w", "start",
            "-o", f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=200",
        ]
    )
    server = PgServer(str(base), port)
    admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE template_eduketen"))
    admin.dispose()
    upgrade(server.url("template_eduketen"))
    try:
        yield server
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]
            if os.geteuid() == 0
            else ["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


_db_counter = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'eduketen.db'}"
        upgrade(url)
        yield url
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE template_eduketen"))
    yield server.url(name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("eduketen test CA")


@pytest.fixture(scope="session")
def region() -> Region:
    return generate_region(n_schools=3, pupils_per_school=6, seed=7, n_las=2)


@dataclass
class Chain:
    platform: Platform
    client: TestClient
    region: Region
    headers: dict[str, dict[str, str]]  # supplier OIN -> Client-Cert header
    ca: CertificateAuthority

    def cert_header(self, oin: str, name: str = "Onbekende leverancier") -> dict[str, str]:
        if oin not in self.headers:
            issued = self.ca.issue_client(oin, name)
            self.headers[oin] = {"Client-Cert": encode_client_cert_header(issued.der)}
        return self.headers[oin]

    def post(self, path: str, body, *, school=None, edu_to=None, edu_from=None, as_oin=None, headers=None, raw=None):
        school = school or self.region.schools[0]
        params = {"edu-to": edu_to if edu_to is not None else school.oin, "edu-from": edu_from if edu_from is not None else school.routing}
        sender = as_oin or school.las.oin
        all_headers = {**self.cert_header(sender), **(headers or {})}
        if raw is not None:
            all_headers.setdefault("Content-Type", "application/json")
            return self.client.post(path, params=params, content=raw, headers=all_headers)
        return self.client.post(path, params=params, json=body, headers=all_headers)

    def drain(self) -> int:
        return self.platform.worker.drain()


def make_settings(database_url: str, region: Region, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        roles=["toetsaanbieder", "register"],
        own_oin=region.toetsaanbieder.oin,
        trusted_proxies=["127.0.0.1/32"],
        admin_token="test-admin-token",
        embedded_worker=False,
        register_cache_seconds=0.0,
        log_json=True,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def chain_settings() -> dict:
    """Overrides of ``make_settings`` for the ``chain`` fixture; a test directory may override this."""
    return {}


@pytest.fixture
def chain(database_url, region, ca, chain_settings):
    settings = make_settings(database_url, region, **chain_settings)
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        open_windows(session)
    app = create_app(settings, platform=platform)
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        chain = Chain(platform, client, region, {}, ca)
        for supplier in [region.toetsaanbieder, *region.las_suppliers]:
            chain.cert_header(supplier.oin, supplier.name)
        yield chain
    platform.close()


# -- the security suite's summary (tests/security): attempts made and leaks found, summed over every
# worker's records; here because only this conftest is loaded in the xdist controller.

SECURITY_ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "security"


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput") and SECURITY_ARTIFACTS.exists():  # the controller clears old records
        for old in SECURITY_ARTIFACTS.glob("*.json"):
            old.unlink()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not SECURITY_ARTIFACTS.exists():
        return
    attempts, leaks, by_category = 0, [], {}
    for path in SECURITY_ARTIFACTS.glob("*.json"):
        doc = json.loads(path.read_text())
        for a in doc["attempts"]:
            attempts += 1
            by_category[a["category"]] = by_category.get(a["category"], 0) + 1
            if a["leak"]:
                leaks.append(f"{a['category']} {a['endpoint']} {a['attack']}: {a['why']}")
    if not attempts:
        return
    terminalreporter.section("security: attempts and leaks")
    for category, n in sorted(by_category.items()):
        terminalreporter.write_line(f"  {category}: {n} attempts")
    terminalreporter.write_line(f"security attempts made: {attempts}, leaks found: {len(leaks)}")
    for leak in leaks[:50]:
        terminalreporter.write_line(f"  LEAK {leak}")
