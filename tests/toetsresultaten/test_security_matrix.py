"""The whole matrix: every school x every sending system x every consent state. A leak is a result
accepted or stored without consent in force, a refusal that tells a known school from an unknown
one, a stored result attributed to another school or system, or a supplier seeing a consent
relation it takes no part in. The count must be zero."""

from __future__ import annotations

import itertools

from sqlalchemy import delete, select

from eduketen.core.db import unit_of_work
from eduketen.register.models import Consent
from eduketen.toetsresultaten.models import ResultAssessment, StudentResult

from ..eduv import B_OIN, sample_bundle

STATES = ("none", "requested", "unconfirmed", "active", "revoked")
SOURCES = {"a": "toets-a", "b": "toets-b"}


def _set_state(eduv, school_index: int, source: str, state: str) -> None:
    with unit_of_work(eduv.platform.sessions) as session:
        from eduketen.register import service as register

        school = register.get_school(session, eduv.region.schools[school_index].brin)
        session.execute(delete(Consent).where(Consent.school_id == school.id, Consent.source_system_id == eduv.ids[f"system-{source}"]))
    if state != "none":
        eduv.consent(school_index, source, state=state)


def test_schools_by_systems_by_consent_states_leaks_nothing(eduv):
    schools = range(len(eduv.region.schools))
    tokens = {s: eduv.token(client, scope="eduv.result") for s, client in SOURCES.items()}
    consent_tokens = {s: eduv.token(client, scope="eduv.consent") for s, client in SOURCES.items()}
    oins = {"a": eduv.region.toetsaanbieder.oin, "b": B_OIN}
    unknown_school = eduv.post(sample_bundle("99ZZ"), token=tokens["a"]).json()
    leaks: list[str] = []
    checks = 0
    for school_index, source, state in itertools.product(schools, SOURCES, STATES):
        _set_state(eduv, school_index, source, state)
        brin = eduv.region.schools[school_index].brin
        before = eduv.stored()
        student = f"ll-{school_index}-{source}-{state}"
        response = eduv.post(sample_bundle(brin, [student], assessment_id=f"m-{school_index}-{source}"), token=tokens[source])
        after = eduv.stored()
        checks += 1
        if state == "active":
            if response.status_code != 201 or after[1] != before[1] + 1:
                leaks.append(f"{brin}/{source}/{state}: refused with consent in force ({response.status_code})")
        else:
            if response.status_code != 403 or after != before:
                leaks.append(f"{brin}/{source}/{state}: accepted or stored without consent ({response.status_code})")
            if state == "none" and response.json() != unknown_school:
                leaks.append(f"{brin}/{source}: refusal differs from an unknown school's")
        # what a supplier sees of the consents: only relations of its own systems
        for viewer, token in consent_tokens.items():
            relations = eduv.client.get("/consent/v1/relations", headers={"Authorization": f"Bearer {token}"}).json()["relations"]
            checks += 1
            for rel in relations:
                if oins[viewer] not in (rel["source"]["supplier_oin"], rel["receiver"]["supplier_oin"]):
                    leaks.append(f"{viewer} sees relation {rel['id']} of others")
    # every stored result sits at the school and system it was sent for, and only where consent was in force
    with eduv.platform.sessions() as session:
        rows = session.execute(select(StudentResult.student_key, StudentResult.school_id, ResultAssessment.source_system_id,
                                      ResultAssessment.school_id).join(ResultAssessment)).all()  # fmt: skip
        from eduketen.register import service as register

        school_ids = {register.get_school(session, s.brin).id: i for i, s in enumerate(eduv.region.schools)}
    for key, school_id, system_id, assessment_school in rows:
        checks += 1
        _, school_index, source, state = key.split("-", 3)
        if state != "active" or school_ids[school_id] != int(school_index) or assessment_school != school_id or system_id != eduv.ids[f"system-{source}"]:
            leaks.append(f"stored {key} at the wrong place or without consent")
    assert len(rows) == len(schools) * len(SOURCES)  # exactly the active combinations
    assert checks == len(schools) * len(SOURCES) * len(STATES) * 3 + len(rows)
    assert leaks == [], leaks
