"""The quicker bulk ingest path keeps its rules: the newest state of an id wins within a request and
against the stored one, schools are resolved and consent checked per school, the body is validated
in parts with the same answers as whole, SQLite gets the same time text and every row whatever the
statement sizes."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import TypeAdapter

from eduketen.leervoortgang import api
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang.api import PART_BYTES
from eduketen.leervoortgang.schemas import AwareDatetime

from .conftest import record


def stored(progress, rid: str):
    with progress.platform.sessions() as session:
        return repo.record(session, rid)


def dirty_cells(progress) -> set[tuple]:
    from sqlalchemy import select

    from eduketen.leervoortgang.models import ProgressDirty

    with progress.platform.sessions() as session:
        return {(s, e, d) for s, e, d in session.execute(select(ProgressDirty.school_id, ProgressDirty.eck_id, ProgressDirty.day))}


def test_duplicates_in_one_request_and_against_the_stored_state(progress):
    brin = progress.eduv.school.brin
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    # a: three states in one request, newest in the middle; b: the same state twice (the first wins).
    first = [record(brin, rid=a, status="started", at="2026-11-03T09:00:00Z"),
             record(brin, rid=a, status="completed", at="2026-11-03T11:00:00Z", unit="u-a"),
             record(brin, rid=a, status="abandoned", at="2026-11-03T10:00:00Z"),
             record(brin, rid=b, status="started", at="2026-11-03T09:00:00Z", unit="first"),
             record(brin, rid=b, status="started", at="2026-11-03T09:00:00Z", unit="second")]  # fmt: skip
    r = progress.bulk(first)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 5, "applied": 2, "stale": 3}
    assert (stored(progress, a).status, stored(progress, a).unit_id) == ("completed", "u-a")
    assert stored(progress, b).unit_id == "first"
    # Stored a is at 11:00. One request holds an older and a newer state of a (older first), an
    # older state of b only, and a new id c given in upper case.
    second = [record(brin, rid=a, status="started", at="2026-11-03T10:30:00Z"),
              record(brin, rid=a, status="completed", at="2026-11-04T08:00:00+02:00", unit="u-a2", raw=9),
              record(brin, rid=b, status="not-started", at="2026-11-03T08:00:00Z"),
              record(brin, rid=c.upper(), status="started", at="2026-11-03T12:00:00Z")]  # fmt: skip
    r = progress.bulk(second)
    assert r.json() == {"received": 4, "applied": 2, "stale": 2}
    row = stored(progress, a)
    assert (row.status, row.unit_id, row.score_pct) == ("completed", "u-a2", 90.0)
    assert row.state_at == datetime(2026, 11, 4, 6, 0, tzinfo=UTC)  # +02:00 stored in UTC
    assert stored(progress, b).status == "started"
    assert stored(progress, c).status == "started"
    with progress.platform.sessions() as session:
        assert repo.count(session) == 3
    # The old and the new day of a are both marked for the aggregates.
    school_id = row.school_id
    assert {(school_id, row.eck_id, "2026-11-03"), (school_id, row.eck_id, "2026-11-04")} <= dirty_cells(progress)


def test_a_bulk_over_two_schools_needs_consent_of_each(progress):
    first, second = progress.eduv.region.schools[0].brin, progress.eduv.region.schools[1].brin
    records = [record(first), record(second.lower()), record(first)]
    r = progress.bulk(records)
    assert r.status_code == 403
    assert second.upper() in r.json()["detail"]
    with progress.platform.sessions() as session:
        assert repo.count(session) == 0
    progress.consent(1)
    r = progress.bulk(records)
    assert r.status_code == 200 and r.json()["applied"] == 3
    unknown = record("99ZZ")
    r = progress.bulk([record(first), unknown])
    assert r.status_code == 403 and "99ZZ" in r.json()["detail"]


def _many(brin: str, n_parts: int) -> list[dict]:
    """Records enough for more than ``n_parts`` parts of the bulk validation."""
    one = len(json.dumps(record(brin), separators=(",", ":")))
    return [record(brin, unit=f"u{i}") for i in range(n_parts * PART_BYTES // one + 30)]


def test_validation_in_parts_answers_as_the_whole_body(progress):
    brin = progress.eduv.school.brin
    records = _many(brin, 3)
    late = len(records) - 7  # in the last part
    assert len(api._parts(orjson.dumps({"records": records}))) >= 3
    records[late]["status"] = "done"
    records[3]["score"] = {"raw": "x", "max": 10}  # and one in the first
    r = progress.bulk(records)
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["records/3/score/raw", f"records/{late}/status"]
    # Lax input that pydantic accepts from JSON is accepted the same way in parts.
    records[late]["status"] = "completed"
    records[3]["score"] = {"raw": "7", "max": 10}
    records[4]["accessDurationSeconds"] = 30.0
    r = progress.bulk(records)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == len(records)
    assert stored(progress, records[3]["id"]).score_raw == 7.0
    assert stored(progress, records[4]["id"]).duration_seconds == 30
    # Not a bulk body, or JSON that is not valid: the answers of the whole-body validation.
    for raw, status in ((b'{"records": [], "x": 1}', 422), (b'{"records": "x"}', 422), (b"[1]", 422), (b'{"records": [{"a": NaN}]}', 422), (b'{"records": [', 400),
                        (b'{"records": [{"accessDurationSeconds": 1' + b"0" * 30 + b"}]}", 422), (b'{"records": []}', 422),
                        (b'{"records": [{}]} x', 400), (b'{"records": [{"id": "\xff"}]}', 400)):  # fmt: skip
        r = progress.bulk([], raw=raw)
        assert r.status_code == status, (raw, r.text)


def test_parts_cut_inside_a_string_or_with_spaces_change_nothing(progress):
    """A text holding ``},{`` (where the parts are cut) in every record, and a body written with
    spaces and new lines: the same records are stored as sent."""
    brin = progress.eduv.school.brin
    records = _many(brin, 3)
    for i, r in enumerate(records):
        r["judgement"] = {"text": f'x"}},{{"id": "{i}"}}, {{ y'}
    spaced = json.dumps({"records": records}, indent=1).encode()
    assert len(api._parts(spaced)) >= 3
    for body in (orjson.dumps({"records": records}), spaced):
        r = progress.bulk([], raw=body)
        assert r.status_code == 200, r.text
        assert r.json()["received"] == len(records)
    for i in (0, len(records) // 2, len(records) - 1):
        assert stored(progress, records[i]["id"]).judgement == records[i]["judgement"]["text"]
    # Here a cut fell inside a text: that part is no JSON, so the whole body was validated.
    with pytest.raises(ValueError):
        [json.loads(part) for part in api._parts(spaced)]
    # Without such texts the parts hold every record once, in order.
    plain = _many(brin, 3)
    out = [rec["id"] for part in api._parts(json.dumps({"records": plain}, indent=1).encode()) for rec in json.loads(part)]
    assert out == [rec["id"] for rec in plain]
    # Two "records" keys: the whole-body validation decides (as before, the last one counts).
    first, second = records[:2], records[2:3]
    raw = b'{"records": ' + orjson.dumps(first) + b', "records": ' + orjson.dumps(second) + b"}"
    assert api._validate_bulk(raw) == [api.record_from_dict(r) for r in api._validate(api.BULK, raw, "")["records"]]


def test_sqlite_texts_match_one_by_one():
    values = TypeAdapter(list[AwareDatetime | None]).validate_json(json.dumps([
        "2026-11-02T10:00:00Z", "2026-11-02T10:00:00.5Z", "2026-11-02T10:00:00.000001+00:00", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z", None, "2026-03-29T02:30:00-00:00"]))  # fmt: skip
    plain = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=0)))]
    for batch in (values, values + plain, [None, None], []):
        assert repo.sqlite_texts(batch) == [repo._sqlite_text(v) for v in batch]
    # With an offset other than UTC anywhere, one by one (converted to UTC).
    shifted = values + TypeAdapter(list[AwareDatetime]).validate_json(b'["2026-11-02T10:00:00.25+01:00"]')
    texts = repo.sqlite_texts(shifted)
    assert texts == [repo._sqlite_text(v) for v in shifted] and texts[-1] == "2026-11-02 09:00:00.250000"


@pytest.mark.parametrize("limit", [999, 50, 7])
def test_sqlite_multi_row_insert_writes_every_row_in_order(limit):
    connection = sqlite3.connect(":memory:")
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    connection.execute("CREATE TABLE t (n, a, b, c, d, e, f)")
    columns = ("n", "a", "b", "c", "d", "e", "f")
    for count in (1, 2, 3, 1023, 1025, 2000, 2047):
        connection.execute("DELETE FROM t")
        rows = [(i, f"a{i}", None, 1.5, True, "x" * (i % 7), orjson.dumps([i]).decode()) for i in range(count)]
        repo._sqlite_insert(connection, "t", columns, rows)
        assert connection.execute("SELECT * FROM t ORDER BY rowid").fetchall() == [(i, a, b, c, int(d), e, f) for i, a, b, c, d, e, f in rows]
