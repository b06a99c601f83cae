"""The Progress API: one record per pupil per learning unit by its stable id, newer state wins,
idempotent, bulk in one transaction; OAuth scope and consent; bad input answered clearly."""

from __future__ import annotations

import json
import uuid

from eduketen.leervoortgang import repository as repo

from .conftest import record


def stored(progress, rid: str):
    with progress.platform.sessions() as session:
        return repo.record(session, rid)


def count(progress) -> int:
    with progress.platform.sessions() as session:
        return repo.count(session)


def test_put_creates_then_newer_state_wins_and_older_is_ignored(progress):
    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    started = record(brin, rid=rid, status="started", at="2026-11-02T09:40:00Z")
    started.pop("score")
    r = progress.put(rid, started)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "applied": 1, "stale": 0}
    assert r.headers["API-Version"] == "1.0.0"
    assert stored(progress, rid).status == "started"

    done = record(brin, rid=rid, status="completed", at="2026-11-02T10:00:00Z", raw=7, max_=10)
    assert progress.put(rid, done).json()["applied"] == 1
    row = stored(progress, rid)
    assert (row.status, row.score_pct, row.score_raw, row.score_max) == ("completed", 70.0, 7, 10)
    assert (row.judgement, row.judgement_ordinal, row.duration_seconds) == ("goed", 3, 600)
    assert json.loads(row.goals) == ["SLO.REK.8.1", "SLO.REK.8.2"]

    # The "started" state arrives again, late: it must not undo "completed".
    late = progress.put(rid, started)
    assert late.status_code == 200 and late.json() == {"received": 1, "applied": 0, "stale": 1}
    assert stored(progress, rid).status == "completed"
    # The same state again changes nothing (idempotent).
    assert progress.put(rid, done).json()["applied"] == 0
    assert count(progress) == 1


def test_percentage_score_and_body_id_must_match_path(progress):
    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    body = record(brin, rid=rid, pct=55.5)
    assert progress.put(rid, body).status_code == 200
    assert stored(progress, rid).score_pct == 55.5
    other = str(uuid.uuid4())
    r = progress.put(other, body)
    assert r.status_code == 422 and "differs" in r.json()["detail"]
    assert stored(progress, other) is None


def test_bulk_thousands_in_one_request_out_of_order_and_repeated(progress):
    brin = progress.eduv.school.brin
    ids = [str(uuid.uuid4()) for _ in range(2500)]
    newer = [record(brin, rid=i, status="completed", at="2026-11-03T10:00:00Z", unit=f"u{n}") for n, i in enumerate(ids)]
    older = [record(brin, rid=i, status="started", at="2026-11-03T09:00:00Z", unit=f"u{n}") for n, i in enumerate(ids)]
    # Newer states first, then the older ones of half the records, mixed in the same request.
    r = progress.bulk(newer + older[:1000])
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 3500 and r.json()["applied"] == 2500
    r = progress.bulk(older)
    assert r.json() == {"received": 2500, "applied": 0, "stale": 2500}
    assert count(progress) == 2500
    assert {stored(progress, i).status for i in ids[:5] + ids[-5:]} == {"completed"}
    assert progress.bulk(newer).json()["applied"] == 0  # idempotent


def test_bulk_is_all_or_nothing(progress):
    good = record(progress.eduv.school.brin)
    bad = record(progress.eduv.school.brin, status="finished")
    r = progress.bulk([good, bad])
    assert r.status_code == 422
    assert any(e["field"].startswith("records/1/status") for e in r.json()["errors"])
    # A school without consent in the same request refuses the whole request.
    other_school = record(progress.eduv.region.schools[1].brin)
    r = progress.bulk([good, other_school])
    assert r.status_code == 403 and progress.eduv.region.schools[1].brin in r.json()["detail"]
    assert count(progress) == 0
    no_id = record(progress.eduv.school.brin)
    no_id.pop("id")
    r = progress.bulk([no_id])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "records/0/id"


