"""The one-pass fast path for pupil and advice lists (msgspec, ``core/fastjson.py``) against the
full way (orjson, the official JSON Schema, the spec's rules): the fast path takes the usual
lists, and whatever it takes the full way accepts too, with the same school year, the same
canonical form (so the same idempotency key and stored payload) and the same number of items.
Whatever it does not take goes the full way, so the answers to bad input stay as they were."""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from eduketen.core import fastjson
from eduketen.core.models import InboxMessage
from eduketen.doorstroomtoets.api import INBOUND, Refusal, _accept_fast, _accept_full
from eduketen.doorstroomtoets.schemas import body_schema, fast_decoder, versions
from eduketen.register.service import SchoolInfo
from eduketen.simulate.region import (
    deelnemerslijst,
    generate_region,
    schooladviezenlijst,
)

REGION = generate_region(n_schools=4, pupils_per_school=8, seed=11, n_las=2)
SCHOOL = REGION.schools[0]
INFO = SchoolInfo(id=1, oin=SCHOOL.oin, brin=SCHOOL.brin, name=SCHOOL.name)
LISTS = [
    ("v1.0", "registreren"),
    ("v1.1", "registreren"),
    ("v1.1", "registreren-schooladviezen"),
    ("2026-2027", "registreren"),
    ("2026-2027", "registreren-schooladviezen"),
]


def make(key: str, operation: str, school=SCHOOL) -> dict:
    return deelnemerslijst(school, key) if operation == "registreren" else schooladviezenlijst(school, key)


def both(key: str, operation: str, raw: bytes, school: SchoolInfo = INFO):
    """(fast, full) for one body; asserts that what the fast path takes the full way takes alike."""
    spec, inbound = versions()[key], INBOUND[operation]
    fast = _accept_fast(spec, inbound, raw, school)
    full = _accept_full(spec, inbound, raw, school)
    if fast is not None:
        assert not isinstance(full, Refusal), (raw[:300], full)
        assert fast[0] == full[0]  # school year
        assert fast[1] == full[1]  # canonical form: payload and idempotency key
        assert len(fast[2]) == len(full[2])  # item count
    return fast, full


@pytest.mark.parametrize(("key", "operation"), LISTS)
def test_usual_lists_take_the_fast_path(key, operation):
    for school in REGION.schools:
        info = SchoolInfo(id=1, oin=school.oin, brin=school.brin, name=school.name)
        fast, full = both(key, operation, orjson.dumps(make(key, operation, school)), info)
        assert fast is not None and not isinstance(full, Refusal)


def test_the_structs_follow_the_official_files():
    assert fast_decoder("v1.0", "Schooladviezenlijst") is None  # 1.0.1 has no advice list
    for key, operation in LISTS:
        assert fast_decoder(key, INBOUND[operation].component) is not None
    with pytest.raises(fastjson.Unsupported):
        fastjson.struct_for({"A": {"type": "string", "pattern": "^a$"}}, "A")
    with pytest.raises(fastjson.Unsupported):
        fastjson.struct_for({"A": {"type": "object", "properties": {"x": {"type": "number"}}}}, "A")


def test_formats_are_no_wider_than_the_validators():
    """Every calendar day of four years (one a century that is no leap year, one that is) and a
    set of date-times: what the fast path's expression accepts, the schema's validator accepts;
    a date (msgspec's own) comes back as the same ten characters."""
    import jsonschema_rs

    dates = jsonschema_rs.Draft4Validator({"type": "string", "format": "date"}, validate_formats=True)
    times = jsonschema_rs.Draft4Validator({"type": "string", "format": "date-time"}, validate_formats=True)
    as_date = msgspec.json.Decoder(fastjson.struct_for({"D": {"type": "string", "format": "date"}}, "D"))
    day = date(1899, 12, 1)
    while day < date(1901, 3, 1) or (date(1999, 12, 1) <= day < date(2001, 3, 1)):
        text = day.isoformat()
        assert re.search(fastjson.FORMATS["date"], text) and dates.is_valid(text)
        assert re.search(fastjson.FORMATS["date-time"], text + "T12:00:00Z") and times.is_valid(text + "T12:00:00Z")
        assert fastjson.canonical(as_date.decode(orjson.dumps(text))) == orjson.dumps(text)
        day += timedelta(days=1)
        if day == date(1901, 3, 1):
            day = date(1999, 12, 1)
    for text in ["1900-02-29", "2100-02-29", "2013-02-29", "2013-04-31", "2013-13-01", "2013-00-10", "2013-1-01", "2013-01-01\n", "2013-01-01 ",
                 "20130101", "+2013-01-01", "2013-01-01Z", "2013-01-01T00:00:00Z", "２０１３-01-01"]:  # fmt: skip
        assert not re.search(fastjson.FORMATS["date"], text), text
        assert not re.search(fastjson.FORMATS["date-time"], text + "T12:00:00Z"), text
        with pytest.raises(msgspec.ValidationError):
            as_date.decode(orjson.dumps(text))
    with pytest.raises(msgspec.ValidationError):  # the validator takes year 0; Python's dates start at 1
        as_date.decode(b'"0000-01-01"')
    for text in ["2026-10-01T09:00:00Z", "2026-10-01T23:59:59.123456+02:00", "2024-02-29T00:00:00-11:30"]:
        assert re.search(fastjson.FORMATS["date-time"], text) and times.is_valid(text), text
    for text in ["2026-10-01t09:00:00z", "2026-10-01T23:59:60Z", "2026-10-01T09:00:00Z\n", "2026-10-01T24:00:00Z", "2026-10-01 09:00:00Z", "2026-10-01T09:00:00"]:
        assert not re.search(fastjson.FORMATS["date-time"], text), text


