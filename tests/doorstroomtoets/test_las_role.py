"""The LAS role: receiving results (202/401/405/422 with the spec's texts), storing them apart
from identity data, standlevering, and the words school staff get for every answer."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from eduketen.app import create_app
from eduketen.core.db import unit_of_work
from eduketen.core.models import OutboxMessage
from eduketen.core.outbox import PeerResponse
from eduketen.core.platform import Platform
from eduketen.doorstroomtoets import las
from eduketen.doorstroomtoets.models import LasResultaat
from eduketen.simulate.region import install_region
from eduketen.simulate.results import leerlingresultaat

from ..conftest import PROXY, Chain, make_settings

V11 = "/doorstroomtoets/v1.1"


@pytest.fixture
def las_chain(database_url, region, ca, tmp_path):
    las_supplier = region.schools[0].las
    settings = make_settings(database_url, region, roles=["las"], own_oin=las_supplier.oin, data_dir=str(tmp_path / "data"))
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        school = region.schools[0]
        csv_rows = ["brin,schooljaar,groep_id,achternaam,roepnaam,eck_id,las_key,geboortedatum,advies"]
        for p in school.pupils:
            csv_rows.append(f"{school.brin},2025-2026,{p.groep},{p.achternaam},{p.roepnaam},{p.eck_id or ''},{p.las_key},{p.geboortedatum},{p.advies}")
        assert not las.import_pupils_csv(session, "\n".join(csv_rows)).rejected
    app = create_app(settings, platform=platform)
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        yield Chain(platform, client, region, {}, ca)
    platform.close()


def result_body(pupil, *, advies=None, datumtijd=None):
    body = leerlingresultaat(
        refs=pupil.refs(), schooljaar="2025-2026", spec_key="v1.1",
        rapport_url="https://toets.example/doorstroomtoets/v1.1/leerlingrapport/abc", seed=pupil.las_key, advies_override=advies,
    )  # fmt: skip
    if datumtijd:
        body["datumtijd"] = datumtijd
    return body


def post_result(c: Chain, body, *, school=None, as_oin=None, edu_to=None, edu_from=None, raw=None):
    school = school or c.region.schools[0]
    return c.post(
        f"{V11}/leerlingresultaat", body, school=school,
        edu_to=edu_to if edu_to is not None else school.routing,
        edu_from=edu_from if edu_from is not None else school.oin,
        as_oin=as_oin or c.region.toetsaanbieder.oin, raw=raw,
    )  # fmt: skip


def test_result_accepted_stored_apart_and_report_fetch_queued(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    r = post_result(las_chain, result_body(pupil))
    assert r.status_code == 202 and r.json() == {"melding": "Bericht succesvol ontvangen en wordt asynchroon verwerkt."}
    las_chain.drain()
    with las_chain.platform.sessions() as s:
        row = s.scalars(select(LasResultaat)).one()
        assert "deelnemerref" not in row.data and pupil.roepnaam not in row.data  # no identity in results
        assert row.rapport_status == "waiting"
        fetch = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "las.rapport")).one()
        school = las_chain.region.schools[0]
        assert fetch.method == "GET" and f"edu-to={school.oin}" in fetch.url and f"edu-from={school.routing}" in fetch.url


def test_standlevering_newest_wins_and_older_never_overwrites(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    assert post_result(las_chain, result_body(pupil, advies="havo", datumtijd="2026-05-20T10:00:00Z")).status_code == 202
    assert post_result(las_chain, result_body(pupil, advies="vwo", datumtijd="2026-05-21T10:00:00Z")).status_code == 202
    assert post_result(las_chain, result_body(pupil, advies="vmbo-gt", datumtijd="2026-05-19T10:00:00Z")).status_code == 202
    las_chain.drain()
    with las_chain.platform.sessions() as s:
        rows = s.scalars(select(LasResultaat)).all()
    assert len(rows) == 1 and '"vwo"' in rows[0].data


def test_unknown_routing_is_405_with_its_text(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    r = post_result(las_chain, result_body(pupil), edu_to="0000000700099ZZ00531")
    assert r.status_code == 405 and r.json()["melding"] == "School is niet bekend bij ontvanger."


def test_unmandated_test_supplier_is_401(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    r = post_result(las_chain, result_body(pupil), as_oin="00000003999999999999")
    assert r.status_code == 401
    assert r.json()["melding"] == "Verzender en/of ontvanger van bericht is niet geautoriseerd door de betreffende school."


def test_routing_of_another_school_is_401(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    other = las_chain.region.schools[1]
    r = post_result(las_chain, result_body(pupil), edu_to=other.routing)
    assert r.status_code == 401


def test_invalid_result_is_422_naming_fields(las_chain):
    pupil = las_chain.region.schools[0].pupils[0]
    body = result_body(pupil)
    body["toets"]["id"] = "CITO_OUD"
    del body["resultatenscores"]["resultaten"]
    r = post_result(las_chain, body)
    assert r.status_code == 422
    assert {f["veld"] for f in r.json()["fouten"]} >= {"toets/id", "resultatenscores/resultaten"}
    assert post_result(las_chain, None, raw=b"{").status_code == 422
    long_time = result_body(las_chain.region.schools[0].pupils[0], datumtijd="2026-05-20T10:00:00." + "1" * 40 + "Z")
    r = post_result(las_chain, long_time)
    assert r.status_code == 422 and r.json()["fouten"][0]["veld"] == "datumtijd"


def test_las_serves_no_test_supplier_endpoints(las_chain):
    school = las_chain.region.schools[0]
    r = las_chain.post(f"{V11}/registreren", {}, school=school)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "status, word, fragment",
    [
        (202, "ontvangen", "ontvangen door"),
        (401, "geweigerd", "OSR-beheerder"),
        (403, "geweigerd", "gesloten"),
        (405, "geweigerd", "kent uw school"),
        (422, "geweigerd", "deelnemers/0/achternaam"),
        (503, "onderweg", "opnieuw"),
        (None, "onderweg", "reageert nu niet"),
    ],
)
def test_every_answer_becomes_words_for_staff(status, word, fragment):
    body = json.dumps({"melding": "x", "fouten": [{"veld": "deelnemers/0/achternaam", "fout": "verplicht veld ontbreekt"}]}).encode()
    response = PeerResponse(status, body if status else b"", "application/json", None if status else "ConnectTimeout")
    got_word, sentence = las.staff_message("deelnemers", "Toetsaanbieder Noord", 30, response)
    assert got_word == word and fragment in sentence


def test_pupil_import_reports_bad_rows(las_chain):
    with unit_of_work(las_chain.platform.sessions) as s:
        result = las.import_pupils_csv(
            s,
            "brin,schooljaar,groep_id,achternaam,roepnaam,las_key,advies\n"
            "1BB,2025-2026,g,A,B,k1,HAVO\n"
            f"{las_chain.region.schools[0].brin},2025,g,A,B,k2,HAVO\n"
            f"{las_chain.region.schools[0].brin},2025-2026,g,A,B,,HAVO\n"
            f"{las_chain.region.schools[0].brin},2025-2026,g,A,B,k4,HAAVO\n"
            f"{las_chain.region.schools[0].brin},2025-2026,g,Açık,Ünal,k5,VWO\n",
        )
    assert result.accepted == 1
    assert [r["regel"] for r in result.rejected] == [2, 3, 4, 5]
    with pytest.raises(las.LasError, match="misses the column"):
        with unit_of_work(las_chain.platform.sessions) as s:
            las.import_pupils_csv(s, "naam\nx\n")


def test_a_batch_of_results_is_stored_as_one_after_the_other(las_chain):
    """The LAS worker takes the claimed results at once (las.store_results): every pupil of the
    school, an unknown pupil, a correction and an older delivery in one batch."""
    import json

    from eduketen.core.models import InboxMessage

    pupils = las_chain.region.schools[0].pupils
    stranger = copy.deepcopy(pupils[0])
    stranger.eck_id, stranger.las_key = None, "ll-onbekend-0001"
    bodies = [result_body(p, datumtijd="2026-05-20T10:00:00Z") for p in pupils]
    bodies.append(result_body(stranger))
    bodies.append(result_body(pupils[1], advies="vwo", datumtijd="2026-05-21T10:00:00Z"))  # a correction
    bodies.append(result_body(pupils[2], advies="vwo", datumtijd="2026-05-19T10:00:00Z"))  # older than what came first
    for body in bodies:
        assert post_result(las_chain, body).status_code == 202
    assert las_chain.drain() == len(bodies)
    with las_chain.platform.sessions() as s:
        outcomes = [json.loads(m.outcome) for m in s.scalars(select(InboxMessage).order_by(InboxMessage.received_at))]
        assert all(m.status == "done" for m in s.scalars(select(InboxMessage)))
        rows = {r.pupil_id: r for r in s.scalars(select(LasResultaat))}
        fetches = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "las.rapport", OutboxMessage.status == "pending")).all()
    assert len(rows) == len(pupils)  # the unknown pupil stored nothing
    assert {"onbekende_leerling": 1, "resultaten": 1} in outcomes and {"ouder_dan_bekend": 1, "resultaten": 1} in outcomes
    assert sum('"vwo"' in r.data for r in rows.values()) == 1  # the correction, not the older delivery
    assert all(r.rapport_status == "waiting" for r in rows.values())
    assert len(fetches) == len(pupils) and len({f.ordering_key for f in fetches}) == len(pupils)  # one fetch per pupil
