"""The register's pages in a real browser (Debian's chromium driven by Playwright) over HTTPS: an
anonymous visitor asks the mandate check (yes and no), a school administrator logs in and sees the
school's mandates and who administers them, the landscape diagram is drawn with a flow in error
and the table says the same, another school's page is refused, and the public keurmerk page.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from eduketen.core import outbox
from eduketen.core.db import unit_of_work, utcnow
from eduketen.register import service as register

from ..eduv import B_OIN, STAFF_PASSWORD, build_eduv, client_keys, jwks_server, sample_bundle  # noqa: F401
from .browser import https_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TOETS_URL = "https://toets.example/doorstroomtoets"


@pytest.fixture
def served(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    from eduketen.migrations import upgrade

    from ..insight.test_register_pages import _qualify

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    env.consent(0, "a")
    with unit_of_work(platform.sessions) as s:
        school = register.get_school(s, region.schools[0].brin)
        school.board = "Stichting Primair Onderwijs IJsselland"
        register.add_board_administrator(s, board=school.board, name="Marieke de Wit", role="OSR-beheerder",
                                         email="m.dewit@spo-ijsselland.example", phone="038-1234567")  # fmt: skip
        b = register.get_supplier(s, B_OIN)
        sv = register.get_service_version(s, "doorstroomtoets", "1.1.0")
        register.grant_mandate(s, school=school, system=register.get_system(s, b, "Toetsplatform"), service_version=sv,
                               start=date.today() - timedelta(days=400), end=date.today() - timedelta(days=40))  # fmt: skip
        toets = register.get_supplier(s, region.toetsaanbieder.oin)
        register.get_system(s, toets, region.toetsaanbieder.system).base_url = TOETS_URL
        dead = outbox.enqueue(s, kind="las.deelnemers", ordering_key=f"las:{school.oin}:deelnemers", method="POST", url=f"{TOETS_URL}/v1.1/registreren")
        dead.status, dead.settled_at, dead.last_status, dead.last_error = "dead", utcnow(), 422, "HTTP 422: deelnemersgroep onbekend"
        _qualify(s, region.toetsaanbieder.oin)
    with https_server(env.client.app, tmp_path) as server:
        yield env, server
    platform.close()


def test_mandate_check_mandates_landscape_and_keurmerk_in_the_browser(served, browser):
    env, server = served
    school = env.school
    assert env.post(sample_bundle(school.brin)).status_code == 201  # the results flow: one exchange
    assert env.post(sample_bundle(school.brin), client_id="toets-b").status_code == 403  # no consent: refused, counted

    # anonymous: the mandate check, yes and no
    page = browser.page(width=1280, height=900)
    page.goto(f"{server.url}/insight/mandaatcheck")
    page.fill("#school", school.brin)
    page.fill("#leverancier", school.las.name)
    page.select_option("#dienst", "doorstroomtoets")
    page.click("#check")
    page.wait_for_selector("#answer")
    assert page.get_attribute("#answer", "data-answer") == "ja"
    assert "Ja." in page.inner_text("#answer") and school.name in page.inner_text("#answer")
    assert page.locator("#own-mandates").count() == 0
    browser.shot(page, "mandaatcheck-ja")
    page.fill("#leverancier", B_OIN)  # Toets B: its mandate expired 40 days ago
    page.click("#check")
    page.wait_for_selector('#answer[data-answer="nee"]')
    assert "Nee." in page.inner_text("#answer")
    browser.shot(page, "mandaatcheck-nee")

    # the public keurmerk page
    page.goto(f"{server.url}/insight/keurmerk")
    qualified = page.locator('table[data-version="1.1.0"] tbody tr').first
    assert env.region.toetsaanbieder.name in qualified.inner_text()
    browser.shot(page, "keurmerk-deelnemers")

    # the school administrator: mandates with status, and the board's administrators
    page.goto(f"{server.url}/insight/login")
    page.fill("#username", "beheer-school0")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#login")
    page.wait_for_url("**/insight/consent")
    page.click("nav.pages >> text=Mandaten")
    page.wait_for_url("**/insight/mandaten")
    statuses = page.locator("#mandates tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses.count("actief") == 6 and statuses.count("verlopen") == 1
    assert "Marieke de Wit" in page.inner_text("#administrators") and "OSR-beheerder" in page.inner_text("#administrators")
    browser.shot(page, "mandaten")

    # the landscape: drawn, and the table says the same, with the flows in error
    page.click("nav.pages >> text=Applicatielandschap")
    page.wait_for_url("**/insight/landschap")
    svg = page.locator("svg#landscape")
    box = svg.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150
    drawn = page.locator("svg#landscape g.flow")
    rows = page.locator("#flows tbody tr")
    assert drawn.count() == rows.count() >= 5
    for i in range(drawn.count()):
        g = drawn.nth(i)
        number = g.get_attribute("data-flow")
        row = page.locator(f"#flow-{number}")
        assert row.get_attribute("data-errors") == g.get_attribute("data-errors")
        assert row.get_attribute("data-state") == g.get_attribute("data-state")
        path_box = g.locator("path.flow-line").bounding_box()
        assert path_box and (path_box["width"] > 5 or path_box["height"] > 5)  # an arrow, drawn
    in_error = page.locator('#flows tbody tr[data-health="fout"]')
    assert in_error.count() == 2
    texts = " ".join(in_error.nth(i).inner_text() for i in range(in_error.count()))
    assert "deelnemersgroep onbekend" in texts and "geweigerd" in texts
    red = page.locator("svg#landscape g.flow-fout path.flow-line").first
    assert red.evaluate("p => getComputedStyle(p).stroke") == "rgb(192, 57, 43)"  # the stylesheet applies under the CSP
    ok_row = page.locator('#flows tbody tr[data-health="ok"]').first
    assert "1 keer gelukt" in ok_row.inner_text()
    browser.shot(page, "landschap")

    # another school's landscape: refused
    response = page.goto(f"{server.url}/insight/landschap?school={env.region.schools[1].brin}")
    assert response.status == 403 and env.region.schools[1].name not in page.content()
    browser.shot(page, "landschap-andere-school-403")
    browser.assert_clean(allowed_failures=[f"403 {server.url}/insight/landschap?school={env.region.schools[1].brin}"])
