"""What an operator relies on: health and readiness, a request id on every answer, logs that never
hold pupil data, and an audit log whose hash chain shows a changed or removed entry. On SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import json
import io
import logging
import sys

import pytest
import structlog
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, update
from starlette.testclient import TestClient

from eduketen import __version__
from eduketen.app import create_app
from eduketen.core import audit
from eduketen.core.audit import GENESIS, AuditWriter
from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.core.logging import configure
from eduketen.core.models import AuditEntry, InboxMessage
from eduketen.core.platform import Platform
from eduketen.migrations import alembic_config
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst
from tests.conftest import PROXY, make_settings

V11 = "/doorstroomtoets/v1.1"
ADMIN = {"Authorization": "Bearer test-admin-token"}


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


# -- health and readiness ----------------------------------------------------------------------------


def test_health(chain):
    r = chain.client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__}


def test_ready_reports_queue_depth_and_schema_revision(chain):
    r = chain.client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["queue_depth"] == 0
    assert body["schema_revision"] == head_revision(chain.platform.settings.database_url)
    school = chain.region.schools[0]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school)).status_code == 202
    assert chain.client.get("/ready").json()["queue_depth"] == 1
    chain.drain()
    assert chain.client.get("/ready").json()["queue_depth"] == 0


def test_ready_is_503_on_a_database_without_schema(tmp_path, region):
    settings = make_settings(f"sqlite:///{tmp_path / 'empty.db'}", region)
    platform = Platform.build(settings)
    try:
        with TestClient(create_app(settings, platform=platform), client=PROXY) as client:
            r = client.get("/ready")
            assert r.status_code == 503
            assert r.json()["status"] == "unavailable" and r.json()["reason"]
            assert client.get("/health").status_code == 200  # the process itself is up
    finally:
        platform.close()


# -- request ids ---------------------------------------------------------------------------------------


def test_every_response_has_a_request_id(chain):
    school = chain.region.schools[0]
    responses = [
        chain.client.get("/health"),
        chain.client.get("/ready"),
        chain.client.get("/does-not-exist"),
        chain.client.delete("/health"),
        chain.client.get("/admin/schools"),  # 401
        chain.client.get("/admin/schools", headers=ADMIN),
        chain.client.post("/admin/schools", content=b"{", headers={**ADMIN, "Content-Type": "application/json"}),
        chain.client.post("/admin/schools", content=b"x" * (chain.platform.settings.max_body_bytes + 1), headers=ADMIN),
        chain.post(f"{V11}/registreren", deelnemerslijst(school)),
        chain.post(f"{V11}/registreren", {"kapot": True}),
        chain.client.post(f"{V11}/registreren", json={}),  # no certificate
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert {r.status_code for r in responses} >= {200, 202, 401, 404, 405, 413, 422}
    assert all(ids), list(zip([r.status_code for r in responses], ids))
    assert len(set(ids)) == len(ids)  # a new one per request


def test_unexpected_error_is_500_json_with_a_request_id_in_answer_and_log(chain, json_logs):
    def boom():
        raise RuntimeError("Zorgvuldignaam")

    chain.client.app.add_api_route("/test-boom", boom)
    r = chain.client.get("/test-boom", headers={"X-Request-ID": "boom-request-0001"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "boom-request-0001"  # what the caller quotes to support ...
    assert r.json()["title"] == "Internal error"
    assert "Zorgvuldignaam" not in r.text and "Traceback" not in r.text
    errors = [json.loads(line) for line in json_logs().splitlines() if '"unexpected error' in line]
    assert errors and errors[0]["request_id"] == "boom-request-0001"  # ... finds the log line
    assert errors[0]["level"] == "error"
    r = chain.client.get("/test-boom")
    assert len(r.headers["x-request-id"]) == 32


def test_valid_incoming_request_id_is_echoed(chain):
    for rid in ("abcdefgh", "req-2026-10-01_0001", "3f1c2b8e-8d7a-4c1e-9b0a-1234567890ab", "A" * 36):
        assert chain.client.get("/health", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid
        assert chain.client.get("/no-such-page", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid


def test_invalid_incoming_request_id_is_replaced(chain):
    for rid in ("short", "<script>alert(1)</script>", "has spaces in it", "x" * 37, "x" * 65, "ünïcödé-request", "١٢٣٤٥٦٧٨٩", ""):
        raw = rid.encode("utf-8") if not rid.isascii() else rid
        got = chain.client.get("/health", headers={"X-Request-ID": raw}).headers["x-request-id"]
        assert got != rid and len(got) == 32 and all(c in "0123456789abcdef" for c in got), rid


def test_request_id_is_kept_with_the_accepted_message(chain):
    school = chain.region.schools[0]
    rid = "3f1c2b8e-8d7a-4c1e-9b0a-1234567890ab"
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), headers={"X-Request-ID": rid})
    assert r.status_code == 202 and r.headers["x-request-id"] == rid
    with chain.platform.sessions() as s:
        assert s.scalar(select(InboxMessage.request_id)) == rid


def test_a_long_request_id_never_costs_the_message(chain):
    """Whatever request id a LAS sends, its message is stored (the column holds 36 characters)."""
    school = chain.region.schools[0]
    rid = "a" * 64
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), headers={"X-Request-ID": rid})
    assert r.status_code == 202, r.text
    with chain.platform.sessions() as s:
        stored = s.scalar(select(InboxMessage.request_id))
    assert stored == r.headers["x-request-id"]
    assert len(stored) <= 36


# -- logs without personal data ---------------------------------------------------------------------------


@pytest.fixture
def json_logs():
    """``configure`` as `eduketen serve` does (JSON lines on stderr), its handler writing into a
    buffer we read; logging is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore")
    loggers = {n: logging.getLogger(n) for n in names}
    saved_loggers = {n: (lg.handlers[:], lg.propagate, lg.disabled, lg.level) for n, lg in loggers.items()}
    configure("DEBUG", json_lines=True)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert handler.stream is sys.stderr
    handler.setStream(buffer)
    try:
        yield buffer.getvalue
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for n, lg in loggers.items():
            lg.handlers[:], lg.propagate, lg.disabled, level = saved_loggers[n]
            lg.setLevel(level)
        structlog.reset_defaults()


