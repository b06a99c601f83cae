"""Operations: health and readiness, a request id on every answer and log line, logs without
personal data, and the hash-chained audit log."""

from __future__ import annotations

import io
import logging

from sqlalchemy import update

from eduketen.core import audit
from eduketen.core.db import unit_of_work
from eduketen.core.logging import configure
from eduketen.core.models import AuditEntry
from eduketen.simulate.region import deelnemerslijst


def test_health_and_ready(chain):
    assert chain.client.get("/health").json()["status"] == "ok"
    ready = chain.client.get("/ready").json()
    assert ready["status"] == "ready" and ready["queue_depth"] == 0 and ready["schema_revision"]


def test_request_id_echoed_or_made(chain):
    r = chain.client.get("/health", headers={"X-Request-ID": "abc-12345-def"})
    assert r.headers["x-request-id"] == "abc-12345-def"
    r = chain.client.get("/health", headers={"X-Request-ID": "<script>"})
    assert r.headers["x-request-id"] != "<script>" and len(r.headers["x-request-id"]) == 32


def test_logs_carry_request_ids_and_no_pupil_data(chain):
    stream = io.StringIO()
    configure("DEBUG", json_lines=True)
    logging.getLogger().handlers[0].stream = stream
    school = chain.region.schools[0]
    pupil = school.pupils[0]
    body = deelnemerslijst(school)
    body["deelnemers"][0]["roepnaam"] = "Zorgvuldignaam"
    assert chain.post("/doorstroomtoets/v1.1/registreren", body).status_code == 202
    bad = deelnemerslijst(school)
    bad["deelnemers"][0]["extensie"]["geboortedatum"] = "nooit"
    assert chain.post("/doorstroomtoets/v1.1/registreren", bad).status_code == 422
    chain.drain()
    text = stream.getvalue()
    assert '"request_id"' in text and "/doorstroomtoets/v1.1/registreren" in text
    for personal in ("Zorgvuldignaam", pupil.achternaam, pupil.geboortedatum, pupil.las_key, pupil.eck_id or "ketenid"):
        assert personal not in text, personal
    assert "edu-to" not in text  # no query strings


def test_audit_chain_detects_changes_and_removals(chain):
    with unit_of_work(chain.platform.sessions) as s:
        for i in range(3):
            audit.record(s, actor="oin:x", action="read", subject_type="pupil", subject_ids=[str(i)], purpose="test")
    with chain.platform.sessions() as s:
        assert audit.verify(s) == (True, 3, None)
    with unit_of_work(chain.platform.sessions) as s:
        s.execute(update(AuditEntry).where(AuditEntry.subject_id == "1").values(actor="oin:someone-else"))
    with chain.platform.sessions() as s:
        intact, checked, broken = audit.verify(s)
    assert not intact and checked == 1
    with unit_of_work(chain.platform.sessions) as s:
        s.execute(update(AuditEntry).where(AuditEntry.subject_id == "1").values(actor="oin:x"))
        s.query(AuditEntry).filter(AuditEntry.subject_id == "0").delete()
    with chain.platform.sessions() as s:
        assert audit.verify(s)[0] is False
