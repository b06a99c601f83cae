"""A school administrator in a real browser (Debian's chromium driven by Playwright) over HTTPS:
logs in, sees the school's consents, switches the results flow off, and the next exchange of the
test supplier is refused. Screenshots of each step go to test-artifacts/screenshots/ (gitignored)."""

from __future__ import annotations

import shutil

import pytest

from ..eduv import STAFF_PASSWORD, build_eduv, client_keys, jwks_server, sample_bundle  # noqa: F401
from .browser import SHOTS, https_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    from eduketen.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    env.consent(0, "a")
    with https_server(env.client.app, tmp_path) as server:
        yield env, server
    platform.close()


def test_school_administrator_switches_results_off_in_the_browser(served, browser):
    env, server = served
    token = env.token()
    assert env.post(sample_bundle(env.school.brin), token=token).status_code == 201
    page = browser.page(width=1280, height=720)
    page.goto(f"{server.url}/insight/")
    page.fill("#username", "beheer-school0")
    page.fill("#password", STAFF_PASSWORD)
    browser.shot(page, "1-login", full_page=False)
    page.click("#login")
    page.wait_for_url("**/insight/consent")
    row = page.locator("#consents tbody tr").first
    assert row.get_attribute("data-state") == "active"
    assert "toetsresultaten" in row.inner_text() and "Aan" in row.inner_text()
    browser.shot(page, "2-consent-on")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session_cookie = cookies["__Host-eduketen-staff"]
    assert session_cookie["secure"] and session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"

    row.locator("button", has_text="Uitzetten").click()
    page.wait_for_selector('#consents tbody tr[data-state="revoked"]')
    assert "Uit" in page.locator("#consents tbody tr").first.inner_text()
    # the swap happened in place (htmx), not by a page load
    assert page.url.endswith("/insight/consent")
    browser.shot(page, "3-consent-off")
    refused = env.post(sample_bundle(env.school.brin, value=99), token=token)
    assert refused.status_code == 403 and "switched off" in refused.json()["detail"]
    browser.assert_clean()
    shutil.copy(SHOTS / "3-consent-off.png", SHOTS / "latest.png")
