"""The keurmerk register: admission steps in order, conformance reports of a real suite run as
evidence, qualification per service version, and the public list of qualified participants."""

from __future__ import annotations

import ssl

import httpx
import pytest

from eduketen.conformance import reports
from eduketen.conformance.runner import run_suite

from ..conformance.conftest import conformance_region, start_toetsaanbieder, stop, toetsaanbieder_target  # noqa: F401 (fixture)
from ..conformance.variants import TOETSAANBIEDER_VARIANTS, activate

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def inst(database_url, conformance_region, ca, tmp_path):
    installation = start_toetsaanbieder(database_url, conformance_region, ca, tmp_path)
    yield installation
    stop(installation)


@pytest.fixture
def api(inst):
    with httpx.Client(base_url=inst.base, verify=ssl.create_default_context(cafile=str(inst.pki / "ca.crt")), timeout=30) as client:
        yield client


def _summary(result, tmp_path) -> dict:
    return reports.summary(result, reports.BodyFiles(tmp_path / "bodies"))


def test_admission_evidence_qualification_and_public_list(inst, api, tmp_path):
    supplier = inst.region.toetsaanbieder
    r = api.post("/admin/keurmerk/admissions", headers=ADMIN, json={"supplier_oin": supplier.oin, "service": "doorstroomtoets", "role": "toetsaanbieder", "on": "2026-09-01"})
    assert r.status_code == 201, r.text
    admission = r.json()
    assert admission["fase"] == "aanmelden" and admission["volgende_stap"] == "intake"
    aid = admission["id"]

    # steps only in order, never twice, never before the one before
    r = api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": "basiskwalificatie"})
    assert r.status_code == 409 and "intentieverklaring" in r.json()["detail"]
    assert api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": "intake", "on": "2026-08-01"}).status_code == 422
    for stage, day in (("intake", "2026-09-10"), ("intentieverklaring", "2026-09-20"), ("basiskwalificatie", "2026-10-01")):
        r = api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": stage, "on": day})
        assert r.status_code == 200, r.text
    assert api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": "intake"}).status_code == 409
    # kwalificatie needs a qualified version first
    r = api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": "kwalificatie"})
    assert r.status_code == 409 and "conformance" in r.json()["detail"]

    # a failing run is kept as evidence but does not qualify
    variant = next(v for v in TOETSAANBIEDER_VARIANTS if v.name == "unknown-pupil-404")
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, inst, mp)
        try:
            failing = run_suite(toetsaanbieder_target(inst, "1.1.0", timeout=3.0, window_settle=1))
        finally:
            inst.switch.variant = None
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, json={"report": _summary(failing, tmp_path)})
    assert r.status_code == 201 and r.json()["voldoende"] is False and "onbekende-leerling-advies" in r.json()["oordeel"]
    bad = r.json()["id"]
    r = api.post(f"/admin/keurmerk/admissions/{aid}/qualifications", headers=ADMIN, json={"version": "1.1.0", "evidence_id": bad})
    assert r.status_code == 409

    # a run of only some scenarios is not enough either
    partial = run_suite(toetsaanbieder_target(inst, "1.1.0"), only=["deelnemerslijst-geldig"])
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, json={"report": _summary(partial, tmp_path)})
    assert r.json()["voldoende"] is False and "lacks" in r.json()["oordeel"]

    # the full, passing run qualifies the supplier for 1.1.0 (and only for the version it tested)
    passing = run_suite(toetsaanbieder_target(inst, "1.1.0"))
    assert passing.ok
    junit = reports.junit(passing, reports.BodyFiles(tmp_path / "b"))
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, json={"report": _summary(passing, tmp_path), "junit": junit})
    assert r.status_code == 201 and r.json()["voldoende"] is True, r.text
    good = r.json()["id"]
    assert api.post(f"/admin/keurmerk/admissions/{aid}/qualifications", headers=ADMIN, json={"version": "2026-2027", "evidence_id": good}).status_code == 422
    r = api.post(f"/admin/keurmerk/admissions/{aid}/qualifications", headers=ADMIN, json={"version": "1.1.0", "evidence_id": good, "on": "2026-10-15"})
    assert r.status_code == 201, r.text
    assert api.post(f"/admin/keurmerk/admissions/{aid}/qualifications", headers=ADMIN, json={"version": "1.1.0", "evidence_id": good}).status_code == 409
    stored = api.get(f"/admin/keurmerk/evidence/{good}", headers=ADMIN).json()
    assert stored["rapport"]["ok"] is True and stored["junit"].startswith("<?xml")

    # public list: qualified for 1.1.0 only; a participant once the agreement is signed
    listing = httpx.get(f"{inst.base}/keurmerk/deelnemers", params={"dienst": "doorstroomtoets"}, verify=ssl.create_default_context(cafile=str(inst.pki / "ca.crt"))).json()
    versions = {v["versie"]: v["deelnemers"] for v in listing["diensten"][0]["versies"]}
    assert [p["oin"] for p in versions["1.1.0"]] == [supplier.oin] and versions["2026-2027"] == [] and versions["1.0.1"] == []
    assert versions["1.1.0"][0]["status"] == "gekwalificeerd"
    assert "bewijs" not in versions["1.1.0"][0] and "oordeel" not in str(listing)  # no evidence in public
    for stage in ("kwalificatie", "deelnemersovereenkomst"):
        assert api.post(f"/admin/keurmerk/admissions/{aid}/steps", headers=ADMIN, json={"stage": stage}).status_code == 200
    listing = api.get("/keurmerk/deelnemers").json()
    versions = {v["versie"]: v["deelnemers"] for d in listing["diensten"] if d["gegevensdienst"] == "doorstroomtoets" for v in d["versies"]}
    assert versions["1.1.0"][0]["status"] == "deelnemer" and versions["1.1.0"][0]["deelnemersovereenkomst"] is True
    view = api.get(f"/admin/keurmerk/admissions/{aid}", headers=ADMIN).json()
    assert view["fase"] == "deelnemersovereenkomst" and view["volgende_stap"] is None and len(view["bewijs"]) == 3


