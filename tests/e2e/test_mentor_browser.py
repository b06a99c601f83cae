"""A mentor in a real browser (Debian's chromium driven by Playwright) over HTTPS: logs in, opens
the group, sees the planted outlier flagged with its explanation and the charts drawn by the
vendored Vega-Lite under the strict CSP, opens the pupil; another mentor's group is refused (403).
Screenshots go to test-artifacts/screenshots/mentor-*.png (gitignored)."""

from __future__ import annotations

import pytest

from ..eduv import STAFF_PASSWORD, client_keys, jwks_server  # noqa: F401
from ..leervoortgang.conftest import install_progress_parties, setup_mentors
from .browser import https_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served_progress(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    from eduketen.migrations import upgrade

    from ..eduv import build_eduv

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    method_id, _dashboard = install_progress_parties(platform, region, client_keys)
    mentored = setup_mentors(platform, region, method_id)
    with https_server(env.client.app, tmp_path) as server:
        yield mentored, server
    platform.close()


def test_mentor_sees_the_planted_outlier_and_not_another_group(served_progress, browser):
    mentored, server = served_progress
    planted = mentored.planted[0]
    grinder = next(eck for eck, pattern in planted.pupils.items() if pattern == "grinder")
    quitter = next(eck for eck, pattern in planted.pupils.items() if pattern == "quitter")
    page = browser.page()
    page.goto(f"{server.url}/insight/")
    page.fill("#username", "mentor-school0")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#login")
    page.wait_for_url("**/insight/groups")
    browser.shot(page, "mentor-1-groups", full_page=False)
    page.locator("#groups a").first.click()
    page.wait_for_url(f"**/insight/groups/{mentored.group_ids[0]}")
    page.wait_for_selector('#group-chart[data-rendered="true"]', timeout=20_000)
    assert page.locator("#group-chart canvas").count() == 1
    row = page.locator(f'#group-table tr[data-pupil="{mentored.pupil_ids[grinder]}"]')
    assert "flagged" in row.get_attribute("class")
    text = row.inner_text()
    assert planted.names[grinder] in text
    assert "Oefent veel, scoort laag" in text and "Oefent veel meer dan de groep" in text and "scoort bij de laagsten" in text
    assert "Breekt vaak af" in page.locator(f'#group-table tr[data-pupil="{mentored.pupil_ids[quitter]}"]').inner_text()
    browser.shot(page, "mentor-2-group")

    row.locator("a").click()
    page.wait_for_url(f"**/insight/pupils/{mentored.pupil_ids[grinder]}")
    assert page.locator("#pupil-name").inner_text() == planted.names[grinder]
    page.wait_for_selector('#timeline-chart[data-rendered="true"]', timeout=20_000)
    page.wait_for_selector('#pupil-group-chart[data-rendered="true"]', timeout=20_000)
    assert page.locator("#subject-table tbody tr").count() == 3
    assert page.locator("#timeline tbody tr").count() > 40
    browser.shot(page, "mentor-3-pupil")

    response = page.goto(f"{server.url}/insight/groups/{mentored.group_ids[1]}")
    assert response.status == 403
    assert "niet aan u toegewezen" in page.content()
    browser.shot(page, "mentor-4-other-group-403", full_page=False)
    browser.assert_clean(allowed_failures=[f"403 {server.url}/insight/groups/{mentored.group_ids[1]}"])