def _edited(key, operation, edit) -> bytes:
    body = make(key, operation)
    edit(body)
    return orjson.dumps(body)


def _set(path, value):
    def edit(body):
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


def _drop(path):
    def edit(body):
        target = body
        for part in path[:-1]:
            target = target[part]
        target.pop(path[-1], None)

    return edit


P0 = ["deelnemers", 0]
EDGE_CASES = {
    "trailing newline in instellingscode": (_set(["deelnemersgroep", "instellingscode"], SCHOOL.brin + "\n"), 422),
    "trailing newline in an identity": (_set([*P0, "deelnemerref", 0, "onderwijsdeelnemerID"], "leerling-1\n"), 202),
    "trailing newline in geboortedatum": (_set([*P0, "extensie", "geboortedatum"], "2014-03-01\n"), 422),
    "trailing newline in datumtijd": (_set(["datumtijd"], "2026-10-01T09:00:00Z\n"), 422),
    "no such day": (_set([*P0, "extensie", "geboortedatum"], "2013-02-29"), 422),
    "29 February of a leap year": (_set([*P0, "extensie", "geboortedatum"], "2012-02-29"), 202),
    "lower-case t and z": (_set(["datumtijd"], "2026-10-01t09:00:00z"), 202),
    "leap second": (_set(["datumtijd"], "2026-12-31T23:59:60Z"), 202),
    "wrong versie": (_set(["versie"], "Doorstroomtoetsketen_v9"), 422),
    "wrong niveau": (_set([*P0, "niveau", "niveau"], "9"), 422),
    "wrong label": (_set([*P0, "label"], "leerling"), 422),
    "geslacht out of its list": (_set([*P0, "extensie", "geslacht"], 3), 422),
    "geslacht as a string": (_set([*P0, "extensie", "geslacht"], "2"), 422),
    "geslacht as 2.0": (_set([*P0, "extensie", "geslacht"], 2.0), None),
    "geslacht as true": (_set([*P0, "extensie", "geslacht"], True), 422),
    "a code as a number": (_set(["deelnemersgroep", "vestigingscode"], 0), 422),
    "unicode names": (_set([*P0, "achternaam"], "Çelik-Ünal 🙂 ǅ\u0301"), 202),
    "line separators and controls": (_set([*P0, "roepnaam"], "A\u2028B\u0001C\x7f\t"), 202),
    "voorletters of six astral letters": (_set([*P0, "extensie", "voorletters"], "𝔸𝔹ℂ𝔻𝔼𝔽"), 202),
    "voorletters of seven letters": (_set([*P0, "extensie", "voorletters"], "ABCDEFG"), 422),
    "voorletters with a dot": (_set([*P0, "extensie", "voorletters"], "A.B"), 422),
    "voorvoegsel null": (_set([*P0, "voorvoegsel"], None), 422),
    "optional field left out": (_drop([*P0, "voorvoegsel"]), 202),
    "optional field given": (_set([*P0, "voorvoegsel"], "van der"), 202),
    "required field left out": (_drop([*P0, "roepnaam"]), 422),
    "no pupils": (_set(["deelnemers"], []), 422),
    "no groups": (_set(["groepen"], []), 422),
    "no identity": (_set([*P0, "deelnemerref"], []), 422),
    "three identities": (_set([*P0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": f"k{i}"} for i in range(3)]), 422),
    "two LAS-keys": (_set([*P0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": f"k{i}"} for i in range(2)]), 422),
    "blank identity": (_set([*P0, "deelnemerref"], [{"label": "ECK-iD", "onderwijsdeelnemerID": " \t"}]), 422),
    "LAS-key of 257": (_set([*P0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": "k" * 257}]), 422),
    "LAS-key of 256": (_set([*P0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": "k" * 256}]), 202),
    "unknown group": (_set([*P0, "groep"], "groep-elders"), 422),
    "school year of another version": (_set(["schooljaar"], "2024-2025"), 422),
    "another school's instellingscode": (_set(["deelnemersgroep", "instellingscode"], "99ZZ"), 422),
    "extra field at the top": (_set(["extra"], {"x": [1, 2.5, None]}), 202),
    "extra field in a pupil": (_set([*P0, "bijzonder"], "ja"), 202),
    "NUL in a name": (_set([*P0, "roepnaam"], "A\x00B"), 422),
}


def _answers_as_the_full_way(operation: str, edit, status: int | None) -> None:
    """``both`` holds the two ways to one outcome; ``status`` says which it must be (None: either)."""
    fast, full = both("v1.1", operation, _edited("v1.1", operation, edit))
    if status == 422:
        assert fast is None and isinstance(full, Refusal) and full.status == 422 and full.fouten
    elif status == 202:
        assert not isinstance(full, Refusal)


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_answer_as_the_full_way(case):
    _answers_as_the_full_way("registreren", *EDGE_CASES[case])


A0 = ["voorlopigSchooladviezen", 0]
ADVICE_CASES = {
    "the same pupil twice": (lambda body: body["voorlopigSchooladviezen"].append(copy.deepcopy(body["voorlopigSchooladviezen"][0])), 202),
    "two LAS-keys": (_set([*A0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": f"k{i}"} for i in range(2)]), 422),
    "no identity": (_set([*A0, "deelnemerref"], []), 422),
    "blank identity": (_set([*A0, "deelnemerref"], [{"label": "LAS-key", "onderwijsdeelnemerID": ""}]), 422),
    "an advice out of the list": (_set([*A0, "advies"], "MAVO"), 422),
    "no advice": (_set(["voorlopigSchooladviezen"], []), 422),
    "an ECK-iD of 300": (_set([*A0, "deelnemerref"], [{"label": "ECK-iD", "onderwijsdeelnemerID": "e" * 300}]), 202),
    "an ECK-iD of 301": (_set([*A0, "deelnemerref"], [{"label": "ECK-iD", "onderwijsdeelnemerID": "e" * 301}]), 422),
}


@pytest.mark.parametrize("case", sorted(ADVICE_CASES))
def test_advice_edge_cases_answer_as_the_full_way(case):
    _answers_as_the_full_way("registreren-schooladviezen", *ADVICE_CASES[case])


RAW_CASES = {
    "duplicated key, the last fine": lambda raw: raw.replace(b'"schooljaar":', b'"schooljaar":"2023-2024","schooljaar":', 1),
    "duplicated key, the last wrong": lambda raw: raw.replace(b'"profiel":"Toetsdeelnemers"', b'"profiel":"Toetsdeelnemers","profiel":"X"', 1),
    "escaped unicode": lambda raw: raw.replace(b'"auteur":"', b'"auteur":"\\u00e9\\ud83d\\ude00', 1),
    "lone surrogate": lambda raw: raw.replace(b'"auteur":"', b'"auteur":"\\ud800', 1),
    "lone surrogate in an extra field": lambda raw: raw.replace(b'{"datumtijd"', b'{"x":"\\udc00","datumtijd"', 1),
    "invalid UTF-8 in an extra field": lambda raw: raw.replace(b'{"datumtijd"', b'{"x":"\xff","datumtijd"', 1),
    "invalid UTF-8": lambda raw: raw.replace(b'"auteur":"', b'"auteur":"\xc3', 1),
    "infinite number in an extra field": lambda raw: raw.replace(b'{"datumtijd"', b'{"x":1e999,"datumtijd"', 1),
    "raw control character": lambda raw: raw.replace(b'"auteur":"', b'"auteur":"\x01', 1),
    "escaped NUL": lambda raw: raw.replace(b'"auteur":"', b'"auteur":"\\u0000', 1),
    "whitespace around": lambda raw: b" \n" + raw + b"\n ",
    "byte order mark": lambda raw: b"\xef\xbb\xbf" + raw,
    "trailing garbage": lambda raw: raw + b"x",
    "two documents": lambda raw: raw + raw,
    "an array": lambda raw: b"[" + raw + b"]",
    "empty": lambda raw: b"",
    "empty object": lambda raw: b"{}",
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_raw_edge_cases(case):
    raw = RAW_CASES[case](orjson.dumps(make("v1.1", "registreren")))
    fast, _full = both("v1.1", "registreren", raw)
    if case in ("duplicated key, the last fine", "escaped unicode", "whitespace around"):
        assert fast is not None  # taken, and the same as the full way (both)
    else:
        assert fast is None


def test_extra_fields_and_geslacht_have_the_same_key_as_without():
    """A body with fields the spec does not define (and a 2026-2027 body that still sends
    geslacht) goes the full way, which drops them: the same canonical form as the clean body on
    the fast path, so it is the same message (one effect)."""
    clean = make("v1.1", "registreren")
    fast, _ = both("v1.1", "registreren", orjson.dumps(clean))
    noisy = copy.deepcopy(clean)
    noisy["x-leverancier"] = {"build": 7}
    noisy["deelnemers"][1]["extensie"]["kleur"] = "blauw"
    slow, full = both("v1.1", "registreren", orjson.dumps(noisy))
    assert slow is None and full[1] == fast[1]

    draft = make("2026-2027", "registreren")
    fast, _ = both("2026-2027", "registreren", orjson.dumps(draft))
    for pupil in draft["deelnemers"]:
        pupil["extensie"]["geslacht"] = 2
    slow, full = both("2026-2027", "registreren", orjson.dumps(draft))
    assert slow is None and full[1] == fast[1] and b"geslacht" not in full[1]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
NEAR_VALID = st.sampled_from(
    ["", " ", "\n", "2012-02-29", "2013-02-29", "2026-10-01T09:00:00Z", "2026-10-01T09:00:00Z\n", "Leerling", "Stamgroep",
     "Jaargroep", "Demografisch", "ECK-iD", "LAS-key", "8", "7", "C", "S", "99XX", "00", "123A123", "123X123", "2025-2026",
     "Doorstroomtoetsketen_v1.1", "Toetsdeelnemers", "HAVO", "A.B", "ABCDEFG", "x" * 257, 1, 2, 9, 2.0]
)  # fmt: skip


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(LISTS))
def test_mutated_lists_fast_path_agrees(data, which):
    """Random changes to a usual list (a value replaced, a field removed or added, bytes
    spliced into the raw body): whatever the fast path takes, the full way takes alike."""
    key, operation = which
    body = make(key, operation)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(body))[1:]))
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "near", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES)
        elif action == "near":
            parent[path[-1]] = data.draw(NEAR_VALID)
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "label", "id", "geslacht", "voorvoegsel"]))] = data.draw(JSON_VALUES | NEAR_VALID)
    raw = orjson.dumps(body)
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.binary(max_size=4)) + raw[at:]
    both(key, operation, raw)


def test_closed_schema_agrees_on_the_usual_lists():
    """The full way's own shortcut (the closed schema) takes the usual lists too, so the canonical
    forms compared above are those of unpruned bodies."""
    for key, operation in LISTS:
        body = make(key, operation)
        assert body_schema(key, INBOUND[operation].component).closed.is_valid(body)


def test_over_http_a_list_with_extra_fields_is_the_same_message(chain):
    """Over HTTP on SQLite and PostgreSQL: the usual list (fast path) and the same list with a
    field the spec does not define (the full way) are one message with one payload."""
    school = chain.region.schools[0]
    body = deelnemerslijst(school)
    assert chain.post("/doorstroomtoets/v1.1/registreren", body).status_code == 202
    noisy = {**body, "extra": "genegeerd"}
    assert chain.post("/doorstroomtoets/v1.1/registreren", noisy).status_code == 202
    with chain.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 1
        message = s.scalars(select(InboxMessage)).one()
        assert message.item_count == len(body["deelnemers"])
        assert message.payload == orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    bad = copy.deepcopy(body)
    bad["deelnemers"][0]["extensie"]["geboortedatum"] = "2013-02-30"
    r = chain.post("/doorstroomtoets/v1.1/registreren", bad)
    assert r.status_code == 422
    assert r.json()["fouten"][0]["veld"] == "deelnemers/0/extensie/geboortedatum"
