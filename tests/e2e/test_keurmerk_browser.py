"""Change and release in a real browser (Debian's chromium driven by Playwright) over HTTPS: anyone
reads the release calendar and the chain-test board without logging in; the chain coordinator
(platform administrator) moves a change request through the desk's workflow with htmx, and a
wrong step is refused with its reason on the page. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.platform import today_nl
from eduketen.insight.security import create_account
from eduketen.keurmerk import repository as keurmerk_repo
from eduketen.simulate import releases

from ..eduv import STAFF_PASSWORD, build_eduv, client_keys, jwks_server  # noqa: F401
from .browser import https_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    from eduketen.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    with unit_of_work(platform.sessions) as session:
        outcome = releases.seed(session, region, today=today_nl())
        create_account(session, username="ketencoordinator", password=STAFF_PASSWORD, role="platform-admin", display_name="Ketencoördinator")
    with https_server(env.client.app, tmp_path) as server:
        yield env, server, outcome
    platform.close()


def test_calendar_board_and_desk_in_the_browser(served, browser):
    env, server, outcome = served
    assert outcome["reminders"] > 0
    page = browser.page(width=1400, height=900)

    # the calendar, without login
    page.goto(f"{server.url}/insight/kalender")
    assert page.locator("#versie-1\\.0\\.1").get_attribute("data-status") == "previous"
    assert page.locator("#versie-1\\.1\\.0").get_attribute("data-status") == "in-force"
    draft = page.locator("#versie-2026-2027")
    assert draft.get_attribute("data-status") == "draft" and "gepland" in draft.inner_text()
    assert "Geslacht wordt niet meer uitgewisseld" in page.inner_text("main")
    assert "Adviezen van onbekende leerlingen" in page.inner_text("main")  # the change planned in the draft release
    browser.shot(page, "keurmerk-1-kalender")

    # the board: who tested with whom
    page.click("text=Ketentest terugweg 2025-2026")
    page.wait_for_url("**/insight/ketentest?periode=*")
    cells = page.locator("table.matrix td.cell")
    states = {cells.nth(i).get_attribute("data-status") for i in range(cells.count())}
    assert {"passed", "testing", "failed", "planned"} <= states
    browser.shot(page, "keurmerk-2-ketentest")

    # the desk: log in as the chain coordinator
    page.goto(f"{server.url}/insight/login")
    page.fill("#username", "ketencoordinator")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#login")
    page.wait_for_url("**/insight/meldpunt")  # the platform administrator starts at the desk
    page.goto(f"{server.url}/insight/meldpunt?status=nieuw")
    with env.platform.sessions() as s:
        complaint = next(t for t in keurmerk_repo.tickets(s) if t.kind == "klacht")
        rfc = next(t for t in keurmerk_repo.tickets(s) if t.status == "ingepland")
    assert page.locator("#tickets tbody tr").count() == 1
    browser.shot(page, "keurmerk-3-meldpunt")
    page.click(f"#ticket-link-{complaint.id}")
    page.wait_for_selector('#ticket[data-status="nieuw"]')
    # refusing without a reason: refused on the page, nothing changed
    page.click("#to-afgewezen")
    page.wait_for_selector("#ticket-error")
    assert "reason" in page.inner_text("#ticket-error") or "why" in page.inner_text("#ticket-error")
    assert page.locator("#ticket").get_attribute("data-status") == "nieuw"
    page.fill("#note", "Opgepakt; we spreken de partner aan op de planning")
    page.click("#to-in-behandeling")
    page.wait_for_selector('#ticket[data-status="in-behandeling"]')
    page.fill("#note", "Besproken in het overleg; planning wordt voortaan bewaakt met herinneringen")
    page.click("#to-opgelost")
    page.wait_for_selector('#ticket[data-status="opgelost"]')
    page.click("#to-gesloten")
    page.wait_for_selector('#ticket[data-status="gesloten"]')
    history = page.inner_text("#ticket-history")
    assert history.count("staff:ketencoordinator") == 3 and "Besproken in het overleg" in history
    assert page.url.endswith(f"/insight/meldpunt/{complaint.id}")  # in place, by htmx
    browser.shot(page, "keurmerk-4-melding-gesloten")

    # the change request planned in 2026-2027 is resolved when the release is there
    page.goto(f"{server.url}/insight/meldpunt/{rfc.id}")
    page.click("#to-opgelost")
    page.wait_for_selector('#ticket[data-status="opgelost"]')
    browser.shot(page, "keurmerk-5-wijzigingsverzoek")
    browser.assert_clean()
