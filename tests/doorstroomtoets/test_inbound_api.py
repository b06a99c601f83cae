"""The test supplier's inbound API: every status code with the spec's own melding, on SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
from datetime import date, timedelta

from sqlalchemy import func, select

from eduketen.core.db import unit_of_work
from eduketen.core.models import InboxMessage
from eduketen.doorstroomtoets.models import Deelname, OnbekendAdvies, Schooladvies
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import Pupil, PupilIdentity, SchoolGroup
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst

V11 = "/doorstroomtoets/v1.1"
V10 = "/doorstroomtoets/v1.0"
DRAFT = "/doorstroomtoets/2026-2027"

MELDING_202 = "Bericht succesvol ontvangen en wordt asynchroon verwerkt."
MELDING_401 = "Verzender en/of ontvanger van bericht is niet geautoriseerd door de betreffende school."
MELDING_405 = "School is (nog) niet bekend bij de toetsleverancier."
MELDING_422 = "Bericht ontvangen maar heeft ongeldige berichtinhoud."


def count(chain, model, *where):
    with chain.platform.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_registreren_accepted_then_processed(chain):
    school = chain.region.schools[0]
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school))
    assert r.status_code == 202, r.text
    assert r.json() == {"melding": MELDING_202}
    assert r.headers["x-request-id"]
    assert count(chain, InboxMessage) == 1
    assert chain.drain() == 1
    assert count(chain, Deelname) == len(school.pupils)
    assert count(chain, Pupil) == len(school.pupils)
    assert count(chain, SchoolGroup) == len({p.groep for p in school.pupils})
    with chain.platform.sessions() as s:
        message = s.scalars(select(InboxMessage)).one()
        assert message.status == "done"
        assert message.payload is None  # pupil data lives in the domain tables only
        deelname = s.scalars(select(Deelname)).first()
        assert deelname.routeringskenmerk == school.routing  # kept for the return path


def test_same_message_twice_has_one_effect(chain):
    school = chain.region.schools[0]
    body = deelnemerslijst(school)
    assert chain.post(f"{V11}/registreren", body).status_code == 202
    assert chain.post(f"{V11}/registreren", body).status_code == 202
    assert count(chain, InboxMessage) == 1
    chain.drain()
    assert count(chain, Pupil) == len(school.pupils)


def test_mutatielevering_adds_and_updates_never_deletes(chain):
    school = chain.region.schools[0]
    first, rest = school.pupils[:3], school.pupils[3:]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=first)).status_code == 202
    chain.drain()
    changed = copy.deepcopy(rest[:1])
    changed[0].roepnaam = "Gewijzigd"
    body = deelnemerslijst(school, pupils=changed)
    assert chain.post(f"{V11}/registreren", body).status_code == 202
    chain.drain()
    assert count(chain, Deelname) == 4  # nobody deleted
    renamed = copy.deepcopy(first[:1])
    renamed[0].roepnaam = "Anders"
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=renamed)).status_code == 202
    chain.drain()
    with chain.platform.sessions() as s:
        names = set(s.scalars(select(PupilIdentity.roepnaam)))
    assert {"Gewijzigd", "Anders"} <= names
    assert count(chain, Pupil) == 4


def test_eck_id_preferred_over_las_key(chain):
    school = chain.region.schools[0]
    pupil = copy.deepcopy(next(p for p in school.pupils if p.eck_id))
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=[pupil])).status_code == 202
    chain.drain()
    pupil.las_key = "ll-nieuwe-sleutel-na-migratie"  # the LAS changed its key; the ECK iD still matches
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=[pupil])).status_code == 202
    chain.drain()
    assert count(chain, Pupil) == 1


def test_schooladviezen_unknown_pupils_get_202_and_are_counted(chain):
    school = chain.region.schools[0]
    known, unknown = school.pupils[:4], school.pupils[4:]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=known)).status_code == 202
    chain.drain()
    r = chain.post(f"{V11}/registreren-schooladviezen", schooladviezenlijst(school))
    assert r.status_code == 202
    assert r.json() == {"melding": MELDING_202}  # never fed back as an error
    chain.drain()
    assert count(chain, Schooladvies) == len(known)
    assert count(chain, OnbekendAdvies) == len(unknown)
    with chain.platform.sessions() as s:
        from eduketen.doorstroomtoets.repository import overview

        row = overview(s, school_oin=school.oin)[0]
    assert row["leerlingen_geregistreerd"] == len(known)
    assert row["adviezen_ontvangen"] == len(known)
    assert row["onbekende_leerlingen_genegeerd"] == len(unknown)
    assert row["laatste_bericht"]["operatie"] == "doorstroomtoets.registreren-schooladviezen"
    assert '"onbekend_genegeerd": 2' in row["laatste_bericht"]["uitkomst"]


def test_no_certificate_is_401(chain):
    school = chain.region.schools[0]
    r = chain.client.post(
        f"{V11}/registreren", params={"edu-to": school.oin, "edu-from": school.routing}, json=deelnemerslijst(school)
    )
    assert r.status_code == 401
    assert r.json()["melding"] == MELDING_401
    assert "clientcertificaat" in r.json()["toelichting"]


def test_client_cert_header_from_untrusted_address_is_ignored(chain):
    from starlette.testclient import TestClient

    school = chain.region.schools[0]
    with TestClient(chain.client.app, client=("10.9.8.7", 5555)) as outsider:
        r = outsider.post(
            f"{V11}/registreren",
            params={"edu-to": school.oin, "edu-from": school.routing},
            json=deelnemerslijst(school),
            headers=chain.cert_header(school.las.oin),
        )
    assert r.status_code == 401


def test_certificate_of_another_supplier_is_401(chain):
    school = chain.region.schools[0]
    other_las = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), as_oin=other_las.oin)
    assert r.status_code == 401
    assert r.json()["melding"] == MELDING_401
    assert count(chain, InboxMessage) == 0


def test_unknown_school_is_405(chain):
    school = chain.region.schools[0]
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), edu_to="0000000700099ZZ00000")
    assert r.status_code == 405
    assert r.json()["melding"] == MELDING_405


def test_malformed_edu_parameters_are_422(chain):
    school = chain.region.schools[0]
    for bad in ("12345", "0000000700011BB0000!", "0000000700011BB000000", ""):
        r = chain.post(f"{V11}/registreren", deelnemerslijst(school), edu_from=bad)
        assert r.status_code == 422, bad
        assert r.json()["melding"] == MELDING_422
        assert r.json()["fouten"][0]["veld"] == "edu-from"


def test_routing_of_another_school_is_401(chain):
    school, other = chain.region.schools[0], chain.region.schools[1]
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), edu_from=other.routing)
    assert r.status_code == 401


def test_mandate_expired_yesterday_is_401(chain):
    school = chain.region.schools[0]
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, school.oin)
        for m, *_ in register_repo.mandates(s, school_id=db_school.id):
            m.end_date = date.today() - timedelta(days=1)
    chain.platform.invalidate_views()
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school))
    assert r.status_code == 401
    assert "mandaat" in r.json()["toelichting"]


def test_test_supplier_without_mandate_is_401(chain):
    school = chain.region.schools[0]
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, school.oin)
        for m, _sc, system, *_ in register_repo.mandates(s, school_id=db_school.id):
            if system.kind == "toetssysteem":
                register.revoke_mandate(s, m.id)
    chain.platform.invalidate_views()
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school))
    assert r.status_code == 401
    assert "toetssysteem" in r.json()["toelichting"]


def test_window_closed_is_403_with_spec_text(chain):
    school = chain.region.schools[0]
    from eduketen.doorstroomtoets import service as dt

    with unit_of_work(chain.platform.sessions) as s:
        past = date.today() - timedelta(days=10)
        dt.set_window(s, schooljaar="2025-2026", soort="registratie", opens=past - timedelta(days=30), closes=past)
        dt.set_window(s, schooljaar="2025-2026", soort="schooladvies", opens=past - timedelta(days=30), closes=past)
    chain.platform.invalidate_views()
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school))
    assert (r.status_code, r.json()["melding"]) == (403, "Inschrijving is gesloten.")
    r = chain.post(f"{V11}/registreren-schooladviezen", schooladviezenlijst(school))
    assert (r.status_code, r.json()["melding"]) == (403, "Aanlevering schooladviezen is gesloten.")


def test_broken_json_wrong_type_and_missing_fields_are_422(chain):
    school = chain.region.schools[0]
    r = chain.post(f"{V11}/registreren", None, raw=b'{"datumtijd": ')
    assert r.status_code == 422 and "JSON" in r.json()["toelichting"]
    r = chain.post(f"{V11}/registreren", None, raw=b"[1, 2]")
    assert r.status_code == 422
    r = chain.post(f"{V11}/registreren", None, raw=b"datumtijd=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and "Content-Type" in r.json()["toelichting"]
    body = deelnemerslijst(school)
    del body["deelnemers"][1]["achternaam"]
    body["deelnemers"][0]["extensie"]["geslacht"] = 4
    body["groepen"][0]["niveau"]["niveau"] = "6"
    r = chain.post(f"{V11}/registreren", body)
    assert r.status_code == 422
    fields = {f["veld"] for f in r.json()["fouten"]}
    assert {"deelnemers/1/achternaam", "deelnemers/0/extensie/geslacht", "groepen/0/niveau/niveau"} <= fields
    assert count(chain, InboxMessage) == 0


def test_wrong_version_and_prose_rules_are_422(chain):
    school = chain.region.schools[0]
    body = deelnemerslijst(school)
    body["versie"] = "Doorstroomtoetsketen_v1.0"
    assert chain.post(f"{V11}/registreren", body).status_code == 422
    body = deelnemerslijst(school)
    body["schooljaar"] = "2026-2027"
    r = chain.post(f"{V11}/registreren", body)
    assert r.status_code == 422 and "/doorstroomtoets/2026-2027" in r.json()["fouten"][0]["fout"]
    body = deelnemerslijst(school)
    body["deelnemersgroep"]["instellingscode"] = "99XX"
    r = chain.post(f"{V11}/registreren", body)
    assert r.status_code == 422 and r.json()["fouten"][0]["veld"] == "deelnemersgroep/instellingscode"
    body = deelnemerslijst(school)
    body["deelnemers"][0]["groep"] = "bestaat-niet"
    body["deelnemers"][1]["extensie"]["voorletters"] = "A.B"
    r = chain.post(f"{V11}/registreren", body)
    assert {f["veld"] for f in r.json()["fouten"]} == {"deelnemers/0/groep", "deelnemers/1/extensie/voorletters"}


def test_unexpected_extra_fields_accepted_never_stored(chain):
    school = chain.region.schools[0]
    body = deelnemerslijst(school)
    body["geheim"] = "niet opslaan"
    body["deelnemers"][0]["bsn"] = "123456782"
    r = chain.post(f"{V11}/registreren", body)
    assert r.status_code == 202
    with chain.platform.sessions() as s:
        payload = s.scalars(select(InboxMessage.payload)).one()
    assert "geheim" not in payload and "123456782" not in payload


def test_oversized_body_is_413(chain):
    school = chain.region.schools[0]
    big = b'{"x": "' + b"a" * (chain.platform.settings.max_body_bytes + 10) + b'"}'
    r = chain.post(f"{V11}/registreren", None, raw=big)
    assert r.status_code == 413
    assert "grens" in r.json()["melding"]


def test_version_1_0_has_no_advice_endpoint_and_takes_its_own_versie(chain):
    school = chain.region.schools[0]
    r = chain.post(f"{V10}/registreren", deelnemerslijst(school, "v1.0"))
    assert r.status_code == 202, r.text
    r = chain.post(f"{V10}/registreren-schooladviezen", schooladviezenlijst(school, "v1.1"))
    assert r.status_code == 404


def test_2026_2027_never_stores_geslacht(chain):
    school = chain.region.schools[0]
    body = deelnemerslijst(school, "2026-2027")
    assert all("geslacht" not in p["extensie"] for p in body["deelnemers"])
    assert chain.post(f"{DRAFT}/registreren", body).status_code == 202
    body = deelnemerslijst(school, "2026-2027", pupils=school.pupils[:2])
    for p in body["deelnemers"]:
        p["extensie"]["geslacht"] = 2  # an old LAS still sends it
    assert chain.post(f"{DRAFT}/registreren", body).status_code == 202
    chain.drain()
    with chain.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PupilIdentity).where(PupilIdentity.geslacht.is_not(None))) == 0
    # data of an earlier version keeps working, with geslacht as that version exchanged it
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, "v1.1")).status_code == 202
    chain.drain()
    assert count(chain, PupilIdentity, PupilIdentity.geslacht.is_not(None)) == len(school.pupils)


def test_same_pupil_twice_in_one_list_is_422(chain):
    school = chain.region.schools[0]
    body = deelnemerslijst(school, pupils=[school.pupils[0], school.pupils[0]])
    r = chain.post(f"{V11}/registreren", body)
    assert r.status_code == 422
    assert r.json()["fouten"][0]["veld"] == "deelnemers/1/deelnemerref"


def test_pupil_gets_an_eck_id_later_and_keeps_one_record(chain):
    school = chain.region.schools[0]
    pupil = copy.deepcopy(school.pupils[0])
    eck = pupil.eck_id or "https://ketenid.nl/201703/" + "a" * 128
    pupil.eck_id = None
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=[pupil])).status_code == 202
    chain.drain()
    pupil.eck_id = eck
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=[pupil])).status_code == 202
    chain.drain()
    with chain.platform.sessions() as s:
        rows = s.scalars(select(Pupil)).all()
    assert len(rows) == 1 and rows[0].eck_id == eck and rows[0].las_key == pupil.las_key


def test_a_flow_the_school_switched_off_is_403_and_on_again_is_202(chain):
    """Regie op gegevens on a mandated chain: the mandate says who exchanges; a consent relation
    the school revoked switches that flow off (403, nothing stored), asking again switches it on."""
    from eduketen.register import consent

    school, other = chain.region.schools[0], chain.region.schools[1]
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, school.oin)
        systems = {system.kind: system for _m, _sc, system, *_ in register_repo.mandates(s, school_id=db_school.id)}
        relation = consent.request(s, school=db_school, api="doorstroomtoets", source=systems["las"],
                                   receiver=systems["toetssysteem"], actor="test")  # fmt: skip
        consent.activate(s, relation, actor="test")
        consent.revoke(s, relation, actor="test")
        relation_id = relation.id
    chain.platform.invalidate_views()
    before = count(chain, InboxMessage)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school))
    assert r.status_code == 403
    from eduketen.doorstroomtoets.schemas import versions

    assert r.json()["melding"] == versions()["v1.1"].melding("/registreren", "post", 403)  # the spec's own text
    assert "regie op gegevens" in r.json()["toelichting"]
    assert count(chain, InboxMessage) == before  # nothing stored
    assert chain.post(f"{V11}/registreren", deelnemerslijst(other), school=other).status_code == 202  # other schools flow
    with unit_of_work(chain.platform.sessions) as s:
        consent.request(s, school=db_school, api="doorstroomtoets", source=s.get(consent.System, systems["las"].id),
                        receiver=s.get(consent.System, systems["toetssysteem"].id), actor="test")  # fmt: skip
        assert consent.state(consent.get(s, relation_id)) == "requested"
    chain.platform.invalidate_views()
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school)).status_code == 202
