"""The msgspec path of progress records (``schemas.decode_records``) against the pydantic contract
(``schemas.RECORDS``): whatever msgspec takes, pydantic takes too and reads the same values from
it, down to the rows stored; what msgspec does not take, pydantic decides. So a caller never sees
which path its request went."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduketen.leervoortgang import api
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc
from eduketen.leervoortgang.schemas import (
    RECORDS,
    ValidationError,
    decode_record,
    decode_records,
    record_from_dict,
)

from .conftest import record


def _base(n: int = 0) -> dict:
    return {
        "id": str(uuid.UUID(int=n + 1, version=4)), "student": {"eckId": "https://ketenid.nl/201703/" + f"{n:016x}" + "0" * 40},
        "school": {"idType": "BRIN", "id": "01AB"}, "courseId": "rekenen-7", "assignableUnitId": f"les-{n}", "subject": "rekenen",
        "status": "completed", "statusChangedAt": "2026-11-02T10:00:00Z", "startedAt": "2026-11-02T09:00:00.5+01:00",
        "completedAt": "2026-11-02T10:00:00Z", "score": {"raw": 7, "max": 20}, "judgement": {"text": "voldoende", "ordinal": 2, "ordinalMax": 3},
        "accessDurationSeconds": 300, "pleaseFollowUp": False, "detailUrl": "https://methode.example/v/1", "learningGoals": ["SLO.REK.7.1"],
    }  # fmt: skip


def _pydantic(raw: bytes):
    try:
        return [record_from_dict(r) for r in RECORDS.validate_json(raw)]
    except ValidationError:
        return None


def _rows(records) -> list[tuple]:
    triples = [((r.id or "x").lower(), r, 1) for r in records]
    return (svc.build_rows(triples, source_system_id=1, received_at="t", times=repo.sqlite_texts),
            svc.build_rows(triples, source_system_id=1, received_at="t"))  # fmt: skip


def _same(raw: bytes) -> None:
    fast, slow = decode_records(raw), _pydantic(raw)
    if fast is not None:
        assert slow is not None, raw
        assert fast == slow, raw
        assert _rows(fast) == _rows(slow), raw


# Values for each field that sit on or beside an edge of the contract (or of one engine).
TEXTS = ["", "a", "x" * 100, "x" * 101, "x" * 200, "x" * 201, "ab\n", "a\x00b", "\u00a0", "é", "a b", "\t", 5, None, True, ["a"], {"a": 1}]
URLS = ["https://", "https://a", "https://a b", "https://a\tb", "https://a\n", "HTTPS://a", "http://a", "https://é", "https://a\x7f",
        "https://a\x1c", "https://a\u00a0", "https://a\u2028", " https://a", "https://" + "x" * 992, "https://" + "x" * 993, "https://a\x00",
        "https://ketenid.nl/201703/" + "f" * 128, 5, None]  # fmt: skip
IDS = [str(uuid.UUID(int=7)), str(uuid.UUID(int=7)).upper(), "{" + str(uuid.UUID(int=7))[1:35] + "}", str(uuid.UUID(int=7)).replace("-", "")
       + "----", "0000000 -0000-0000-0000-000000000007", "00000000-0000-0000-0000-00000000000g", "00000000-0000-0000-0000-00000000000é",
       "00000000-0000-0000-0000-00000000000\n", "00000000_0000-0000-0000-000000000007", "", None, 7]  # fmt: skip
SCHOOLS = ["01AB", "01ab", "01A", "0" * 20, "0" * 21, "01AB\n", "01-B", "01 B", "01ÄB", "01AB\x00", 1234, None]
GOALS = [[], ["SLO.REK.7.1"], ["a:b_c-d.e"], ["..."], [""], ["x" * 40], ["x" * 41], ["a b"], ["é"], ["a\n"], ["ok"] * 50, ["ok"] * 51, None, "SLO"]
TIMES = ["2026-11-02T10:00:00Z", "2026-11-02T10:00:00.123456Z", "2026-11-02T10:00:00.1234567Z", "2026-11-02T10:00:00.1234565+01:00",
         "2026-11-02 10:00:00Z", "2026-11-02t10:00:00z", "2026-11-02T10:00:00-00:00", "2026-11-02T10:00:00+14:00", "2026-11-02T10:00:00+23:59",
         "2026-11-02T10:00Z", "2026-11-02T10:00:00", "2026-11-02", "2026-02-30T10:00:00Z", "2026-11-02T24:00:00Z", "2026-11-02T23:59:60Z",
         "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2026-11-02T10:00:00,5Z", 1_700_000_000, None, ""]  # fmt: skip
NUMBERS = [0, -1, 0.5, 1e9, 1e9 + 1, 1e10, 100, 101, 5.0, "5", True, None, 1e-320, 10**30]
OPTIONAL = ["id", "startedAt", "completedAt", "score", "judgement", "accessDurationSeconds", "pleaseFollowUp", "detailUrl", "learningGoals"]


SINGLE = [
    *[(path, v) for path in [("courseId",), ("assignableUnitId",), ("subject",), ("judgement", "text"), ("additionalInfo",)] for v in TEXTS],
    *[(path, v) for path in [("student", "eckId"), ("detailUrl",)] for v in URLS + ["https://ketenid.nl/" + u[8:] for u in URLS if isinstance(u, str)]],
    *[(("id",), v) for v in IDS], *[(("school", "id"), v) for v in SCHOOLS], *[(("learningGoals",), v) for v in GOALS],
    *[(path, v) for path in [("statusChangedAt",), ("startedAt",), ("completedAt",)] for v in TIMES],
    *[(path, v) for path in [("score", "raw"), ("score", "max"), ("score", "percentage"), ("judgement", "ordinal"), ("judgement", "ordinalMax"),
                             ("accessDurationSeconds",)] for v in NUMBERS],
    *[(("pleaseFollowUp",), v) for v in (True, False, None, 0, "true")], *[((k,), KeyError) for k in OPTIONAL],
]  # fmt: skip


def _changed(changes) -> dict:
    body = _base()
    for path, value in changes:
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        if value is KeyError:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return body


def test_every_edge_value_alone():
    for change in SINGLE:
        for ascii_only in (True, False):
            _same(json.dumps([_changed([change]), _base(1)], ensure_ascii=ascii_only).encode())


def _path_value():
    return st.one_of(
        st.tuples(st.sampled_from([("courseId",), ("assignableUnitId",), ("subject",), ("judgement", "text"), ("additionalInfo",)]), st.sampled_from(TEXTS)),
        st.tuples(st.sampled_from([("student", "eckId"), ("detailUrl",)]), st.sampled_from(URLS)),
        st.tuples(st.just(("id",)), st.sampled_from(IDS)),
        st.tuples(st.just(("school", "id")), st.sampled_from(SCHOOLS)),
        st.tuples(st.just(("school", "idType")), st.sampled_from(["BRIN", "OIN", "brin", "", None])),
        st.tuples(st.just(("status",)), st.sampled_from(["started", "Started", "done", None])),
        st.tuples(st.just(("learningGoals",)), st.sampled_from(GOALS)),
        st.tuples(st.sampled_from([("statusChangedAt",), ("startedAt",), ("completedAt",)]), st.sampled_from(TIMES)),
        st.tuples(st.sampled_from([("score", "raw"), ("score", "max"), ("score", "percentage"), ("judgement", "ordinal"), ("judgement", "ordinalMax"),
                                   ("accessDurationSeconds",)]), st.sampled_from(NUMBERS)),
        st.tuples(st.just(("pleaseFollowUp",)), st.sampled_from([True, False, None, 0, "true"])),
        st.tuples(st.sampled_from([("extra",), ("student", "name"), ("score", "extra")]), st.sampled_from(["x", None])),
        st.tuples(st.sampled_from([(k,) for k in OPTIONAL]), st.just(KeyError)),  # left out
        st.tuples(st.sampled_from([("courseId",), ("student", "eckId"), ("school", "id")]), st.text(max_size=12)),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(_path_value(), max_size=3), ascii_only=st.booleans())
def test_msgspec_takes_only_what_pydantic_takes_and_reads_the_same(changes, ascii_only):
    _same(json.dumps([_changed(changes), _base(1)], ensure_ascii=ascii_only).encode())


@pytest.mark.parametrize("raw", [
    b'[{"id": "00000000-0000-4000-8000-000000000001", "status": "started", "status": "completed"}]',  # keys twice
    json.dumps([{**_base(), "status": "started"}])[:-2].encode() + b', "status": "abandoned"}]',
    json.dumps([_base()]).replace('"rekenen"', '"reken\\u0000en"').encode(),
    json.dumps([_base()]).replace('"rekenen"', '"reken\\\\u0000en"').encode(),  # a backslash, then u0000: msgspec leaves it to pydantic
    json.dumps([_base()]).replace('"rekenen"', '"\\ud800"').encode(),  # a lone surrogate
    json.dumps([_base()]).replace('"rekenen"', '"\\u00e9\\u2028"').encode(),
    json.dumps([_base()]).encode().replace(b"rekenen", b"reken\xffen"),  # not UTF-8
    json.dumps([_base()], indent=3).encode(),
    b"[]", b"[", b"", b"{}", b'[{"id": null}]', b"[null]", b"\xef\xbb\xbf" + json.dumps([_base()]).encode(),
])  # fmt: skip
def test_odd_bodies(raw):
    _same(raw)


def test_the_usual_records_take_the_msgspec_path():
    raw = orjson.dumps([_base(n) for n in range(50)])
    assert decode_records(raw) is not None
    assert decode_record(orjson.dumps(_base())) is not None
    assert decode_record(orjson.dumps([_base()])) is None  # an array is not one record
    assert decode_record(orjson.dumps(_base())[:-1] + b"},{}") is None


@pytest.mark.parametrize("change", [
    {"detailUrl": "https://a b"}, {"school": {"idType": "BRIN", "id": "01AB\n"}}, {"id": "00000000-0000-0000-0000-00000000000\n"},
    {"learningGoals": ["a b"]}, {"statusChangedAt": "2026-11-02T10:00:00.1234567Z"}, {"accessDurationSeconds": 5.0},
])  # fmt: skip
def test_the_api_answers_alike_whichever_path(progress, change):
    """A body msgspec leaves to pydantic gets pydantic's answer (422 naming the field, or accepted)."""
    brin = progress.eduv.school.brin
    body = {**record(brin), **change}
    raw = orjson.dumps({"records": [body]})
    assert decode_records(orjson.dumps([body])) is None
    r = progress.bulk([], raw=raw)
    if _pydantic(orjson.dumps([body])) is None:
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"].startswith("records/0/")
    else:
        assert r.status_code == 200, r.text
    if "id" not in change:  # the same record alone (PUT, the id in the path) gets the same answer
        single = progress.put(body["id"], body)
        assert single.status_code == r.status_code, single.text


def test_bulk_parts_through_msgspec_match_the_whole_body():
    records = [_base(n) for n in range(400)]
    raw = orjson.dumps({"records": records})
    assert len(api._parts(raw)) > 2
    assert api._validate_bulk(raw) == [record_from_dict(r) for r in api._validate(api.BULK, raw, "")["records"]]
