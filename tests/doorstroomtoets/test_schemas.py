"""The fast path of pruning: a body the closed schema accepts is exactly what ``prune`` keeps."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduketen.doorstroomtoets.schemas import body_schema, prune, schema_errors, versions
from eduketen.doorstroomtoets.service import content_problems
from eduketen.register.service import SchoolInfo
from eduketen.simulate.region import deelnemerslijst, generate_region, schooladviezenlijst

REGION = generate_region(1, 6, seed=7)
SCHOOL = REGION.schools[0]
BODIES = {
    "Deelnemerslijst": deelnemerslijst(SCHOOL),
    "Schooladviezenlijst": schooladviezenlijst(SCHOOL),
}


def _objects(value, path=()):
    """Every (path, dict) in a body: the places an extra field can go."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _objects(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _objects(item, (*path, i))


@pytest.mark.parametrize("component", sorted(BODIES))
def test_a_body_without_extra_fields_is_kept_as_it_is(component):
    schema = body_schema("v1.1", component)
    body = BODIES[component]
    assert schema.closed.is_valid(body)
    assert schema.kept(body) is body
    assert schema.check(body) == ([], body) and schema.check(body)[1] is body
    assert prune(body, schema.shape) == body


@pytest.mark.parametrize("component", sorted(BODIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_an_extra_field_anywhere_is_removed(component, data):
    schema = body_schema("v1.1", component)
    body = copy.deepcopy(BODIES[component])
    places = list(_objects(body))
    path, target = data.draw(st.sampled_from(places))
    name = "extra-" + data.draw(st.text(max_size=8))  # no field of the spec is named like this
    target[name] = data.draw(st.one_of(st.text(max_size=5), st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
    assert schema.validator.is_valid(body)  # the spec allows extra fields
    assert not schema.closed.is_valid(body)
    kept = schema.kept(body)
    assert kept == prune(body, schema.shape)
    assert kept == BODIES[component]  # exactly the extra field is gone
    assert schema.check(body) == ([], BODIES[component])


@pytest.mark.parametrize("component", sorted(BODIES))
def test_check_names_the_offending_field_and_keeps_nothing(component):
    schema = body_schema("v1.1", component)
    body = copy.deepcopy(BODIES[component])
    del body["schooljaar"]
    errors, kept = schema.check(body)
    assert kept is None
    assert errors == schema_errors(schema, body) and {"veld": "schooljaar", "fout": "verplicht veld ontbreekt"} in errors


def test_nul_check_finds_the_escaped_character_with_and_without_the_raw_body():
    import orjson

    spec = versions()["v1.1"]
    info = SchoolInfo(1, SCHOOL.oin, SCHOOL.brin, SCHOOL.name)
    body = copy.deepcopy(BODIES["Deelnemerslijst"])
    body["deelnemers"][2]["achternaam"] = "Jan\x00sen"
    raw = orjson.dumps(body)
    assert b"\\u0000" in raw
    for given_raw in (raw, None):
        problems = content_problems(spec, "registreren", body, info, given_raw)
        assert [p["veld"] for p in problems] == ["deelnemers/2/achternaam"]
    clean = BODIES["Deelnemerslijst"]
    assert content_problems(spec, "registreren", clean, info, orjson.dumps(clean)) == []
    # a literal backslash followed by u0000 is no NUL: the walk runs and finds nothing
    odd = copy.deepcopy(clean)
    odd["deelnemers"][0]["achternaam"] = "a\\u0000b"
    assert b"\\\\u0000" in orjson.dumps(odd)
    assert content_problems(spec, "registreren", odd, info, orjson.dumps(odd)) == []