def test_unauthorised_callers(progress):
    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    body = record(brin, rid=rid)
    assert progress.put(rid, body, token="").status_code == 401
    assert progress.put(rid, body, token="not-a-token").status_code == 401
    # A valid token without eduv.progress.
    r = progress.put(rid, body, token=progress.token("methode-a-results"))
    assert r.status_code == 403 and "eduv.progress" in r.json()["detail"]
    # Consent: none for school 1, revoked for school 2.
    r = progress.put(rid, record(progress.eduv.region.schools[1].brin, rid=rid))
    assert r.status_code == 403 and "consent" in r.json()["detail"]
    progress.consent(2, state="revoked")
    r = progress.put(rid, record(progress.eduv.region.schools[2].brin, rid=rid))
    assert r.status_code == 403 and "switched off" in r.json()["detail"]
    # An unknown school gets the same answer as one without consent.
    r = progress.put(rid, record("99ZZ", rid=rid))
    assert r.status_code == 403
    assert count(progress) == 0


def test_another_system_cannot_overwrite_a_record(progress):
    """Same id from a second supplier system with a newer state: the first system's record stays."""
    from eduketen.core.db import unit_of_work
    from eduketen.leervoortgang import service as svc
    from eduketen.leervoortgang.schemas import parse_record

    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    assert progress.put(rid, record(brin, rid=rid, status="started", at="2026-11-02T09:00:00Z")).json()["applied"] == 1
    newer = parse_record(record(brin, rid=rid, status="completed", at="2026-11-02T11:00:00Z"))
    with unit_of_work(progress.platform.sessions) as session:
        school_id = stored(progress, rid).school_id
        assert svc.store(session, [(rid, newer, school_id)], source_system_id=progress.eduv.ids["system-b"]).applied == 0
    assert stored(progress, rid).status == "started"


def test_bad_input(progress):
    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    body = record(brin, rid=rid)
    # Wrong identifiers.
    for bad_id in ("not-a-uuid", "1234", rid.replace("-", "")):
        r = progress.put(bad_id, body)
        assert r.status_code == 422, bad_id
    bad_eck = record(brin, rid=rid, eck="Jan Jansen")
    assert progress.put(rid, bad_eck).status_code == 422
    bad_school = record(brin, rid=rid)
    bad_school["school"] = {"idType": "BRIN", "id": "x' OR 1=1"}
    assert progress.put(rid, bad_school).status_code == 422
    # Names are not accepted anywhere.
    named = record(brin, rid=rid)
    named["student"]["name"] = "Jan"
    assert progress.put(rid, named).status_code == 422
    # Scores that do not hold together.
    for score in ({"raw": 11, "max": 10}, {"raw": 5}, {"percentage": 101}, {}):
        b = record(brin, rid=rid)
        b["score"] = score
        assert progress.put(rid, b).status_code == 422, score
    naive = record(brin, rid=rid, at="2026-11-02T10:00:00")
    assert progress.put(rid, naive).status_code == 422
    # Broken JSON, not UTF-8, empty, a list.
    for raw, status in ((b'{"id": ', 400), (b"\xff\xfe{}", 400), (b"", 422), (b"[]", 422)):
        r = progress.put(rid, None, raw=raw)
        assert r.status_code == status, raw
        assert r.headers["content-type"].startswith("application/") and "Traceback" not in r.text
        r = progress.bulk([], raw=raw)
        assert r.status_code == status, raw
    # Wrong content type.
    r = progress.put(rid, None, raw=json.dumps(body).encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = progress.bulk([], raw=json.dumps({"records": [body]}).encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    # Oversized: a single PUT is held to the platform's limit, the bulk endpoint to its own.
    big = record(brin, rid=rid)
    big["additionalInfo"] = "x" * 3_000_000
    assert progress.put(rid, big).status_code == 413
    huge = b'{"records": [' + b" " * 17_000_000 + b"]}"
    assert progress.bulk([], raw=huge).status_code == 413
    assert count(progress) == 0
