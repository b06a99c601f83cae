"""POST /toetsresultaten/v1/results and /v0/results: 201 create-or-update (the latest state wins),
API-Version on every answer, and every kind of bad input refused with nothing stored."""

from __future__ import annotations

import copy

import pytest

from ..eduv import sample_bundle

ECK = "https://ketenid.nl/201703/" + "b" * 128


def test_create_then_update_latest_wins(eduv):
    brin = eduv.school.brin
    first = eduv.post(sample_bundle(brin, [ECK, "ll-0001"]))
    assert first.status_code == 201, first.text
    assert first.headers["API-Version"] == "1.0.0"
    assert first.json() == {"assessment": "afname-2026-1", "students": 2, "created": 2, "updated": 0}
    assert eduv.stored() == (1, 2)

    second = eduv.post(sample_bundle(brin, [ECK], value=250))
    assert second.status_code == 201
    assert second.json()["created"] == 0 and second.json()["updated"] == 1
    assert eduv.stored() == (1, 2)
    view = eduv.client.get(f"/admin/toetsresultaten/schools/{brin}/student", params={"type": "eckId", "id": ECK},
                           headers={"Authorization": "Bearer test-admin-token"})  # fmt: skip
    assert view.status_code == 200
    (result,) = view.json()["results"]
    assert result["scores"][0]["value"] == 250 and result["revision"] == 2


def test_previous_major_is_served_with_its_own_version_header(eduv):
    bundle = sample_bundle(eduv.school.brin, [ECK])
    v0 = copy.deepcopy(bundle)
    del v0["schoolYear"]
    for s in v0["students"]:
        s.update(s.pop("student"))
        del s["releasedAt"]
    response = eduv.post(v0, version="v0")
    assert response.status_code == 201, response.text
    assert response.headers["API-Version"] == "0.9.0"
    # v1's shape is refused by v0 (the documented difference), and v0's by v1
    assert eduv.post(bundle, version="v0").status_code == 422
    refused = eduv.post(v0, version="v1")
    assert refused.status_code == 422 and refused.headers["API-Version"] == "1.0.0"
    assert eduv.stored() == (1, 1)


def test_openapi_of_the_results_api(eduv):
    for major, version in (("v1", "1.0.0"), ("v0", "0.9.0")):
        doc = eduv.client.get(f"/toetsresultaten/{major}/openapi.json").json()
        assert doc["info"]["version"] == version
        (path,) = doc["paths"]
        assert path == f"/toetsresultaten/{major}/results"
        assert set(doc["paths"][path]["post"]["responses"]) >= {"201", "401", "403", "413", "415", "422"}


def _bad(bundle, mutate):
    bundle = copy.deepcopy(bundle)
    mutate(bundle)
    return bundle


BAD_VALUES = [
    ("numeric above max", lambda b: b["students"][0]["scores"][0].update(value=301)),
    ("numeric with decimals", lambda b: b["students"][0]["scores"][0].update(value="12.5")),
    ("numeric not a number", lambda b: b["students"][0]["scores"][0].update(value="veel")),
    ("grade above 10", lambda b: b["students"][0]["results"][0].update(value="10.5")),
    ("grade below 1", lambda b: b["students"][0]["results"][0].update(value=0.9)),
    ("grade too many decimals", lambda b: b["students"][0]["results"][0].update(value="7.45")),
    ("reference level unknown", lambda b: b["students"][0]["results"][1].update(value="4F")),
    ("percentile above 100", lambda b: b["students"][0]["results"][2].update(value=101)),
    ("percentile fraction", lambda b: b["students"][0]["results"][2].update(value=50.5)),
    ("pass/fail other", lambda b: b["students"][0]["results"][3].update(value="maybe")),
    ("ordinal not a label", lambda b: b["students"][0]["results"][4].update(value="gymnasium")),
    ("unknown scale", lambda b: b["students"][0]["results"][4].update(scale="nope")),
    ("unknown part", lambda b: b["students"][0]["scores"][1].update(part="meetkunde")),
    ("boolean value", lambda b: b["students"][0]["scores"][0].update(value=True)),
    ("student twice", lambda b: b["students"].append(copy.deepcopy(b["students"][0]))),
    ("scale id twice", lambda b: b["scoreScales"].append({"id": "ruw", "type": "percentile"})),
    ("naive date-time", lambda b: b["assessment"].update(assessmentDateTime="2026-04-14T08:30:00")),
    ("no students", lambda b: b.update(students=[])),
    ("ordinal with one label", lambda b: b["scoreScales"][5].update(labels=["havo"])),
]