def test_logs_hold_request_ids_but_no_pupil_data(chain, json_logs):
    school = chain.region.schools[0]
    pupils = copy.deepcopy(school.pupils)
    pupils[0].roepnaam, pupils[0].achternaam = "Zorgvuldignaam", "Privacyberg"
    pupils[0].geboortedatum = "2014-12-31"
    pupils[0].eck_id = "https://ketenid.nl/201703/" + "e" * 128
    pupils[0].las_key = "ll-geheim-0001"
    secrets = ["Zorgvuldignaam", "Privacyberg", "2014-12-31", "e" * 64, "ll-geheim-0001"]
    for p in pupils[1:]:
        secrets += [p.achternaam, p.geboortedatum, p.las_key] + ([p.eck_id] if p.eck_id else [])

    rid = "log-test-request-0001"
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=pupils), headers={"X-Request-ID": rid})
    assert r.status_code == 202
    assert chain.post(f"{V11}/registreren-schooladviezen", schooladviezenlijst(school, pupils=pupils)).status_code == 202
    bad = deelnemerslijst(school, pupils=pupils)
    bad["deelnemers"][0]["extensie"]["geboortedatum"] = "31-12-2014 Zorgvuldignaam"
    r = chain.post(f"{V11}/registreren", bad)
    assert r.status_code == 422
    other = chain.region.schools[1]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=pupils), edu_from=other.routing).status_code == 401
    assert chain.drain() == 2
    overview = chain.client.get("/admin/doorstroomtoets/overzicht", headers=ADMIN)
    assert overview.status_code == 200
    logging.getLogger("eduketen.test").info("marker line")  # the capture works at all

    text = json_logs()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(line.get("event") == "marker line" for line in lines)
    access = [line for line in lines if line.get("logger") == "eduketen.access"]
    assert len(access) >= 5
    assert all(line.get("request_id") for line in access)
    assert any(line.get("request_id") == rid and line.get("status") == 202 for line in access)
    assert all("?" not in line.get("path", "") for line in access)  # no query strings
    for secret in secrets:
        assert secret not in text, secret


