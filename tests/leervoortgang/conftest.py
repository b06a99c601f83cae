"""A platform that plays the learning-materials dashboard: a content supplier with an OAuth client
(scope eduv.progress), the school's consent for progress-api, and helpers to send progress."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from eduketen.core.db import unit_of_work
from eduketen.core.oauth import service as oauth
from eduketen.register import consent as consent_svc
from eduketen.register import service as register
from eduketen.register import repository as register_repo
from eduketen.simulate.region import supplier_oin

from ..eduv import ADMIN_OIN, build_eduv, client_keys, jwks_server  # noqa: F401

METHOD_OIN = supplier_oin(5000)


@dataclass
class ProgressEnv:
    eduv: object
    method_system_id: int
    dashboard_system_id: int

    @property
    def client(self):
        return self.eduv.client

    @property
    def platform(self):
        return self.eduv.platform

    def token(self, client_id: str = "methode-a") -> str:
        return self.eduv.token(client_id, key=self.eduv.keys["a"], alg="RS256")

    def put(self, record_id: str, body, *, token: str | None = None, raw: bytes | None = None, headers: dict | None = None):
        all_headers = {"Authorization": f"Bearer {token if token is not None else self.token()}", **(headers or {})}
        if raw is not None:
            all_headers.setdefault("Content-Type", "application/json")
            return self.client.put(f"/leervoortgang/v1/progress/{record_id}", content=raw, headers=all_headers)
        return self.client.put(f"/leervoortgang/v1/progress/{record_id}", json=body, headers=all_headers)

    def bulk(self, records: list[dict], *, token: str | None = None, raw: bytes | None = None, headers: dict | None = None):
        all_headers = {"Authorization": f"Bearer {token if token is not None else self.token()}", **(headers or {})}
        if raw is not None:
            all_headers.setdefault("Content-Type", "application/json")
            return self.client.post("/leervoortgang/v1/progress", content=raw, headers=all_headers)
        return self.client.post("/leervoortgang/v1/progress", json={"records": records}, headers=all_headers)

    def consent(self, school_index: int, *, state: str = "active") -> None:
        with unit_of_work(self.platform.sessions) as session:
            school = register.get_school(session, self.eduv.region.schools[school_index].brin)
            src = session.get(register.System, self.method_system_id)
            rcv = session.get(register.System, self.dashboard_system_id)
            consent = consent_svc.request(session, school=school, api="progress-api", source=src, receiver=rcv, actor="test")
            if state in ("active", "revoked"):
                consent_svc.activate(session, consent, actor="test")
                consent_svc.confirm(session, consent, actor="test")
            if state == "revoked":
                consent_svc.revoke(session, consent, actor="test")


def install_progress_parties(platform, region, client_keys) -> tuple[int, int]:  # noqa: F811
    """The dashboard system of this installation, a method supplier with its OAuth client."""
    with unit_of_work(platform.sessions) as session:
        admin = register_repo.supplier_by_oin(session, ADMIN_OIN)
        dashboard = register.add_system(session, supplier=admin, name="Leermiddelendashboard", kind="dashboard")
        method = register.add_supplier(session, name="Lesmethode BV", oin=METHOD_OIN)
        system = register.add_system(session, supplier=method, name="Oefenplatform", kind="leermiddel")
        public = {"keys": [client_keys["a"].as_dict(private=False)]}
        oauth.register_client(session, client_id="methode-a", supplier_oin=METHOD_OIN, name="Lesmethode", scopes=["eduv.progress"],
                              jwks=public, system_id=system.id)  # fmt: skip
        oauth.register_client(session, client_id="methode-a-results", supplier_oin=METHOD_OIN, name="Lesmethode (results only)",
                              scopes=["eduv.result"], jwks=public, system_id=system.id)  # fmt: skip
        return system.id, dashboard.id


@pytest.fixture
def progress(database_url, region, client_keys, jwks_server):  # noqa: F811
    env, platform, client = build_eduv(database_url, region, client_keys, jwks_server)
    method_id, dashboard_id = install_progress_parties(platform, region, client_keys)
    with client:
        p = ProgressEnv(env, method_id, dashboard_id)
        p.consent(0)
        yield p
    platform.close()


ECK = "https://ketenid.nl/201703/" + "b" * 128


def record(brin: str, *, rid: str | None = None, eck: str = ECK, status: str = "completed", at: str = "2026-11-02T10:00:00Z",
           pct: float | None = None, raw: float = 8, max_: float = 10, follow_up: bool = False, unit: str = "h1-les1",
           subject: str = "rekenen", duration: int = 600) -> dict:  # fmt: skip
    score = {"percentage": pct} if pct is not None else {"raw": raw, "max": max_}
    return {
        "id": rid or str(uuid.uuid4()),
        "student": {"eckId": eck},
        "school": {"idType": "BRIN", "id": brin},
        "courseId": "pluspunt-groep8",
        "assignableUnitId": unit,
        "subject": subject,
        "status": status,
        "statusChangedAt": at,
        "startedAt": "2026-11-02T09:40:00Z",
        "completedAt": at if status == "completed" else None,
        "score": score,
        "judgement": {"text": "goed", "ordinal": 3, "ordinalMax": 4},
        "accessDurationSeconds": duration,
        "pleaseFollowUp": follow_up,
        "detailUrl": "https://methode.example/voortgang/123",
        "learningGoals": ["SLO.REK.8.1", "SLO.REK.8.2"],
    }


@dataclass
class Mentored:
    group_ids: list[int]  # the first is mentor-school0's, the second mentor2-school0's
    planted: list  # PlantedGroup per group
    pupil_ids: dict[str, int]  # ECK iD -> pupil id


def setup_mentors(platform, region, method_system_id: int, *, until=None, n_groups: int = 2, seed: int = 5) -> Mentored:
    """Two groups with planted pupils at school 0; mentor-school0 sees the first, mentor2-school0 the second."""
    from datetime import UTC, datetime

    from eduketen.insight.security import create_account
    from eduketen.leervoortgang import repository as repo
    from eduketen.leervoortgang import service as svc
    from eduketen.register.models import Pupil
    from eduketen.simulate.progress import plant

    from ..eduv import STAFF_PASSWORD

    until = until or datetime.now(UTC)
    with unit_of_work(platform.sessions) as session:
        school = register.get_school(session, region.schools[0].brin)
        planted = plant(session, school_id=school.id, brin=school.brin, schooljaar="2026-2027", source_system_id=method_system_id,
                        until=until, thresholds=svc.Thresholds.from_settings(platform.settings), n_groups=n_groups, size=25, seed=seed)  # fmt: skip
        by_external = {g.external_id: g.id for g in repo.groups_of_school(session, school.id)}
        group_ids = [by_external[g.group_external_id] for g in planted]
        create_account(session, username="mentor2-school0", password=STAFF_PASSWORD, role="mentor", display_name="Mentor Twee",
                       school_id=school.id)  # fmt: skip
        repo.assign_mentor(session, repo.account_by_username(session, "mentor-school0").id, group_ids[0])
        repo.assign_mentor(session, repo.account_by_username(session, "mentor2-school0").id, group_ids[1])
        from sqlalchemy import select

        pupil_ids = {p.eck_id: p.id for p in session.scalars(select(Pupil).where(Pupil.school_id == school.id)) if p.eck_id}
    drain(platform)
    return Mentored(group_ids, planted, pupil_ids)


def drain(platform) -> int:
    """What the worker's progress maintenance does within seconds: recompute every dirty aggregate cell."""
    from eduketen.leervoortgang import tasks

    return tasks.drain(platform.sessions)
