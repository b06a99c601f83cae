"""The register's pages for schools and the public: the mandate check (anyone; yes or no only; also
JSON; rate-limited; odd input never a 500), the school's own mandates with their status and the
board's mandate administrators, the application landscape (flows with consent state, last
successful exchange and open errors, as SVG and table), and the public keurmerk page. On SQLite
and PostgreSQL (the ``eduv`` fixture runs on both)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from eduketen.core import outbox
from eduketen.core.db import unit_of_work, utcnow
from eduketen.core.ratelimit import RateLimiter
from eduketen.insight.security import create_account
from eduketen.register import consent as consent_svc
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import ConsentRefusal, Mandate

from ..eduv import B_OIN, STAFF_PASSWORD, sample_bundle
from .test_pages import login

SERVICE = "doorstroomtoets"


def _ask(eduv, json=False, **params):
    return eduv.client.get("/insight/mandaatcheck" + (".json" if json else ""), params=params)


def _answer(page) -> str | None:
    found = re.search(r'id="answer" data-answer="(\w+)"', page.text)
    return found.group(1) if found else None


@pytest.fixture
def world(eduv):
    """School 0 with mandates in every status, a board with its mandate administrators, and a
    second test supplier (Toets B) whose mandate expired."""
    today = date.today()
    with unit_of_work(eduv.platform.sessions) as s:
        school = register.get_school(s, eduv.school.brin)
        school.board = "Stichting Primair Onderwijs IJsselland"
        register.add_board_administrator(s, board=school.board, name="Marieke de Wit", role="OSR-beheerder",
                                         email="m.dewit@spo-ijsselland.example", phone="038-1234567")  # fmt: skip
        register.add_board_administrator(s, board=school.board, name="Jeroen Bos", role="functioneel beheerder ICT")
        register.add_board_administrator(s, board="Ander Bestuur", name="Niet Tonen", role="OSR-beheerder")
        b = register.get_supplier(s, B_OIN)
        system_b = register.get_system(s, b, "Toetsplatform")
        sv = register.get_service_version(s, SERVICE, "1.1.0")
        register.grant_mandate(s, school=school, system=system_b, service_version=sv, start=today - timedelta(days=400),
                               end=today - timedelta(days=35))  # fmt: skip
        register.grant_mandate(s, school=school, system=system_b, service_version=sv, start=today + timedelta(days=30))
        revoked = register.grant_mandate(s, school=school, system=system_b, service_version=sv, start=today - timedelta(days=10))
        register.revoke_mandate(s, revoked.id)
    return eduv


# -- the mandate check --------------------------------------------------------------------------------


def test_anyone_gets_yes_or_no_and_nothing_more(world):
    eduv = world
    school, las = eduv.school, eduv.school.las
    yes = _ask(eduv, school=school.brin, leverancier=las.oin, dienst=SERVICE)
    assert yes.status_code == 200 and _answer(yes) == "ja"
    assert "Ja." in yes.text and school.name in yes.text
    # the details stay with the school: no token, no dates of the mandate, no system
    with eduv.platform.sessions() as s:
        tokens = [m.token for m in s.scalars(select(Mandate))]
    assert not any(t in yes.text for t in tokens)
    assert (date.today() - timedelta(days=30)).isoformat() not in yes.text
    assert "own-mandates" not in yes.text  # an anonymous visitor gets no link to the school's page
    # by name (part of it, any case) as well as by BRIN and OIN
    by_name = _ask(eduv, school=school.name.upper(), leverancier=las.name.lower(), dienst=SERVICE)
    assert _answer(by_name) == "ja", by_name.text
    assert _answer(_ask(eduv, school=school.oin, leverancier=las.name, dienst=SERVICE, versie="1.0.1")) == "ja"
    # Toets B: its mandate expired, the next one starts in a month, the third was revoked: no
    no = _ask(eduv, school=school.brin, leverancier=B_OIN, dienst=SERVICE)
    assert no.status_code == 200 and _answer(no) == "nee" and "Nee." in no.text
    # another school's LAS was never mandated by this school
    other_las = next(s.las for s in eduv.region.schools if s.las.oin != las.oin)
    assert _answer(_ask(eduv, school=school.brin, leverancier=other_las.oin, dienst=SERVICE)) == "nee"


def test_the_json_answer(world):
    eduv = world
    r = _ask(eduv, json=True, school=eduv.school.brin, leverancier=eduv.school.las.oin, dienst=SERVICE)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["antwoord"] == "ja" and body["school"] == {"naam": eduv.school.name, "brin": eduv.school.brin}
    assert set(body) == {"antwoord", "datum", "school", "leverancier", "dienst", "versie"}
    assert _ask(eduv, json=True, school=eduv.school.brin, leverancier=B_OIN, dienst=SERVICE).json()["antwoord"] == "nee"


def test_a_staff_member_of_the_school_gets_a_link_to_its_mandates(world):
    eduv = world
    login(eduv)
    page = _ask(eduv, school=eduv.school.brin, leverancier=eduv.school.las.oin, dienst=SERVICE)
    assert 'id="own-mandates"' in page.text
    other = _ask(eduv, school=eduv.region.schools[1].brin, leverancier=eduv.region.schools[1].las.oin, dienst=SERVICE)
    assert _answer(other) == "ja" and 'id="own-mandates"' not in other.text


@pytest.mark.parametrize(
    "params, status",
    [
        ({"school": "", "leverancier": "x", "dienst": SERVICE}, 400),
        ({"school": "12AB"}, 400),
        ({"school": "a" * 201, "leverancier": "x", "dienst": SERVICE}, 400),
        ({"school": "ab\x00cd", "leverancier": "x", "dienst": SERVICE}, 400),
        ({"school": "ZZZZ", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "%", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "_", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "' OR 1=1 --", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "\u202eevil\u0301", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "00000007000ZZZZ00000", "leverancier": "x", "dienst": SERVICE}, 404),
        ({"school": "SCHOOL0", "leverancier": "00000003999999990000", "dienst": SERVICE}, 404),
        ({"school": "SCHOOL0", "leverancier": "LAS0", "dienst": "geen-dienst"}, 404),
        ({"school": "SCHOOL0", "leverancier": "LAS0", "dienst": SERVICE, "versie": "9.9.9"}, 404),
    ],
)
def test_odd_input_gets_a_clear_answer_never_a_500(world, params, status):
    eduv = world
    brin = eduv.school.brin
    params = {k: v.replace("SCHOOL0", brin).replace("LAS0", eduv.school.las.oin) for k, v in params.items()}
    page = _ask(eduv, **params)
    assert page.status_code == status, page.text[:500]
    assert 'id="problem"' in page.text and "Traceback" not in page.text
    data = _ask(eduv, json=True, **params)
    assert data.status_code == status and data.json()["status"] == status and data.json()["detail"]


def test_an_ambiguous_school_or_supplier_lists_the_candidates(world):
    eduv = world
    # "LAS" matches both LAS suppliers of the region; a few letters common to every school name match several schools
    r = _ask(eduv, json=True, school=eduv.school.brin, leverancier="LAS", dienst=SERVICE)
    assert r.status_code == 409 and {c["oin"] for c in r.json()["kandidaten"]} == {s.oin for s in eduv.region.las_suppliers}
    page = _ask(eduv, school=eduv.school.brin, leverancier="LAS", dienst=SERVICE)
    assert page.status_code == 409 and 'id="candidates"' in page.text


def test_the_check_is_rate_limited_like_the_osr_api(world):
    eduv = world
    eduv.platform.views["osr_limiter"] = RateLimiter(0.01, 3)
    params = {"school": eduv.school.brin, "leverancier": eduv.school.las.oin, "dienst": SERVICE}
    codes = [_ask(eduv, **params).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    page = _ask(eduv, **params)
    assert page.status_code == 429 and int(page.headers["Retry-After"]) >= 1 and _answer(page) is None
    data = _ask(eduv, json=True, **params)
    assert data.status_code == 429 and data.headers["Retry-After"]
    # the empty form is not a question: it is always served
    assert eduv.client.get("/insight/mandaatcheck").status_code == 200


# -- the school's mandates --------------------------------------------------------------------------


def test_the_school_administrator_sees_every_mandate_and_the_boards_administrators(world):
    eduv = world
    login(eduv)
    page = eduv.client.get("/insight/mandaten")
    assert page.status_code == 200
    statuses = re.findall(r'<tr data-status="(\w+)"', page.text)
    # 2 LAS + 2 test supplier mandates per version (3 versions) are active; Toets B: expired, future, revoked
    assert statuses.count("actief") == 6
    assert statuses.count("verlopen") == 1 and statuses.count("toekomstig") == 1 and statuses.count("ingetrokken") == 1
    assert statuses == sorted(statuses, key=["actief", "toekomstig", "verlopen", "ingetrokken"].index)
    expired_end = (date.today() - timedelta(days=35)).isoformat()
    assert expired_end in page.text and "Toets B" in page.text and "Toetsplatform" in page.text
    admins = re.findall(r'<li class="administrator"><strong>([^<]+)</strong>', page.text)
    assert admins == ["Jeroen Bos", "Marieke de Wit"]
    assert "mailto:m.dewit@spo-ijsselland.example" in page.text and "038-1234567" in page.text
    assert "Niet Tonen" not in page.text
    # the platform's own tokens never show
    with eduv.platform.sessions() as s:
        assert not any(t in page.text for t in s.scalars(select(Mandate.token)))


def test_a_board_without_known_administrators_says_so(eduv):
    login(eduv)
    page = eduv.client.get("/insight/mandaten")
    assert page.status_code == 200 and "nog geen mandaatbeheerders bekend" in page.text


def test_other_schools_and_other_roles_are_refused(world):
    eduv = world
    other = eduv.region.schools[1].brin
    assert eduv.client.get("/insight/mandaten", follow_redirects=False).headers["location"] == "/insight/login"
    assert eduv.client.get("/insight/landschap", follow_redirects=False).status_code == 303
    login(eduv, "beheer-school1")
    for path in ("/insight/mandaten", "/insight/landschap"):
        refused = eduv.client.get(path, params={"school": eduv.school.brin})
        assert refused.status_code == 403 and eduv.school.name not in refused.text
        own = eduv.client.get(path, params={"school": other})
        assert own.status_code == 200 and eduv.region.schools[1].name in own.text
    login(eduv, "mentor-school0")
    for path in ("/insight/mandaten", "/insight/landschap"):
        assert eduv.client.get(path).status_code == 403
    with unit_of_work(eduv.platform.sessions) as s:
        create_account(s, username="platform", password=STAFF_PASSWORD, role="platform-admin")
    login(eduv, "platform")
    assert eduv.client.get("/insight/mandaten").status_code == 404  # which school?
    assert eduv.client.get("/insight/mandaten", params={"school": "<script>"}).status_code == 404
    assert eduv.client.get("/insight/landschap", params={"school": eduv.school.brin}).status_code == 200


def test_board_administrators_through_the_admin_api_and_bad_input(eduv):
    admin = {"Authorization": "Bearer test-admin-token"}
    body = {"board": "Stichting Test", "name": "Anna Jansen", "role": "OSR-beheerder", "email": "anna@test.example"}
    assert eduv.client.post("/admin/boards/administrators", json=body, headers=admin).status_code == 201
    assert eduv.client.post("/admin/boards/administrators", json={**body, "role": "bestuurssecretaris"}, headers=admin).status_code == 201
    listed = eduv.client.get("/admin/boards/administrators", params={"board": "Stichting Test"}, headers=admin).json()
    assert [(a["name"], a["role"]) for a in listed["administrators"]] == [("Anna Jansen", "bestuurssecretaris")]
    for bad in ({**body, "email": "not-an-address"}, {**body, "phone": "call me"}, {**body, "name": " "}, {**body, "id": 1}, {"board": "x"}):
        r = eduv.client.post("/admin/boards/administrators", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    assert eduv.client.post("/admin/boards/administrators", json=body).status_code == 401
    assert eduv.client.get("/admin/boards/administrators", headers=admin).status_code == 422


# -- the application landscape ----------------------------------------------------------------------------


TOETS_URL = "https://toets.example/doorstroomtoets"


def _toets_address(session, eduv) -> None:
    supplier = register.get_supplier(session, eduv.region.toetsaanbieder.oin)
    register.get_system(session, supplier, eduv.region.toetsaanbieder.system).base_url = TOETS_URL


def _flows(page) -> dict[int, dict]:
    rows = {}
    for m in re.finditer(r'<tr id="flow-(\d+)" data-flow="\d+" data-state="([\w-]+)" data-health="(\w+)" data-errors="(\d+)"(.*?)</tr>', page.text, re.DOTALL):
        rows[int(m.group(1))] = {"state": m.group(2), "health": m.group(3), "errors": int(m.group(4)), "html": m.group(5)}
    return rows


def test_the_landscape_shows_systems_flows_consent_exchanges_and_open_errors(world):
    eduv = world
    token = eduv.token()
    assert eduv.post(sample_bundle(eduv.school.brin), token=token).status_code == 201  # results flow: one success
    # Toets B has no consent at this school: its exchanges are refused and counted
    for _ in range(2):
        assert eduv.post(sample_bundle(eduv.school.brin), client_id="toets-b").status_code == 403
    # the LAS side: a pupil list that the test supplier refused (dead), and one delivered earlier
    with unit_of_work(eduv.platform.sessions) as s:
        _toets_address(s, eduv)
        key = f"las:{eduv.school.oin}:deelnemers"
        ok = outbox.enqueue(s, kind="las.deelnemers", ordering_key=key, method="POST", url=f"{TOETS_URL}/v1.1/registreren")
        ok.status, ok.settled_at = "delivered", utcnow() - timedelta(days=2)
        dead = outbox.enqueue(s, kind="las.deelnemers", ordering_key=key, method="POST", url=f"{TOETS_URL}/v1.1/registreren")
        elsewhere = outbox.enqueue(s, kind="las.deelnemers", ordering_key=key, method="POST", url="https://other.example/v1.1/registreren")
        elsewhere.status, elsewhere.settled_at, elsewhere.last_error = "dead", utcnow(), "not this flow"
        dead.status, dead.settled_at, dead.last_status = "dead", utcnow(), 422
        dead.last_error = "HTTP 422: deelnemersgroep onbekend"
        # a switched-off flow: a progress consent the school revoked
        school = register.get_school(s, eduv.school.brin)
        src = s.get(register.System, eduv.ids["system-b"])
        rcv = s.get(register.System, eduv.ids["system-receiver"])
        c = consent_svc.request(s, school=school, api="progress-api", source=src, receiver=rcv, actor="test")
        consent_svc.activate(s, c, actor="test")
        consent_svc.revoke(s, c, actor="test")
    with eduv.platform.sessions() as s:
        refusal = s.scalars(select(ConsentRefusal)).one()
        assert refusal.times == 2 and refusal.api == "results-api" and refusal.source_system_id == eduv.ids["system-b"]

    login(eduv)
    page = eduv.client.get("/insight/landschap")
    assert page.status_code == 200
    flows = _flows(page)
    svg_flows = re.findall(r'<g class="flow flow-(\w+)" data-flow="(\d+)" data-state="([\w-]+)" data-errors="(\d+)"', page.text)
    assert len(svg_flows) == len(flows) >= 5  # the diagram and the table hold the same flows
    for health, number, state, errors in svg_flows:
        assert flows[int(number)]["health"] == health and flows[int(number)]["state"] == state and flows[int(number)]["errors"] == int(errors)
    by_label = {}
    for number, row in flows.items():
        label = re.search(r"<td>([^<]+)<br><small>", row["html"]).group(1)
        by_label.setdefault(label, []).append((number, row))
    las_name = eduv.school.las.name
    up = [r for _n, r in by_label["Doorstroomtoets: leerlingen en schooladviezen"] if las_name in r["html"] and "Toetsaanbieder" in r["html"]]
    assert len(up) == 1 and up[0]["state"] == "aan" and up[0]["health"] == "fout" and up[0]["errors"] == 1
    assert "deelnemersgroep onbekend" in up[0]["html"] and "niet afgeleverd" in up[0]["html"]
    down = [r for _n, r in by_label["Doorstroomtoets: resultaten en rapporten"] if "Toetsaanbieder" in r["html"]]
    assert down and down[0]["health"] == "stil" and "niet zichtbaar voor dit platform" in down[0]["html"]  # not a party to it
    # Toets B's mandate is not valid today: its Doorstroomtoets flows show it
    b_flows = [r for label in ("Doorstroomtoets: leerlingen en schooladviezen",) for _n, r in by_label[label] if "Toets B" in r["html"]]
    assert b_flows and all(r["state"] == "geen-mandaat" for r in b_flows)
    results = {("Toets B" in r["html"]): r for _n, r in by_label["toetsresultaten"]}
    assert results[False]["state"] == "aan" and results[False]["health"] == "ok" and "1 keer gelukt" in results[False]["html"]
    assert results[True]["state"] == "geen-toestemming" and results[True]["health"] == "fout" and results[True]["errors"] == 2
    assert "geweigerd" in results[True]["html"] and "(2×)" in results[True]["html"]
    (progress,) = by_label["leervoortgang"]
    assert progress[1]["state"] == "uit" and progress[1]["health"] == "uit"
    assert re.search(r'<strong id="open-errors">(\d+)</strong>', page.text).group(1) == "3"
    # the diagram is an accessible, script-free SVG
    assert re.search(r'<svg [^>]*role="img" aria-labelledby="landscape-title landscape-desc"', page.text)
    assert "<script" not in page.text.split("<main>")[1]
    systems = re.findall(r'<g class="system system-(\w+)', page.text)
    assert {"las", "toetssysteem", "administratie"} <= set(systems)


def test_a_later_success_settles_a_refusal_and_a_redelivery_settles_a_dead_letter(world):
    eduv = world
    assert eduv.post(sample_bundle(eduv.school.brin), client_id="toets-b").status_code == 403
    with unit_of_work(eduv.platform.sessions) as s:
        _toets_address(s, eduv)
        key = f"las:{eduv.school.oin}:adviezen"
        dead = outbox.enqueue(s, kind="las.adviezen", ordering_key=key, method="POST", url=f"{TOETS_URL}/v1.1/registreren-schooladviezen")
        dead.status, dead.settled_at, dead.last_error = "dead", utcnow() - timedelta(hours=1), "HTTP 403"
        later = outbox.enqueue(s, kind="las.adviezen", ordering_key=key, method="POST", url=f"{TOETS_URL}/v1.1/registreren-schooladviezen")
        later.status, later.settled_at = "delivered", utcnow()
        school = register.get_school(s, eduv.school.brin)
        c = consent_svc.request(s, school=school, api="results-api", source=s.get(register.System, eduv.ids["system-b"]),
                                receiver=s.get(register.System, eduv.ids["system-receiver"]), actor="test")  # fmt: skip
        consent_svc.activate(s, c, actor="test")
        consent_svc.confirm(s, c, actor="test")
    assert eduv.post(sample_bundle(eduv.school.brin, assessment_id="b-1"), client_id="toets-b").status_code == 201
    login(eduv)
    page = eduv.client.get("/insight/landschap")
    assert re.search(r'<strong id="open-errors">(\d+)</strong>', page.text).group(1) == "0"
    assert 'data-health="fout"' not in page.text


def test_refusals_of_unknown_schools_leave_nothing_behind(eduv):
    bundle = sample_bundle("99ZZ")
    assert eduv.post(bundle, client_id="toets-b").status_code in (403, 422)
    with eduv.platform.sessions() as s:
        assert s.scalars(select(ConsentRefusal)).all() == []


def test_a_school_without_any_flow_gets_an_empty_landscape(eduv):
    with unit_of_work(eduv.platform.sessions) as s:
        lonely = register.add_school(s, name="Eenzame School", brin="55QQ")
        create_account(s, username="beheer-lonely", password=STAFF_PASSWORD, role="school-administrator", school_id=lonely.id)
    login(eduv, "beheer-lonely")
    page = eduv.client.get("/insight/landschap")
    assert page.status_code == 200 and "nog geen gegevensstromen" in page.text and "<svg" in page.text
    assert eduv.client.get("/insight/mandaten").status_code == 200


# -- the keurmerk, public ----------------------------------------------------------------------------------


def _qualify(session, supplier_oin: str, version: str = "1.1.0") -> None:
    """A supplier through the admission steps with a conformance summary in the suite's shape
    (every scenario of the version passed)."""
    from eduketen.conformance.runner import select as scenarios_of
    from eduketen.keurmerk import service as keurmerk

    admission = keurmerk.apply(session, supplier_oin=supplier_oin, service=SERVICE, role="toetsaanbieder", on=date(2026, 9, 1))
    for stage, day in (("intake", 2), ("intentieverklaring", 3), ("basiskwalificatie", 4)):
        keurmerk.complete(session, admission.id, stage=stage, on=date(2026, 9, day))
    summary = {"suite": keurmerk.SUITE, "service": SERVICE, "role": "toetsaanbieder", "version": version, "url": "https://x", "started": "2026-09-05",
               "scenarios": [{"name": sc.name, "status": "passed"} for sc in scenarios_of("toetsaanbieder", version)]}  # fmt: skip
    evidence = keurmerk.add_evidence(session, admission.id, summary=summary)
    keurmerk.qualify(session, admission.id, version=version, evidence_id=evidence.id, on=date(2026, 9, 6))


def test_the_public_keurmerk_page(eduv):
    empty = eduv.client.get("/insight/keurmerk")
    assert empty.status_code == 200 and "Nog geen gekwalificeerde leveranciers" in empty.text
    with unit_of_work(eduv.platform.sessions) as s:
        _qualify(s, eduv.region.toetsaanbieder.oin)
    page = eduv.client.get("/insight/keurmerk")
    assert page.status_code == 200
    table = re.search(r'<table class="participants" data-version="1.1.0">(.*?)</table>', page.text, re.DOTALL).group(1)
    assert eduv.region.toetsaanbieder.name in table and eduv.region.toetsaanbieder.oin in table and "2026-09-06" in table
    other = re.search(r'<table class="participants" data-version="1.0.1">(.*?)</table>', page.text, re.DOTALL).group(1)
    assert eduv.region.toetsaanbieder.name not in other
    assert "https://x" not in page.text  # no evidence on the public page
    assert eduv.client.get("/insight/keurmerk", params={"dienst": SERVICE}).status_code == 200
    missing = eduv.client.get("/insight/keurmerk", params={"dienst": "<b>geen</b>"})
    assert missing.status_code == 404 and "<b>geen</b>" not in missing.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_pages_keep_the_strict_csp_and_no_inline_script(world):
    eduv = world
    login(eduv)
    for path in ("/insight/mandaatcheck", "/insight/mandaten", "/insight/landschap", "/insight/keurmerk"):
        page = eduv.client.get(path)
        assert page.status_code == 200
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), path
        assert not re.search(r"\son[a-z]+=", page.text), path
        assert not re.search(r"\sstyle=", page.text), path  # style attributes would be blocked by the CSP


def test_register_lookups(eduv):
    with eduv.platform.sessions() as s:
        school = register_repo.school_by_brin(s, eduv.school.brin)
        assert register.lookup_schools(s, eduv.school.brin.lower()) == [school]
        assert register.lookup_schools(s, "   ") == []
        assert register.lookup_suppliers(s, "%") == []
        assert [x.oin for x in register.lookup_suppliers(s, "Toets B")] == [B_OIN]


def test_doorstroomtoets_activity_counts_only_what_this_installation_took_part_in(eduv):
    from eduketen.core.models import InboxMessage
    from eduketen.doorstroomtoets import service as dt_service

    school, toets = eduv.school, eduv.region.toetsaanbieder
    now = utcnow()
    with unit_of_work(eduv.platform.sessions) as s:
        for n, (operation, status, at) in enumerate((("registreren", "done", now - timedelta(days=2)),
                                                     ("registreren-schooladviezen", "failed", now - timedelta(days=3)),
                                                     ("registreren-schooladviezen", "failed", now - timedelta(hours=1)))):  # fmt: skip
            s.add(InboxMessage(id=f"00000000-0000-4000-8000-{n:012d}", service=SERVICE, version="1.1.0", operation=f"{SERVICE}.{operation}",
                               school_oin=school.oin, routing=school.routing, sender_oin=school.las.oin, schooljaar="2025-2026",
                               idempotency_key=f"k{n}", item_count=1, status=status, attempts=1, received_at=at, available_at=at,
                               last_error="PermanentError: no window" if status == "failed" else None))  # fmt: skip
    with eduv.platform.sessions() as s:
        db_school = register_repo.school_by_brin(s, school.brin)
        kw = {"school_id": db_school.id, "school_oin": school.oin, "las_oin": school.las.oin, "toets_oin": toets.oin, "toets_base_url": None}
        as_toets = dt_service.exchange_activity(s, own_oin=toets.oin, **kw)
        bystander = dt_service.exchange_activity(s, own_oin=B_OIN, **kw)
        other_sender = dt_service.exchange_activity(s, **{**kw, "las_oin": B_OIN}, own_oin=toets.oin)
    up = as_toets["las->toets"]
    assert up.exchanges == 1 and abs((up.last_ok - (now - timedelta(days=2))).total_seconds()) < 1
    # the failure before the last processed list is settled; the one after it is open
    assert [(e.kind, e.reason) for e in up.errors] == [("failed", f"{SERVICE}.registreren-schooladviezen: PermanentError: no window")]
    assert as_toets["toets->las"].last_ok is None and as_toets["toets->las"].errors == []
    assert bystander == {"las->toets": None, "toets->las": None}  # not a party: nothing to see
    assert other_sender["las->toets"].exchanges == 0
