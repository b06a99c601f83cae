"""Real server processes: `eduketen serve` started as a subprocess, killed and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.simulate.region import install_region, open_windows

from .browser import browser  # noqa: F401  (the shared chromium fixture)

ROOT = Path(__file__).resolve().parents[2]
EDUKETEN = str(Path(sys.executable).parent / "eduketen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, env: dict[str, str], args: list[str], log: Path) -> None:
        self.env, self.args, self.log = env, args, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, *, ready_url: str | None = None, verify=None, cert=None) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [EDUKETEN, "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        url = ready_url or f"http://127.0.0.1:{self.port}/health"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(url, verify=verify if verify is not None else True, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server_env(database_url, region, tmp_path):
    """A migrated database with the test region installed, and the environment for `serve`."""
    from tests.conftest import make_settings

    settings = make_settings(database_url, region)
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        open_windows(session)
    platform.engine.dispose()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
        "EDUKETEN_DATABASE_URL": database_url,
        "EDUKETEN_OWN_OIN": region.toetsaanbieder.oin,
        "EDUKETEN_ADMIN_TOKEN": "test-admin-token",
        "EDUKETEN_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "EDUKETEN_LOG_LEVEL": "WARNING",
        "EDUKETEN_REGISTER_CACHE_SECONDS": "1",
        "EDUKETEN_WORKER_LEASE_SECONDS": "3",
    }
    return env