# -- the audit log -----------------------------------------------------------------------------------


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def record(sessions, *subject_ids, actor="00000003000000002000", purpose="leerlingrapport ophalen"):
    with unit_of_work(sessions) as s:
        return audit.record(s, actor=actor, action="read", subject_type="pupil", subject_ids=list(subject_ids), purpose=purpose)


def verify(sessions):
    with sessions() as s:
        return audit.verify(s)


def entries(sessions) -> list[AuditEntry]:
    with sessions() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_empty_audit_log_is_intact(sessions):
    assert verify(sessions) == (True, 0, None)


def test_audit_entries_chain_by_hash(sessions):
    assert record(sessions, "p1", "p2", "p3") == 3
    assert record(sessions, "p4", "p5") == 2
    assert verify(sessions) == (True, 5, None)
    rows = entries(sessions)
    assert rows[0].prev_hash == GENESIS
    for before, after in zip(rows, rows[1:]):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in rows}) == 5


def test_a_changed_entry_is_detected(sessions):
    record(sessions, "p1", "p2", "p3", "p4")
    target = entries(sessions)[2]
    for field, value in (("actor", "00000003000000009999"), ("subject_id", "p9"), ("purpose", "nieuwsgierig"), ("action", "write")):
        original = getattr(target, field)
        with unit_of_work(sessions) as s:
            s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values({field: value}))
        assert verify(sessions) == (False, 2, target.id), field
        with unit_of_work(sessions) as s:
            s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values({field: original}))
        assert verify(sessions) == (True, 4, None)


def test_a_changed_time_is_detected(sessions):
    from datetime import timedelta

    record(sessions, "p1", "p2")
    target = entries(sessions)[0]
    with unit_of_work(sessions) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(at=target.at - timedelta(days=1)))
    assert verify(sessions) == (False, 0, target.id)


def test_a_rehashed_entry_still_breaks_the_chain_at_the_next(sessions):
    """Whoever changes an entry and recomputes its hash is caught by the entry after it."""
    record(sessions, "p1", "p2", "p3")
    rows = entries(sessions)
    target, following = rows[1], rows[2]
    stamp = target.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    forged = audit._digest(target.prev_hash, stamp, target.actor, target.action, target.subject_type, "p-forged", target.purpose)
    with unit_of_work(sessions) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(subject_id="p-forged", hash=forged))
    assert verify(sessions) == (False, 2, following.id)


def test_a_deleted_entry_is_detected(sessions):
    record(sessions, "p1", "p2", "p3", "p4")
    rows = entries(sessions)
    with unit_of_work(sessions) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == rows[1].id))
    assert verify(sessions) == (False, 1, rows[2].id)


def test_a_deleted_first_entry_is_detected(sessions):
    record(sessions, "p1", "p2")
    rows = entries(sessions)
    with unit_of_work(sessions) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == rows[0].id))
    assert verify(sessions) == (False, 0, rows[1].id)


def test_group_committed_audit_entries_form_one_chain_with_direct_ones(sessions):
    record(sessions, "direct-1")
    writer = AuditWriter(sessions.kw["bind"], wait_ms=20)

    async def many():
        return await asyncio.gather(
            *(writer.append(actor="00000003000000002000", action="read", subject_type="pupil", subject_ids=[f"g{i}a", f"g{i}b"], purpose="rapport")
              for i in range(10))
        )  # fmt: skip

    try:
        assert asyncio.run(many()) == [2] * 10
    finally:
        writer.stop()
    record(sessions, "direct-2")
    assert verify(sessions) == (True, 22, None)
    assert writer.batches < 10  # requests shared transactions
