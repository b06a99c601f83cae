"""A mentor in a real browser (Debian's chromium driven by Playwright) over HTTPS: logs in, opens
the group, sees the planted outlier flagged with its explanation and the charts drawn by the
vendored Vega-Lite under the strict CSP, opens the pupil; another mentor's group is refused (403).
Screenshots go to test-artifacts/screenshots/mentor-*.png (gitignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..eduv import STAFF_PASSWORD, client_keys, jwks_server  # noqa: F401
from ..leervoortgang.conftest import install_progress_parties, setup_mentors
from .test_consent_browser import ARGS, CHROMIUM, SHOTS, ThreadedServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served_progress(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    import trustme

    from eduketen.migrations import upgrade

    from ..eduv import build_eduv

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    method_id, _dashboard = install_progress_parties(platform, region, client_keys)
    mentored = setup_mentors(platform, region, method_id)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    with ThreadedServer(env.client.app, str(cert_file), str(key_file)) as server:
        yield mentored, server
    platform.close()


def test_mentor_sees_the_planted_outlier_and_not_another_group(served_progress):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing; `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    mentored, server = served_progress
    SHOTS.mkdir(parents=True, exist_ok=True)
    planted = mentored.planted[0]
    grinder = next(eck for eck, pattern in planted.pupils.items() if pattern == "grinder")
    quitter = next(eck for eck, pattern in planted.pupils.items() if pattern == "quitter")
    problems: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.goto(f"{server.url}/insight/")
        page.fill("#username", "mentor-school0")
        page.fill("#password", STAFF_PASSWORD)
        page.click("#login")
        page.wait_for_url("**/insight/groups")
        page.screenshot(path=str(SHOTS / "mentor-1-groups.png"))
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
        page.screenshot(path=str(SHOTS / "mentor-2-group.png"), full_page=True)

        row.locator("a").click()
        page.wait_for_url(f"**/insight/pupils/{mentored.pupil_ids[grinder]}")
        assert page.locator("#pupil-name").inner_text() == planted.names[grinder]
        page.wait_for_selector('#timeline-chart[data-rendered="true"]', timeout=20_000)
        page.wait_for_selector('#pupil-group-chart[data-rendered="true"]', timeout=20_000)
        assert page.locator("#subject-table tbody tr").count() == 3
        assert page.locator("#timeline tbody tr").count() > 40
        page.screenshot(path=str(SHOTS / "mentor-3-pupil.png"), full_page=True)

        response = page.goto(f"{server.url}/insight/groups/{mentored.group_ids[1]}")
        assert response.status == 403
        assert "niet aan u toegewezen" in page.content()
        page.screenshot(path=str(SHOTS / "mentor-4-other-group-403.png"))
        browser.close()
    assert not [m for m in problems if "Content Security Policy" in m or "Refused" in m or "EvalError" in m], problems
    assert not [m for m in problems if not m.startswith("Failed to load resource")], problems
    assert failed == [f"403 {server.url}/insight/groups/{mentored.group_ids[1]}"], failed
    assert all((SHOTS / f"mentor-{n}.png").stat().st_size > 1000 for n in ("1-groups", "2-group", "3-pupil", "4-other-group-403"))
