"""The register's OSR-compatible API: mandates (OK/NOK for third parties, details for the mandated
supplier), endpoints, schools, services, namespaces, callers and rate limits."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.platform import today_nl
from eduketen.doorstroomtoets.schemas import versions
from eduketen.register import repository as repo
from eduketen.register import service as svc

OSR = "/osr/api/v2"
NS = versions()["v1.1"].namespace


def get(chain, path, as_oin=None, **params):
    headers = chain.cert_header(as_oin) if as_oin else {}
    return chain.client.get(OSR + path, params=params, headers=headers)


def test_mandated_supplier_gets_details(chain):
    school = chain.region.schools[0]
    r = get(chain, "/mandates", as_oin=school.las.oin, supplier_oin=school.las.oin, school_oin=school.oin, service_version_namespace=NS)
    assert r.status_code == 200, r.text
    mandate = r.json()["mandates"][0]
    assert mandate["token"] and mandate["start_date"]
    assert mandate["_links"]["school"]["href"].endswith(school.oin)


def test_third_party_gets_only_ok_or_nok(chain):
    school = chain.region.schools[0]
    other = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    r = get(chain, "/mandates", as_oin=other.oin, supplier_oin=school.las.oin, school_oin=school.oin, service_version_namespace=NS)
    # The day of the answer is the Dutch calendar day (the register's "today"), which is not the
    # machine's date between 22:00/23:00 UTC and midnight.
    assert r.json() == {"result": "OK", "reference_date": today_nl().isoformat()}
    assert "token" not in r.text
    r = get(chain, "/mandates", as_oin=school.las.oin, supplier_oin=other.oin, school_oin=school.oin, service_version_namespace=NS)
    assert r.json()["result"] == "NOK"


def test_mandate_not_found_for_the_supplier_itself_is_404(chain):
    school = chain.region.schools[0]
    other = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    r = get(chain, "/mandates", as_oin=other.oin, supplier_oin=other.oin, school_oin=school.oin, service_version_namespace=NS)
    assert r.status_code == 404 and r.json()["detail"] == "mandate not found"


def test_reference_date_outside_the_mandate_is_nok(chain):
    school = chain.region.schools[0]
    long_ago = (date.today() - timedelta(days=400)).isoformat()
    r = get(
        chain, "/mandates", as_oin=school.las.oin, supplier_oin=school.las.oin, school_oin=school.oin,
        service_version_namespace=NS, reference_date=long_ago,
    )
    assert r.status_code == 404


def test_without_certificate_is_401(chain):
    school = chain.region.schools[0]
    r = get(chain, "/mandates", supplier_oin=school.las.oin, school_oin=school.oin, service_version_namespace=NS)
    assert r.status_code == 401 and "certificate" in r.json()["detail"]


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"school_oin": "123", "service_version_namespace": NS}, "school_oin"),
        ({"school_oin": "0000000700011BB0000x", "service_version_namespace": NS}, "school_oin"),
        ({"school_oin": "0000000700011BB00000"}, "service_version_namespace"),
        ({"school_oin": "0000000700011BB00000", "service_version_namespace": NS, "reference_date": "gisteren"}, "reference_date"),
    ],
)
def test_malformed_queries_are_400(chain, params, fragment):
    las = chain.region.las_suppliers[0]
    r = get(chain, "/mandates", as_oin=las.oin, supplier_oin=las.oin, **params)
    assert r.status_code == 400 and fragment in r.json()["detail"]


def test_unknown_namespace_is_404_and_old_namespace_names_the_one_in_force(chain):
    school = chain.region.schools[0]
    las = school.las
    r = get(chain, "/mandates", as_oin=las.oin, supplier_oin=las.oin, school_oin=school.oin, service_version_namespace="urn:bestaat:niet")
    assert r.status_code == 404 and "unknown service_version_namespace" in r.json()["detail"]
    old = versions()["v1.0"].namespace
    with unit_of_work(chain.platform.sessions) as s:
        svc.get_service_version(s, "doorstroomtoets", "1.0.1").status = "withdrawn"
    r = get(chain, "/mandates", as_oin=las.oin, supplier_oin=las.oin, school_oin=school.oin, service_version_namespace=old)
    assert r.status_code == 410
    assert NS in r.json()["detail"] and "withdrawn" in r.json()["detail"]


def _token(chain, school, supplier_oin) -> str:
    r = get(chain, "/mandates", as_oin=supplier_oin, supplier_oin=supplier_oin, school_oin=school.oin, service_version_namespace=NS)
    return r.json()["mandates"][0]["token"]


def test_mandated_supplier_registers_endpoint_and_anyone_finds_it(chain):
    school = chain.region.schools[0]
    token = _token(chain, school, school.las.oin)
    body = {
        "mandate_token": token,
        "administration_id": school.routing,
        "service_version_namespace": NS,
        "url": "https://las.example/doorstroomtoets/v1.1",
        "attributes": ["LAS"],
        "start_date": date.today().isoformat(),
    }
    r = chain.client.post(OSR + "/endpoints", json=body, headers=chain.cert_header(school.las.oin))
    assert r.status_code == 201, r.text
    other = chain.region.toetsaanbieder.oin
    r = get(chain, "/endpoints", as_oin=other, service_version_namespace=NS, routing_id=school.routing)
    assert [e["url"] for e in r.json()["endpoints"]] == ["https://las.example/doorstroomtoets/v1.1"]
    r = get(chain, "/endpoints", as_oin=other, service_version_namespace=NS, school_oin=school.oin)
    assert len(r.json()["endpoints"]) == 1
    r = get(chain, "/endpoints", as_oin=other, service_version_namespace=NS, routing_id="0000000700099ZZ00001")
    assert r.json()["endpoints"] == []


def test_endpoint_registration_is_refused_when_it_should_be(chain):
    school, other_school = chain.region.schools[0], chain.region.schools[1]
    token = _token(chain, school, school.las.oin)
    base = {
        "mandate_token": token,
        "administration_id": school.routing,
        "service_version_namespace": NS,
        "url": "https://las.example/x",
        "start_date": date.today().isoformat(),
    }
    post = lambda body, oin=school.las.oin: chain.client.post(OSR + "/endpoints", json=body, headers=chain.cert_header(oin))
    foreign = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    assert post(base, foreign.oin).status_code == 403  # not the mandated supplier
    assert post({**base, "mandate_token": "0" * 36}).status_code == 404
    assert post({**base, "administration_id": other_school.routing}).status_code == 409  # another school's administration
    assert post({**base, "administration_id": "kort"}).status_code == 422
    assert post({**base, "url": "http://plain.example"}).status_code == 422
    assert post({**base, "service_version_namespace": "urn:onbekend"}).status_code == 404
    assert post({**base, "role": "admin"}).status_code == 422  # no mass assignment
    r = chain.client.post(OSR + "/endpoints", content=b"{kapot", headers={**chain.cert_header(school.las.oin), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert chain.client.post(OSR + "/endpoints", json=base).status_code == 401


def test_schools_services_and_versions(chain):
    school = chain.region.schools[0]
    oin = chain.region.toetsaanbieder.oin
    r = get(chain, "/schools", as_oin=oin, oin=school.oin)
    assert r.json()["schools"][0]["brin"] == school.brin
    assert get(chain, "/schools", as_oin=oin).status_code == 400  # no bulk reading
    assert get(chain, "/services", as_oin=oin).json()["services"][0]["name"] == "doorstroomtoets"
    versions_out = get(chain, "/service-versions", as_oin=oin, service="doorstroomtoets").json()["service_versions"]
    assert {v["namespace"] for v in versions_out} == {v.namespace for v in versions().values()}


def test_flood_of_reads_is_429(chain):
    chain.platform.views["osr_limiter"].rate = 0.01  # no refill worth counting, however slow the machine
    chain.platform.views["osr_limiter"].burst = 5
    oin = chain.region.toetsaanbieder.oin
    school = chain.region.schools[0]
    statuses = [get(chain, "/schools", as_oin=oin, oin=school.oin).status_code for _ in range(12)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses
    r = get(chain, "/schools", as_oin=oin, oin=school.oin)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # another caller is not affected
    assert get(chain, "/schools", as_oin=school.las.oin, oin=school.oin).status_code == 200


def test_revoked_mandate_disappears(chain):
    school = chain.region.schools[0]
    with unit_of_work(chain.platform.sessions) as s:
        db_school = repo.school_by_oin(s, school.oin)
        for m, _sc, system, *_ in repo.mandates(s, school_id=db_school.id):
            if system.kind == "las":
                svc.revoke_mandate(s, m.id)
    r = get(chain, "/mandates", as_oin=school.las.oin, supplier_oin=school.las.oin, school_oin=school.oin, service_version_namespace=NS)
    assert r.status_code == 404
