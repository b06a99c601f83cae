"""A school administrator in a real browser (Debian's chromium driven by Playwright) over HTTPS:
logs in, sees the school's consents, switches the results flow off, and the next exchange of the
test supplier is refused. Screenshots of each step go to test-artifacts/screenshots/ (gitignored)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import trustme
import uvicorn

from ..eduv import STAFF_PASSWORD, build_eduv, client_keys, jwks_server, sample_bundle  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class ThreadedServer:
    def __init__(self, app, cert_file: str, key_file: str) -> None:
        self.config = uvicorn.Config(app, host="127.0.0.1", port=0, ssl_certfile=cert_file, ssl_keyfile=key_file, log_level="warning",
                                     lifespan="on")  # fmt: skip
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(tmp_path, region, client_keys, jwks_server):  # noqa: F811
    from eduketen.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    env, platform, _client = build_eduv(url, region, client_keys, jwks_server, embedded_worker=False)
    env.consent(0, "a")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    with ThreadedServer(env.client.app, str(cert_file), str(key_file)) as server:
        yield env, server
    platform.close()


def test_school_administrator_switches_results_off_in_the_browser(served):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing; `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    env, server = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    token = env.token()
    assert env.post(sample_bundle(env.school.brin), token=token).status_code == 201
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{server.url}/insight/")
        page.fill("#username", "beheer-school0")
        page.fill("#password", STAFF_PASSWORD)
        page.screenshot(path=str(SHOTS / "1-login.png"))
        page.click("#login")
        page.wait_for_url("**/insight/consent")
        row = page.locator("#consents tbody tr").first
        assert row.get_attribute("data-state") == "active"
        assert "toetsresultaten" in row.inner_text() and "Aan" in row.inner_text()
        page.screenshot(path=str(SHOTS / "2-consent-on.png"), full_page=True)
        cookies = {c["name"]: c for c in context.cookies()}
        session_cookie = cookies["__Host-eduketen-staff"]
        assert session_cookie["secure"] and session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"

        row.locator("button", has_text="Uitzetten").click()
        page.wait_for_selector('#consents tbody tr[data-state="revoked"]')
        assert "Uit" in page.locator("#consents tbody tr").first.inner_text()
        # the swap happened in place (htmx), not by a page load
        assert page.url.endswith("/insight/consent")
        page.screenshot(path=str(SHOTS / "3-consent-off.png"), full_page=True)
        browser.close()
    refused = env.post(sample_bundle(env.school.brin, value=99), token=token)
    assert refused.status_code == 403 and "switched off" in refused.json()["detail"]
    assert not [m for m in problems if "Content Security Policy" in m or "Refused" in m], problems
    assert all((SHOTS / name).stat().st_size > 1000 for name in ("1-login.png", "2-consent-on.png", "3-consent-off.png"))
    shutil.copy(SHOTS / "3-consent-off.png", SHOTS / "latest.png")
