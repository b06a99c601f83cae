"""Shared pieces of the browser tests: an app served over HTTPS in a thread, and a page of Debian's
chromium driven by Playwright that records console errors, page errors and failed responses.

    def test_something(browser, tmp_path):
        with https_server(app, tmp_path) as server:
            page = browser.page()
            page.goto(f"{server.url}/insight/")
            ...
            browser.shot(page, "something-1")        # test-artifacts/screenshots/something-1.png
        browser.assert_clean(allowed_failures=[...])
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


class ThreadedServer:
    """uvicorn with TLS in a background thread of the test process (the app object is shared)."""

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


@contextmanager
def https_server(app, tmp_path: Path):
    """Serve ``app`` over HTTPS on a free loopback port with a throw-away certificate."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    with ThreadedServer(app, str(cert_file), str(key_file)) as server:
        yield server


class Browser:
    """One chromium for a test; every page it opens reports its problems here."""

    def __init__(self, playwright) -> None:
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        self.problems: list[str] = []  # console errors and uncaught page errors
        self.failed: list[str] = []  # "status url" of every response >= 400 (favicon aside)

    def page(self, *, width: int = 1400, height: int = 1000):
        context = self.browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)  # fmt: skip
        return page

    def shot(self, page, name: str, *, full_page: bool = True) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 1000, f"screenshot {name} is empty"
        return path

    def assert_clean(self, *, allowed_failures: list[str] = ()) -> None:
        """No CSP refusal, no script error, and no failed response except the ones the test expects."""
        blocked = [m for m in self.problems if "Content Security Policy" in m or "Refused" in m or "EvalError" in m]
        assert not blocked, blocked
        assert not [m for m in self.problems if not m.startswith("Failed to load resource")], self.problems
        assert sorted(self.failed) == sorted(allowed_failures), self.failed


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing; `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = Browser(p)
        try:
            yield b
        finally:
            b.browser.close()
