"""A Doorstroomtoets Leerlingresultaat converts to the results model and back without loss: the
official example of the 1.1.0 specification, directly and after a trip through POST and storage."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from eduketen.core.db import unit_of_work
from eduketen.toetsresultaten import doorstroomtoets as dt
from eduketen.toetsresultaten import repository as repo
from eduketen.toetsresultaten import service as svc
from eduketen.toetsresultaten.schemas import AssessmentScoresAndResults

SPEC = Path(__file__).resolve().parents[2] / "src/eduketen/doorstroomtoets/specs/doorstroomtoets-openapi-1.1.0.yaml"
DATE_TIMES = {("datumtijd",), ("resultatenscores", "datumtijd"), ("resultatenscores", "afnamecontext", "afname", "afnametijdstip")}


class _TextDates(yaml.SafeLoader):
    """YAML as JSON would carry it: date-times stay the strings the file has."""


_TextDates.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def official_example() -> dict:
    document = yaml.load(SPEC.read_text(), Loader=_TextDates)  # noqa: S506 (a SafeLoader)
    operation = document["paths"]["/leerlingresultaat"]["post"]
    return operation["requestBody"]["content"]["application/json"]["examples"]["Leerlingresultaat"]["value"]


def _instant(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_same(original: dict, back: dict, path=()):
    """Equal, key for key, with the same JSON types; date-times compared as instants."""
    if path in DATE_TIMES:
        assert _instant(original) == _instant(back), path
        return
    assert type(original) is type(back) or (isinstance(original, datetime) and isinstance(back, str)), (path, original, back)
    if isinstance(original, dict):
        assert set(original) == set(back), (path, set(original) ^ set(back))
        for key in original:
            assert_same(original[key], back[key], (*path, key))
    elif isinstance(original, list):
        assert len(original) == len(back), path
        for i, (a, b) in enumerate(zip(original, back, strict=True)):
            assert_same(a, b, path)
    else:
        assert original == back, (path, original, back)


def test_the_official_example_converts_and_back_without_loss():
    example = official_example()
    bundle = dt.from_leerlingresultaat(example, school={"idType": "BRIN", "id": "11BB"})
    model = AssessmentScoresAndResults.model_validate(bundle)  # a valid bundle of the base model
    svc.check(model)  # every value fits its scale, every part is known
    (back,) = dt.to_leerlingresultaat(model)
    assert_same(example, back)
    # the JSON numbers of the example stay numbers, the strings strings
    assert [s["waarde"] for s in back["resultatenscores"]["scores"]["scores"]] == [100, 50]
    # what the base model made of it
    student = model.students[0]
    assert student.student.eckId == "leerling-abc123" and student.student.userId is None
    assert [(r.kind, r.part, r.value) for r in student.results] == [
        ("advice", None, "vwo"), ("referenceLevel", "REKENEN", "1S"), ("referenceLevel", "LEZEN", "1F"),
        ("referenceLevel", "TAALVERZORGING", "L1F"),
    ]  # fmt: skip
    assert [p.id for p in model.assessment.assessmentDefinition.parts[1].parts] == ["LEZEN", "TAALVERZORGING"]


def test_a_las_key_and_an_unknown_advice_survive_too():
    example = official_example()
    example["resultatenscores"]["deelnemerref"] = [
        {"label": "ECK-iD", "onderwijsdeelnemerID": "https://ketenid.nl/201703/" + "c" * 128},
        {"label": "LAS-key", "onderwijsdeelnemerID": "ll-0042"},
    ]
    example["resultatenscores"]["resultaten"]["resultaten"][0]["waarde"] = "havo/vwo met aantekening"
    example["resultatenscores"]["resultaten"]["resultaten"].append({"label": "Percentielscore", "toetseenheid": "REKENEN", "waarde": "87"})
    bundle = AssessmentScoresAndResults.model_validate(dt.from_leerlingresultaat(example, school={"idType": "BRIN", "id": "11BB"}))
    svc.check(bundle)
    (back,) = dt.to_leerlingresultaat(bundle)
    assert_same(example, back)


def test_mismatched_toetsdefinitie_is_refused():
    example = official_example()
    example["resultatenscores"]["toetsdefinitie"] = "ROUTE_8"
    with pytest.raises(dt.MappingError):
        dt.from_leerlingresultaat(example, school={"idType": "BRIN", "id": "11BB"})


def test_through_post_and_storage_without_loss(eduv):
    example = official_example()
    bundle = dt.from_leerlingresultaat(example, school={"idType": "BRIN", "id": eduv.school.brin})
    response = eduv.post(bundle)
    assert response.status_code == 201, response.text
    with unit_of_work(eduv.platform.sessions) as session:
        (assessment,) = repo.assessments_of_school(session, _school_id(session, eduv), 10, 0)
        stored = svc.bundle_of(session, assessment[0], {"idType": "BRIN", "id": eduv.school.brin})
    (back,) = dt.to_leerlingresultaat(stored)
    assert_same(example, back)


def _school_id(session, eduv) -> int:
    from eduketen.register import service as register

    return register.get_school(session, eduv.school.brin).id
