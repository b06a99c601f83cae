"""Fixtures of the change-and-release tests: the Edu-V platform of tests/eduv.py (a region, OAuth,
staff accounts) plus OAuth clients with the keurmerk scope and a platform administrator."""

from __future__ import annotations

import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.oauth import service as oauth
from eduketen.insight.security import create_account

from ..eduv import B_OIN, STAFF_PASSWORD, build_eduv, client_keys, jwks_server  # noqa: F401

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def desk(database_url, region, client_keys, jwks_server):  # noqa: F811
    env, platform, client = build_eduv(database_url, region, client_keys, jwks_server)
    with unit_of_work(platform.sessions) as session:
        public_a = {"keys": [client_keys["a"].as_dict(private=False)]}
        oauth.register_client(session, client_id="toets-a-keurmerk", supplier_oin=region.toetsaanbieder.oin, name="Toets A (keurmerk)",
                              scopes=["eduketen.keurmerk"], jwks=public_a)  # fmt: skip
        public_b = {"keys": [client_keys["b"].as_dict(private=False)]}
        oauth.register_client(session, client_id="toets-b-keurmerk", supplier_oin=B_OIN, name="Toets B (keurmerk)",
                              scopes=["eduketen.keurmerk"], jwks=public_b)  # fmt: skip
        create_account(session, username="platform", password=STAFF_PASSWORD, role="platform-admin", display_name="Ketencoördinator")
    with client:
        yield env
    platform.close()
