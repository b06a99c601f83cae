"""Change and release: the release calendar with validated transitions, chain-test periods with
1-on-1 pairings and their board, reminders two weeks before a period opens (exactly once, with a
controllable clock, on the participant's list and through the outbox), and the desk (meldpunt)
with its workflow and history. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from eduketen.core.db import unit_of_work
from eduketen.core.models import OutboxMessage
from eduketen.core.outbox import OutboxDeliverer
from eduketen.core.periodic import Periodic
from eduketen.core.platform import today_nl
from eduketen.keurmerk import tasks
from eduketen.keurmerk.models import Reminder

from ..core.test_outbox import Peer
from ..eduv import B_OIN
from .conftest import ADMIN

DT = "doorstroomtoets"


def _versions(client, path="/keurmerk/kalender", **kw) -> dict:
    r = client.get(path, **kw)
    assert r.status_code == 200, r.text
    return {v["versie"]: v for d in r.json()["diensten"] if d["gegevensdienst"] == DT for v in d["versies"]}


def test_release_calendar_transitions_are_validated_and_kept(desk):
    c = desk.client
    today = today_nl()
    versions = _versions(c)
    assert versions["1.1.0"]["status"] == "in-force" and versions["2026-2027"]["status"] == "draft"
    assert versions["2026-2027"]["volgende_status"] == ["in-force", "withdrawn"]

    # plan the draft's dates and announce its changes
    plan = {"concept_op": "2026-06-01", "in_gebruik_vanaf": "2026-08-01", "aankondiging": "Geslacht wordt niet meer uitgewisseld."}
    r = c.put(f"/admin/keurmerk/releases/{DT}/2026-2027", headers=ADMIN, json=plan)
    assert r.status_code == 200, r.text
    assert r.json()["gepland"] == [{"status": "in-force", "label": "in gebruik", "op": "2026-08-01"}]
    # dates out of order, or of a state the version can no longer reach, are refused
    r = c.put(f"/admin/keurmerk/releases/{DT}/2026-2027", headers=ADMIN, json={"vorige_vanaf": "2026-07-01"})
    assert r.status_code == 422 and "before" in r.json()["detail"]
    # a reached state's missing date may be filled in once (history), never changed
    assert c.put(f"/admin/keurmerk/releases/{DT}/1.1.0", headers=ADMIN, json={"concept_op": "2025-05-01", "in_gebruik_vanaf": "2025-08-01"}).status_code == 200
    r = c.put(f"/admin/keurmerk/releases/{DT}/1.1.0", headers=ADMIN, json={"in_gebruik_vanaf": "2025-09-01"})
    assert r.status_code == 409 and "history" in r.json()["detail"]
    assert c.put(f"/admin/keurmerk/releases/{DT}/1.1.0", headers=ADMIN, json={"vorige_vanaf": "2025-07-01"}).status_code == 422  # before in force

    # 1.0.1 becomes the previous version; it cannot come back into force
    r = c.post(f"/admin/keurmerk/releases/{DT}/1.0.1/transitions", headers=ADMIN, json={"status": "previous", "on": (today - timedelta(days=30)).isoformat(), "note": "1.1.0 is in gebruik"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "previous" and r.json()["geschiedenis"][-1]["van"] == "in-force"
    r = c.post(f"/admin/keurmerk/releases/{DT}/1.0.1/transitions", headers=ADMIN, json={"status": "in-force"})
    assert r.status_code == 409 and r.json()["toegestaan"] == ["withdrawn"] and r.json()["huidige_status"] == "previous"
    # withdrawn before it became previous: refused; then withdrawn: final
    r = c.post(f"/admin/keurmerk/releases/{DT}/1.0.1/transitions", headers=ADMIN, json={"status": "withdrawn", "on": (today - timedelta(days=31)).isoformat()})
    assert r.status_code == 422
    assert c.post(f"/admin/keurmerk/releases/{DT}/1.0.1/transitions", headers=ADMIN, json={"status": "withdrawn"}).status_code == 200
    r = c.post(f"/admin/keurmerk/releases/{DT}/1.0.1/transitions", headers=ADMIN, json={"status": "in-force"})
    assert r.status_code == 409 and r.json()["toegestaan"] == [] and "no change" in r.json()["detail"]
    # a transition in the future is planning, not a transition; unknown status, version, service
    r = c.post(f"/admin/keurmerk/releases/{DT}/2026-2027/transitions", headers=ADMIN, json={"status": "in-force", "on": (today + timedelta(days=3)).isoformat()})
    assert r.status_code == 422 and "future" in r.json()["detail"]
    assert c.post(f"/admin/keurmerk/releases/{DT}/2026-2027/transitions", headers=ADMIN, json={"status": "live"}).status_code == 422
    assert c.post(f"/admin/keurmerk/releases/{DT}/9.9/transitions", headers=ADMIN, json={"status": "withdrawn"}).status_code == 404
    assert c.post("/admin/keurmerk/releases/onbekend/1.0/transitions", headers=ADMIN, json={"status": "withdrawn"}).status_code == 404
    assert c.post(f"/admin/keurmerk/releases/{DT}/1.1.0/transitions", headers=ADMIN, content=b"{broken", ).status_code == 422
    assert c.post(f"/admin/keurmerk/releases/{DT}/1.1.0/transitions", json={"status": "previous"}).status_code == 401

    # the public calendar shows what holds, without the history; the register follows
    versions = _versions(c)
    assert versions["1.0.1"]["status"] == "withdrawn" and versions["1.0.1"]["in_gebruik_vanaf"] is None
    assert versions["1.0.1"]["vorige_vanaf"] == (today - timedelta(days=30)).isoformat() and versions["1.0.1"]["ingetrokken_op"] == today.isoformat()
    assert versions["2026-2027"]["aankondiging"].startswith("Geslacht") and "geschiedenis" not in versions["2026-2027"]
    admin = _versions(c, "/admin/keurmerk/releases", headers=ADMIN)
    assert [(e["van"], e["naar"]) for e in admin["1.0.1"]["geschiedenis"]] == [("in-force", "previous"), ("previous", "withdrawn")]
    r = c.get("/admin/schools", headers=ADMIN)
    assert r.status_code == 200
    with desk.platform.sessions() as s:
        from eduketen.register import service as register

        assert register.get_service_version(s, DT, "1.0.1").status == "withdrawn"
    assert c.get("/keurmerk/kalender", params={"dienst": "onbekend"}).status_code == 404


def _period(c, opens: date, closes: date, version="1.1.0", name="Ketentest terugweg") -> dict:
    r = c.post("/admin/keurmerk/test-periods", headers=ADMIN, json={"dienst": DT, "versie": version, "naam": name, "opent": opens.isoformat(), "sluit": closes.isoformat()})
    assert r.status_code == 201, r.text
    return r.json()


def _pair(c, period_id, a, b):
    r = c.post(f"/admin/keurmerk/test-periods/{period_id}/pairings", headers=ADMIN,
               json={"a": {"leverancier_oin": a[0], "systeem": a[1]}, "b": {"leverancier_oin": b[0], "systeem": b[1]}})  # fmt: skip
    return r


def test_chain_test_board_who_tested_with_whom(desk):
    c, region = desk.client, desk.region
    today = today_nl()
    period = _period(c, today - timedelta(days=3), today + timedelta(days=30))
    las = [(s.oin, s.system) for s in region.las_suppliers]
    toets_a = (region.toetsaanbieder.oin, region.toetsaanbieder.system)
    toets_b = (B_OIN, "Toetsplatform")
    ids = {}
    for side in las:
        for t in (toets_a, toets_b):
            r = _pair(c, period["id"], side, t)
            assert r.status_code == 201, r.text
            ids[(side, t)] = r.json()["id"]
    # the same pair again (either order), a supplier with itself, unknown systems: refused
    assert _pair(c, period["id"], toets_a, las[0]).status_code == 409
    assert _pair(c, period["id"], las[0], las[0]).status_code == 422
    assert _pair(c, period["id"], las[0], (B_OIN, "Bestaat niet")).status_code == 404
    assert _pair(c, 999999, las[0], toets_a).status_code == 404

    p1, p2, p3 = ids[(las[0], toets_a)], ids[(las[0], toets_b)], ids[(las[1], toets_a)]
    for pid, status in ((p1, "testing"), (p1, "passed"), (p2, "testing"), (p2, "failed"), (p3, "failed")):
        r = c.post(f"/admin/keurmerk/pairings/{pid}/status", headers=ADMIN, json={"status": status})
        assert r.status_code == 200, (pid, status, r.text)
    r = c.post(f"/admin/keurmerk/pairings/{p1}/status", headers=ADMIN, json={"status": "planned"})
    assert r.status_code == 409 and r.json()["huidige_status"] == "passed"
    r = c.post(f"/admin/keurmerk/pairings/{ids[(las[1], toets_b)]}/status", headers=ADMIN, json={"status": "passed"})
    assert r.status_code == 409 and r.json()["toegestaan"] == ["testing", "failed"]
    assert c.post(f"/admin/keurmerk/pairings/{p2}/status", headers=ADMIN, json={"status": "kapot"}).status_code == 422
    assert c.post(f"/admin/keurmerk/pairings/{p2}/status", headers=ADMIN, json={"status": "testing", "evidence_id": 12345}).status_code == 404
    assert c.post("/admin/keurmerk/pairings/0/status", headers=ADMIN, json={"status": "testing"}).status_code == 404

    # a conformance report of one of the two suppliers, for the period's version, can be linked
    admission = c.post("/admin/keurmerk/admissions", headers=ADMIN, json={"supplier_oin": toets_a[0], "service": DT, "role": "toetsaanbieder"}).json()
    report = {"suite": "eduketen conformance", "service": DT, "role": "toetsaanbieder", "version": "1.1.0",
              "scenarios": [{"name": "deelnemerslijst-geldig", "status": "passed"}]}  # fmt: skip
    evidence = c.post(f"/admin/keurmerk/admissions/{admission['id']}/evidence", headers=ADMIN, json={"report": report}).json()["id"]
    other_version = c.post(f"/admin/keurmerk/admissions/{admission['id']}/evidence", headers=ADMIN, json={"report": {**report, "version": "2026-2027"}}).json()["id"]
    r = c.post(f"/admin/keurmerk/pairings/{p1}/status", headers=ADMIN, json={"status": "passed", "evidence_id": evidence, "note": "rapport bijgevoegd"})
    assert r.status_code == 200 and r.json()["bewijs"] == evidence and r.json()["conformancerapport"] is True
    r = c.post(f"/admin/keurmerk/pairings/{p1}/status", headers=ADMIN, json={"status": "passed", "evidence_id": other_version})
    assert r.status_code == 422 and "another service version" in r.json()["detail"]
    r = c.post(f"/admin/keurmerk/pairings/{ids[(las[1], toets_b)]}/status", headers=ADMIN, json={"status": "planned", "evidence_id": evidence})
    assert r.status_code == 422 and "outside this pairing" in r.json()["detail"]

    board = c.get(f"/admin/keurmerk/test-periods/{period['id']}", headers=ADMIN).json()
    assert board["aantallen"] == {"planned": 1, "testing": 0, "passed": 1, "failed": 2}
    assert board["fase"] == "open" and len(board["matrix"]) == 2 and len(board["kolommen"]) == 2
    cells = {(row["systeem"]["oin"], cell["b"]["oin"]): cell["status"] for row in board["matrix"] for cell in row["cellen"] if cell}
    assert cells[(las[0][0], toets_a[0])] == "passed" and cells[(las[0][0], B_OIN)] == "failed" and cells[(las[1][0], B_OIN)] == "planned"
    public = c.get("/keurmerk/ketentests").json()["ketentestperiodes"][0]
    assert public["aantallen"] == board["aantallen"] and "notitie" not in str(public) and "herinneringen" not in public
    assert _versions(c)["1.1.0"]["ketentestperiodes"][0]["fase"] == "open"
    # a period that closes before it opens, or for an unknown version
    r = c.post("/admin/keurmerk/test-periods", headers=ADMIN, json={"dienst": DT, "versie": "1.1.0", "naam": "x", "opent": "2026-09-10", "sluit": "2026-09-01"})
    assert r.status_code == 422
    r = c.post("/admin/keurmerk/test-periods", headers=ADMIN, json={"dienst": DT, "versie": "0.1", "naam": "x", "opent": "2026-09-01", "sluit": "2026-09-10"})
    assert r.status_code == 404


def _reminders(session) -> list[Reminder]:
    return list(session.scalars(select(Reminder).order_by(Reminder.id)))


def test_reminders_two_weeks_before_a_period_opens_exactly_once(desk):
    c, region, platform = desk.client, desk.region, desk.platform
    opens = date(2027, 3, 15)
    period = _period(c, opens, opens + timedelta(days=42), version="2026-2027", name="Ketentest 2026-2027")
    las0 = (region.las_suppliers[0].oin, region.las_suppliers[0].system)
    assert _pair(c, period["id"], las0, (region.toetsaanbieder.oin, region.toetsaanbieder.system)).status_code == 201
    # Toets B is a participant by admission, without a pairing
    r = c.post("/admin/keurmerk/admissions", headers=ADMIN, json={"supplier_oin": B_OIN, "service": DT, "role": "toetsaanbieder"})
    assert r.status_code == 201
    with Peer() as peer:
        assert c.put(f"/admin/keurmerk/contacts/{region.toetsaanbieder.oin}", headers=ADMIN, json={"notify_url": peer.url("hook")}).status_code == 200
        assert c.put(f"/admin/keurmerk/contacts/{B_OIN}", headers=ADMIN, json={"notify_url": "ftp://x"}).status_code == 422
        assert c.put("/admin/keurmerk/contacts/00000003999999999999", headers=ADMIN, json={"notify_url": None}).status_code == 404

        day = {"now": opens - timedelta(days=15)}
        periodic = Periodic(platform.sessions, tasks.periodic_tasks(), clock=lambda: day["now"])
        assert periodic.run_tasks() == {"keurmerk.herinneringen": 0}  # fifteen days before: not yet
        day["now"] = opens - timedelta(days=14)
        assert periodic.run_tasks() == {"keurmerk.herinneringen": 3}
        assert periodic.run_tasks() == {"keurmerk.herinneringen": 0}  # twice on a day: nothing twice
        day["now"] = opens - timedelta(days=13)
        assert periodic.run_tasks() == {"keurmerk.herinneringen": 0}
        with platform.sessions() as s:
            sent = _reminders(s)
            assert len(sent) == 3 and {r.sent_on for r in sent} == {opens - timedelta(days=14)}
            assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "keurmerk.herinnering")) == 1
        # the webhook is really delivered, once
        deliverer = OutboxDeliverer(platform.sessions, {}, timeout=2)
        deliverer.drain()
        assert len(peer.received) == 1 and "Ketentest 2026-2027" in peer.received[0][1] and "2027-03-15" in peer.received[0][1]

    # a pairing added later brings a new participant's reminder, the others are not sent again
    las1 = (region.las_suppliers[1].oin, region.las_suppliers[1].system)
    assert _pair(c, period["id"], las1, (B_OIN, "Toetsplatform")).status_code == 201
    with unit_of_work(platform.sessions) as s:
        assert tasks.reminders(s, opens - timedelta(days=2)) == 1
        assert tasks.reminders(s, opens) == 0  # the period opened: no reminders any more

    # the participant's own list (OAuth, keurmerk scope)
    token = desk.token("toets-a-keurmerk")
    r = c.get("/keurmerk/v1/herinneringen", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    mine = r.json()["herinneringen"]
    assert len(mine) == 1 and mine[0]["webhook"] == "delivered" and "Uw testpartners" in mine[0]["bericht"]
    r = c.get("/keurmerk/v1/herinneringen", headers={"Authorization": f"Bearer {desk.token('toets-b-keurmerk')}"})
    assert len(r.json()["herinneringen"]) == 1 and r.json()["herinneringen"][0]["webhook"] is None
    assert c.get("/keurmerk/v1/herinneringen", headers={"Authorization": f"Bearer {desk.token('toets-a')}"}).status_code == 403  # no keurmerk scope
    assert c.get("/keurmerk/v1/herinneringen").status_code == 401
    admin = c.get("/admin/keurmerk/reminders", headers=ADMIN, params={"period_id": period["id"]}).json()["herinneringen"]
    assert len(admin) == 4


def test_desk_workflow_with_history(desk):
    c = desk.client
    auth_a = {"Authorization": f"Bearer {desk.token('toets-a-keurmerk')}"}
    auth_b = {"Authorization": f"Bearer {desk.token('toets-b-keurmerk')}"}
    rfc = {"soort": "wijzigingsverzoek", "dienst": DT, "versie": "1.1.0", "titel": "Onbekende leerlingen: 202 in de specificatie",
           "omschrijving": "Neem het besluit van 8 januari 2026 op in de specificaties."}  # fmt: skip
    r = c.post("/keurmerk/v1/meldingen", headers=auth_a, json=rfc)
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["status"] == "nieuw" and ticket["leverancier"]["oin"] == desk.region.toetsaanbieder.oin
    assert ticket["geschiedenis"][0]["naar"] == "nieuw" and ticket["geschiedenis"][0]["door"].startswith("leverancier")
    tid = ticket["id"]

    def move(status, **extra):
        return c.post(f"/admin/keurmerk/tickets/{tid}/transitions", headers=ADMIN, json={"status": status, **extra})

    r = move("opgelost")
    assert r.status_code == 409 and r.json()["toegestaan"] == ["in-behandeling", "afgewezen"]
    assert move("afgewezen").status_code == 422  # a refusal needs a reason
    assert move("in-behandeling", note="Opgepakt door ketencoördinatie", door="Brian").status_code == 200
    assert move("ingepland").status_code == 422  # which release?
    assert move("ingepland", versie="1.1.0").status_code == 409  # in force already, not an upcoming release
    assert move("ingepland", versie="7.0").status_code == 404
    r = move("ingepland", versie="2026-2027", note="Meegenomen in de specificaties 2026-2027")
    assert r.status_code == 200 and r.json()["ingepland_in"] == "2026-2027"
    # the calendar announces the planned change with the release
    assert _versions(c)["2026-2027"]["ingeplande_wijzigingen"] == [{"melding": tid, "titel": rfc["titel"], "status": "ingepland"}]
    assert move("opgelost").status_code == 200
    assert move("gesloten").status_code == 200
    r = move("in-behandeling")
    assert r.status_code == 409 and r.json()["toegestaan"] == [] and "closed" in r.json()["detail"]
    history = c.get(f"/admin/keurmerk/tickets/{tid}", headers=ADMIN).json()["geschiedenis"]
    assert [(h["van"], h["naar"]) for h in history] == [(None, "nieuw"), ("nieuw", "in-behandeling"), ("in-behandeling", "ingepland"),
                                                        ("ingepland", "opgelost"), ("opgelost", "gesloten")]  # fmt: skip
    assert history[1]["door"] == "platformbeheer (Brian)" and history[1]["notitie"] == "Opgepakt door ketencoördinatie"

    # an incident cannot be planned in a release; the supplier sees its own tickets only
    r = c.post("/keurmerk/v1/meldingen", headers=auth_b, json={**rfc, "soort": "incident", "titel": "OSR-q geeft verkeerd mandaat"})
    inc = r.json()["id"]
    assert c.post(f"/admin/keurmerk/tickets/{inc}/transitions", headers=ADMIN, json={"status": "in-behandeling"}).status_code == 200
    r = c.post(f"/admin/keurmerk/tickets/{inc}/transitions", headers=ADMIN, json={"status": "ingepland", "versie": "2026-2027"})
    assert r.status_code == 409 and "only a change request" in r.json()["detail"]
    assert c.get(f"/keurmerk/v1/meldingen/{inc}", headers=auth_a).status_code == 404
    assert c.get(f"/keurmerk/v1/meldingen/{inc}", headers=auth_b).status_code == 200
    assert [t["id"] for t in c.get("/keurmerk/v1/meldingen", headers=auth_a).json()["meldingen"]] == [tid]

    # staff record a complaint on behalf of a participant
    r = c.post("/admin/keurmerk/tickets", headers=ADMIN, json={**rfc, "soort": "klacht", "leverancier_oin": B_OIN, "door": "Jos"})
    assert r.status_code == 201 and r.json()["leverancier"]["oin"] == B_OIN and r.json()["ingediend_door"] == "platformbeheer (Jos)"
    assert [t["soort"] for t in c.get("/admin/keurmerk/tickets", headers=ADMIN, params={"status": "nieuw"}).json()["meldingen"]] == ["klacht"]

    # bad input
    assert c.post("/keurmerk/v1/meldingen", headers=auth_a, json={**rfc, "soort": "vraag"}).status_code == 422
    assert c.post("/keurmerk/v1/meldingen", headers=auth_a, json={**rfc, "versie": "0.9"}).status_code == 404
    assert c.post("/keurmerk/v1/meldingen", headers=auth_a, json={**rfc, "extra": 1}).status_code == 422
    r = c.post("/keurmerk/v1/meldingen", headers={**auth_a, "Content-Type": "application/json"}, content=b'{"soort": ')
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/json")
    assert c.post("/keurmerk/v1/meldingen", json=rfc).status_code == 401
    assert c.post("/keurmerk/v1/meldingen", headers=ADMIN, json=rfc).status_code == 401  # the admin credential is no OAuth token
    assert c.post("/keurmerk/v1/meldingen", headers={"Authorization": f"Bearer {desk.token('toets-a')}"}, json=rfc).status_code == 403
    assert c.get("/admin/keurmerk/tickets/99999", headers=ADMIN).status_code == 404
    assert c.get("/admin/keurmerk/tickets", headers=ADMIN, params={"status": "weg"}).status_code == 422
    assert c.post("/admin/keurmerk/tickets/99999/transitions", headers=ADMIN, json={"status": "gesloten"}).status_code == 404
    assert c.post(f"/admin/keurmerk/tickets/{tid}/transitions", headers=ADMIN, json={"status": "onbekend"}).status_code == 422
    assert c.post(f"/admin/keurmerk/tickets/{tid}/transitions", json={"status": "gesloten"}).status_code == 401


def test_two_workers_racing_send_each_reminder_once(desk):
    """Two worker processes run the reminders at the same moment: the unique key per period and
    participant lets one win; the other skips (PostgreSQL: truly concurrent writers)."""
    import threading
    import time

    import pytest

    from eduketen.keurmerk import service

    platform, region = desk.platform, desk.region
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time; the race needs two concurrent writers")
    opens = date(2027, 5, 10)
    period = _period(desk.client, opens, opens + timedelta(days=20), version="2026-2027")
    las0 = (region.las_suppliers[0].oin, region.las_suppliers[0].system)
    assert _pair(desk.client, period["id"], las0, (region.toetsaanbieder.oin, region.toetsaanbieder.system)).status_code == 201
    today = opens - timedelta(days=5)
    first = platform.sessions()
    assert len(service.send_reminders(first, today)) == 2  # written, not yet committed
    outcome = {}

    def second_worker():
        with unit_of_work(platform.sessions) as session:
            outcome["sent"] = len(service.send_reminders(session, today))

    thread = threading.Thread(target=second_worker)
    thread.start()
    time.sleep(0.5)  # the second worker is now waiting on the first one's rows
    first.commit()
    first.close()
    thread.join(20)
    assert outcome == {"sent": 0}
    with platform.sessions() as s:
        assert len(_reminders(s)) == 2