@pytest.mark.parametrize("name,mutate", BAD_VALUES, ids=[n for n, _ in BAD_VALUES])
def test_values_outside_their_scale_and_incoherent_bundles_are_refused(eduv, name, mutate):
    token = eduv.token()
    response = eduv.post(_bad(sample_bundle(eduv.school.brin, [ECK, "ll-2"]), mutate), token=token)
    assert response.status_code == 422, (name, response.text)
    body = response.json()
    assert body["status"] == 422 and body["errors"], body
    assert eduv.stored() == (0, 0)


@pytest.mark.parametrize(
    "student",
    [
        {"name": "Jan de Vries"},
        {"firstName": "Jan", "lastName": "Vries"},
        {"eckId": ECK, "achternaam": "Vries"},
        {"userId": "123"},
        {},
    ],
)
def test_a_student_referenced_by_name_or_without_a_usable_id_is_refused(eduv, student):
    bundle = sample_bundle(eduv.school.brin, [ECK])
    bundle["students"][0]["student"] = student
    response = eduv.post(bundle)
    assert response.status_code == 422
    text = response.text
    if any(k in student for k in ("name", "firstName", "achternaam")):
        assert "never by name" in text
    assert eduv.stored() == (0, 0)


def test_broken_bodies_get_clear_errors_and_nothing_is_stored(eduv):
    token = eduv.token()
    broken = eduv.post(None, token=token, raw=b'{"school": {"idType": "BRIN", "id": ')
    assert broken.status_code == 422 and broken.json()["title"] == "Invalid request"
    wrong_type = eduv.post(None, token=token, raw=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert wrong_type.status_code == 415 and wrong_type.headers["API-Version"] == "1.0.0"
    too_big = eduv.post(None, token=token, raw=b"[" + b"1," * 1_100_000 + b"1]")
    assert too_big.status_code == 413
    not_object = eduv.post(None, token=token, raw=b"[1, 2]")
    assert not_object.status_code == 422
    nul = sample_bundle(eduv.school.brin, ["ll-\x00"])
    assert eduv.post(nul, token=token).status_code == 422
    assert eduv.stored() == (0, 0)


def test_unauthenticated_and_wrong_scope_callers(eduv):
    bundle = sample_bundle(eduv.school.brin, [ECK])
    missing = eduv.client.post("/toetsresultaten/v1/results", json=bundle)
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert eduv.post(bundle, token="not.a.jwt").status_code == 401
    consent_only = eduv.token("toets-a-consent-only")
    refused = eduv.post(bundle, token=consent_only)
    assert refused.status_code == 403 and "eduv.result" in refused.json()["detail"]
    assert "insufficient_scope" in refused.headers["WWW-Authenticate"]
    assert eduv.stored() == (0, 0)


def test_consent_switched_off_between_two_calls(eduv):
    from eduketen.core.db import unit_of_work
    from eduketen.register import consent as consent_svc

    token = eduv.token()
    assert eduv.post(sample_bundle(eduv.school.brin, [ECK]), token=token).status_code == 201
    with unit_of_work(eduv.platform.sessions) as session:
        (rel,) = consent_svc.relations(session, api="results-api")
        consent_svc.revoke(session, rel.consent, actor="test")
    refused = eduv.post(sample_bundle(eduv.school.brin, [ECK], value=100), token=token)
    assert refused.status_code == 403
    assert "switched off" in refused.json()["detail"]
    assert eduv.stored() == (1, 1)
    view = eduv.client.get(f"/admin/toetsresultaten/schools/{eduv.school.brin}/student", params={"type": "eckId", "id": ECK},
                           headers={"Authorization": "Bearer test-admin-token"})  # fmt: skip
    assert view.json()["results"][0]["scores"][0]["value"] == 212  # the refused update changed nothing


def test_a_supplier_probing_another_school_learns_nothing(eduv):
    # toets-b has no consent anywhere; school 1 exists, ZZ99 does not: the same answer for both
    token_b = eduv.token("toets-b")
    known = eduv.post(sample_bundle(eduv.region.schools[1].brin, [ECK]), token=token_b)
    unknown = eduv.post(sample_bundle("99ZZ", [ECK]), token=token_b)
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
    # toets-a has consent at school 0 only
    assert eduv.post(sample_bundle(eduv.region.schools[1].brin, [ECK])).status_code == 403
    assert eduv.stored() == (0, 0)
