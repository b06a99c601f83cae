"""The change-and-release pages over the app: the calendar and the chain-test board are public, the
desk is for platform staff only, and a ticket moves through its workflow with CSRF-protected forms
(htmx fragments and plain posts)."""

from __future__ import annotations

import re

from ..eduv import STAFF_PASSWORD
from .conftest import ADMIN

DT = "doorstroomtoets"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(env, username):
    page = env.client.get("/insight/login")
    r = env.client.post("/insight/login", data={"username": username, "password": STAFF_PASSWORD, "csrf": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_public_calendar_and_board_pages(desk):
    c, region = desk.client, desk.region
    c.put(f"/admin/keurmerk/releases/{DT}/2026-2027", headers=ADMIN, json={"aankondiging": "Geslacht vervalt <script>alert(1)</script>"})
    period = c.post("/admin/keurmerk/test-periods", headers=ADMIN,
                    json={"dienst": DT, "versie": "1.1.0", "naam": "Terugweg", "opent": "2026-01-05", "sluit": "2026-02-13"}).json()  # fmt: skip
    las = region.las_suppliers[0]
    pairing = c.post(f"/admin/keurmerk/test-periods/{period['id']}/pairings", headers=ADMIN,
                     json={"a": {"leverancier_oin": las.oin, "systeem": las.system},
                           "b": {"leverancier_oin": region.toetsaanbieder.oin, "systeem": region.toetsaanbieder.system}}).json()  # fmt: skip
    c.post(f"/admin/keurmerk/pairings/{pairing['id']}/status", headers=ADMIN, json={"status": "testing", "note": "geheime notitie"})

    page = c.get("/insight/kalender")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="versie-2026-2027" data-status="draft"' in page.text and "Terugweg" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text  # escaped
    board = c.get("/insight/ketentest")
    assert board.status_code == 200 and f'data-pairing="{pairing["id"]}"' in board.text and "testen" in board.text
    assert "geheime notitie" not in board.text
    assert c.get("/insight/ketentest", params={"periode": period["id"]}).status_code == 200
    assert c.get("/insight/ketentest", params={"periode": "999"}).status_code == 404
    assert c.get("/insight/ketentest", params={"periode": "x' or 1=1"}).status_code == 404


def test_desk_pages_for_platform_staff_only(desk):
    c = desk.client
    r = c.post("/admin/keurmerk/tickets", headers=ADMIN, json={"soort": "wijzigingsverzoek", "dienst": DT, "versie": "1.1.0",
                                                              "titel": "Reminder testperiode", "omschrijving": "Twee weken vooraf."})  # fmt: skip
    tid = r.json()["id"]
    assert c.get("/insight/meldpunt", follow_redirects=False).status_code == 303  # to the login form
    login(desk, "beheer-school0")
    assert c.get("/insight/meldpunt").status_code == 403
    assert c.get(f"/insight/meldpunt/{tid}").status_code == 403
    c.cookies.clear()
    login(desk, "platform")
    listing = c.get("/insight/meldpunt")
    assert listing.status_code == 200 and "Reminder testperiode" in listing.text
    page = c.get(f"/insight/meldpunt/{tid}")
    csrf = _csrf(page.text)
    assert 'id="to-in-behandeling"' in page.text and 'id="to-opgelost"' not in page.text
    # without CSRF: refused; with it: moved (htmx fragment); a wrong step: the fragment says why
    assert c.post(f"/insight/meldpunt/{tid}/status", data={"status": "in-behandeling"}).status_code == 403
    r = c.post(f"/insight/meldpunt/{tid}/status", data={"csrf": csrf, "status": "in-behandeling", "note": "opgepakt"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'data-status="in-behandeling"' in r.text and "staff:platform" in r.text
    r = c.post(f"/insight/meldpunt/{tid}/status", data={"csrf": csrf, "status": "gesloten"}, headers={"HX-Request": "true"})
    assert 'id="ticket-error"' in r.text and 'data-status="in-behandeling"' in r.text
    r = c.post(f"/insight/meldpunt/{tid}/status", data={"csrf": csrf, "status": "gesloten"}, follow_redirects=False)
    assert r.status_code == 409 and "text/html" in r.headers["content-type"]
    r = c.post(f"/insight/meldpunt/{tid}/status", data={"csrf": csrf, "status": "ingepland", "versie": "2026-2027"}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get(f"/admin/keurmerk/tickets/{tid}", headers=ADMIN).json()["ingepland_in"] == "2026-2027"
    assert c.get("/insight/meldpunt/424242").status_code == 404
    assert c.post("/insight/meldpunt/424242/status", data={"csrf": csrf, "status": "gesloten"}).status_code == 404
    assert c.get("/insight/meldpunt", params={"status": "ingepland"}).text.count('data-status="ingepland"') == 1
