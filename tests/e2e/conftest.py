"""Real server processes: `eduketen serve` started as a subprocess, killed and restarted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.simulate.processes import EDUKETEN, ServerProcess, free_port  # noqa: F401  (used by the e2e tests)
from eduketen.simulate.region import install_region, open_windows

from .browser import browser  # noqa: F401  (the shared chromium fixture)

ROOT = Path(__file__).resolve().parents[2]


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