def test_refusals_are_clear_json(inst, api):
    supplier = inst.region.toetsaanbieder
    base = {"supplier_oin": supplier.oin, "service": "doorstroomtoets", "role": "toetsaanbieder"}
    assert api.post("/admin/keurmerk/admissions", json=base).status_code == 401  # no admin credential
    assert api.post("/admin/keurmerk/admissions", headers=ADMIN, json={**base, "supplier_oin": "00000003999999999999"}).status_code == 404
    assert api.post("/admin/keurmerk/admissions", headers=ADMIN, json={**base, "service": "onbekend"}).status_code == 404
    assert api.post("/admin/keurmerk/admissions", headers=ADMIN, json={**base, "role": "uitgever"}).status_code == 422
    assert api.post("/admin/keurmerk/admissions", headers=ADMIN, json={**base, "supplier_oin": "123"}).status_code == 422
    aid = api.post("/admin/keurmerk/admissions", headers=ADMIN, json=base).json()["id"]
    assert api.post("/admin/keurmerk/admissions", headers=ADMIN, json=base).status_code == 409
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, json={"report": {"suite": "something else"}})
    assert r.status_code == 422 and "eduketen conformance run" in r.json()["detail"]
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, json={"report": {"suite": "eduketen conformance", "service": "doorstroomtoets", "role": "las", "version": "1.1.0", "scenarios": []}})
    assert r.status_code == 422 and "role" in r.json()["detail"]
    r = api.post(f"/admin/keurmerk/admissions/{aid}/evidence", headers=ADMIN, content=b"{broken", )
    assert r.status_code == 422
    assert api.get("/admin/keurmerk/admissions/999", headers=ADMIN).status_code == 404
    assert api.get("/keurmerk/deelnemers", params={"dienst": "onbekend"}).status_code == 404
