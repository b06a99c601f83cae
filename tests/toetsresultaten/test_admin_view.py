"""The administration view: results per pupil and per assessment, CSV export, deletion of a
pupil's results on request; every read and the deletion audited; a school administrator sees
their own school only."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from eduketen.core.models import AuditEntry

from ..eduv import STAFF_PASSWORD, sample_bundle

ADMIN = {"Authorization": "Bearer test-admin-token"}
ECK = "https://ketenid.nl/201703/" + "d" * 128


def _audit(eduv):
    with eduv.platform.sessions() as session:
        return [(e.actor, e.action, e.subject_id, e.purpose) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_per_pupil_per_assessment_csv_and_deletion(eduv):
    brin = eduv.school.brin
    assert eduv.post(sample_bundle(brin, [ECK, "ll-7"])).status_code == 201
    assert eduv.post(sample_bundle(brin, [ECK], assessment_id="afname-2026-2")).status_code == 201
    base = f"/admin/toetsresultaten/schools/{brin}"
    listed = eduv.client.get(f"{base}/assessments", headers=ADMIN).json()["assessments"]
    assert sorted((a["assessment"]["id"], a["students"]) for a in listed) == [("afname-2026-1", 2), ("afname-2026-2", 1)]
    one = next(a for a in listed if a["assessment"]["id"] == "afname-2026-1")
    per_assessment = eduv.client.get(f"{base}/assessments/{one['id']}", headers=ADMIN).json()
    assert {s["student"].get("eckId") or s["student"]["userId"] for s in per_assessment["students"]} == {ECK, "ll-7"}
    pupil = eduv.client.get(f"{base}/student", params={"type": "eckId", "id": ECK}, headers=ADMIN).json()
    assert [r["assessment"]["assessment"]["id"] for r in pupil["results"]] == ["afname-2026-1", "afname-2026-2"]
    by_user = eduv.client.get(f"{base}/student", params={"type": "nlEduPersonProfileId", "id": "ll-7"}, headers=ADMIN).json()
    assert len(by_user["results"]) == 1

    exported = eduv.client.get(f"{base}/export.csv", headers=ADMIN)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 3 * 7  # three student results, two scores and five results each
    assert {r["student_key"] for r in rows} == {ECK, "ll-7"}
    assert not {"name", "student_name", "achternaam", "roepnaam", "geboortedatum"} & set(rows[0])

    deleted = eduv.client.delete(f"{base}/student", params={"type": "eckId", "id": ECK, "reason": "verzoek ouders 2026-05"}, headers=ADMIN)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == 2
    assert eduv.client.get(f"{base}/student", params={"type": "eckId", "id": ECK}, headers=ADMIN).json()["results"] == []
    assert eduv.stored() == (2, 1)
    entries = _audit(eduv)
    assert ("admin", "delete", f"eckId:{ECK}", "deletion on request: verzoek ouders 2026-05") in entries
    assert ("admin", "read", f"eckId:{ECK}", "results per pupil") in entries
    assert ("admin", "export", "user:nlEduPersonProfileId:ll-7", "CSV export") in entries
    assert eduv.client.delete(f"{base}/student", params={"type": "eckId", "id": ECK}, headers=ADMIN).status_code == 422  # no reason


def _login(eduv, username):
    page = eduv.client.get("/insight/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    response = eduv.client.post("/insight/login", data={"username": username, "password": STAFF_PASSWORD, "csrf": token},
                                follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text


def test_a_school_administrator_sees_their_own_school_only(eduv):
    brin0, brin1 = eduv.region.schools[0].brin, eduv.region.schools[1].brin
    assert eduv.post(sample_bundle(brin0, [ECK])).status_code == 201
    assert eduv.client.get(f"/admin/toetsresultaten/schools/{brin0}/assessments").status_code == 401
    _login(eduv, "beheer-school0")
    mine = eduv.client.get(f"/admin/toetsresultaten/schools/{brin0}/student", params={"type": "eckId", "id": ECK})
    assert mine.status_code == 200 and len(mine.json()["results"]) == 1
    other = eduv.client.get(f"/admin/toetsresultaten/schools/{brin1}/assessments")
    unknown = eduv.client.get("/admin/toetsresultaten/schools/99ZZ/assessments")
    assert other.status_code == unknown.status_code == 404 and other.json()["detail"].replace(brin1, "X") == unknown.json()["detail"].replace("99ZZ", "X")
    # deleting through the session needs the CSRF token
    url = f"/admin/toetsresultaten/schools/{brin0}/student"
    params = {"type": "eckId", "id": ECK, "reason": "verzoek"}
    assert eduv.client.delete(url, params=params).status_code == 403
    assert eduv.stored() == (1, 1)
    entries = _audit(eduv)
    assert ("staff:beheer-school0", "read", f"eckId:{ECK}", "results per pupil") in entries


def test_a_mentor_does_not_see_the_results_view(eduv):
    _login(eduv, "mentor-school0")
    assert eduv.client.get(f"/admin/toetsresultaten/schools/{eduv.school.brin}/assessments").status_code == 403
