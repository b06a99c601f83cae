"""Keurmerk rules: the admission steps in their order, conformance reports as evidence, and
qualification per service version. No HTTP, no commit.

The admission (toetredingsproces) of a supplier per gegevensdienst and role goes through
aanmelden -> intake -> intentieverklaring -> basiskwalificatie -> kwalificatie ->
deelnemersovereenkomst, each step after the one before it. Kwalificatie is proven per service
version with a conformance report of `eduketen conformance run` for that version and role: no
failures, no errors, and nothing skipped except scenarios that are not part of the version."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.keurmerk import repository as repo
from eduketen.keurmerk.models import Admission, Evidence, Qualification, Step
from eduketen.register import repository as register_repo
from eduketen.register.models import Service

STAGES = ("aanmelden", "intake", "intentieverklaring", "basiskwalificatie", "kwalificatie", "deelnemersovereenkomst")
ROLES = ("toetsaanbieder", "las")
SUITE = "eduketen conformance"


class KeurmerkError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _service(session: Session, name: str) -> Service:
    service = register_repo.service_by_name(session, name)
    if service is None:
        raise KeurmerkError(f"no gegevensdienst {name!r} in the register", 404)
    return service


def _admission(session: Session, admission_id: int) -> Admission:
    admission = repo.admission(session, admission_id)
    if admission is None:
        raise KeurmerkError(f"no admission {admission_id}", 404)
    return admission


def done_stages(session: Session, admission: Admission) -> dict[str, Step]:
    return {s.stage: s for s in repo.steps(session, admission.id)}


def apply(session: Session, *, supplier_oin: str, service: str, role: str, on: date, note: str | None = None) -> Admission:
    """Aanmelden: the supplier announces itself for a gegevensdienst in a role."""
    supplier = register_repo.supplier_by_oin(session, supplier_oin)
    if supplier is None:
        raise KeurmerkError(f"no supplier with OIN {supplier_oin} in the register", 404)
    if role not in ROLES:
        raise KeurmerkError(f"role must be one of {', '.join(ROLES)}")
    svc = _service(session, service)
    if repo.admission_for(session, supplier.id, svc.id, role) is not None:
        raise KeurmerkError(f"{supplier.name} has already applied for {service} as {role}", 409)
    now = utcnow()
    admission = Admission(supplier_id=supplier.id, service_id=svc.id, role=role, stage="aanmelden", created_at=now, updated_at=now)
    session.add(admission)
    session.flush()
    session.add(Step(admission_id=admission.id, stage="aanmelden", completed_on=on, note=note, recorded_at=now))
    session.flush()
    return admission


def complete(session: Session, admission_id: int, *, stage: str, on: date, note: str | None = None) -> Admission:
    admission = _admission(session, admission_id)
    if stage not in STAGES:
        raise KeurmerkError(f"stage must be one of {', '.join(STAGES)}")
    done = done_stages(session, admission)
    if stage in done:
        raise KeurmerkError(f"{stage} was already completed on {done[stage].completed_on}", 409)
    previous = STAGES[STAGES.index(stage) - 1]
    if previous not in done:
        raise KeurmerkError(f"{stage} comes after {previous}, which is not completed yet", 409)
    if on < done[previous].completed_on:
        raise KeurmerkError(f"{stage} cannot be completed before {previous} ({done[previous].completed_on})")
    if stage == "kwalificatie" and not repo.qualifications_of(session, admission.id):
        raise KeurmerkError("kwalificatie needs at least one service version qualified with a conformance report", 409)
    now = utcnow()
    session.add(Step(admission_id=admission.id, stage=stage, completed_on=on, note=note, recorded_at=now))
    admission.stage, admission.updated_at = stage, now
    session.flush()
    return admission


def judge(summary: dict, *, service: str, role: str) -> tuple[str, dict, bool, str]:
    """(version, counts, sufficient, verdict) of a JSON summary of `eduketen conformance run`."""
    if not isinstance(summary, dict) or summary.get("suite") != SUITE:
        raise KeurmerkError("evidence must be the JSON summary of `eduketen conformance run --json`")
    for key, expected in (("service", service), ("role", role)):
        if summary.get(key) != expected:
            raise KeurmerkError(f"the report is for {key} {summary.get(key)!r}, the admission for {expected!r}")
    version = summary.get("version")
    scenarios = summary.get("scenarios")
    if not isinstance(version, str) or not isinstance(scenarios, list):
        raise KeurmerkError("the report names no version or no scenarios")
    from eduketen.conformance.runner import select

    expected = {sc.name for sc in select(role, version)} if role in ROLES else set()
    present = {sc.get("name") for sc in scenarios if isinstance(sc, dict)}
    counts = {s: sum(1 for sc in scenarios if isinstance(sc, dict) and sc.get("status") == s) for s in ("passed", "failed", "error", "skipped")}
    problems = []
    missing = sorted(expected - present)
    if missing:
        problems.append(f"the report lacks {len(missing)} scenario(s) of the suite: {', '.join(missing)}")
    if counts["failed"] or counts["error"]:
        failing = [sc.get("name") for sc in scenarios if sc.get("status") in ("failed", "error")]
        problems.append(f"{len(failing)} scenario(s) did not pass: {', '.join(map(str, failing))}")
    not_run = [sc.get("name") for sc in scenarios if sc.get("status") == "skipped" and not str(sc.get("reason") or "").startswith("not part of version")]
    if not_run:
        problems.append(f"{len(not_run)} scenario(s) could not run and must: {', '.join(map(str, not_run))}")
    if counts["passed"] == 0:
        problems.append("no scenario passed")
    sufficient = not problems
    verdict = f"sufficient for {service} {version} as {role}: {counts['passed']} scenarios passed" if sufficient else "; ".join(problems)
    return version, counts, sufficient, verdict


def add_evidence(session: Session, admission_id: int, *, summary: dict, junit_xml: str | None = None) -> Evidence:
    admission = _admission(session, admission_id)
    service = session.get(Service, admission.service_id)
    version, counts, sufficient, verdict = judge(summary, service=service.name, role=admission.role)
    service_version = register_repo.service_version(session, service.id, version)
    if service_version is None:
        raise KeurmerkError(f"{service.name} has no version {version} in the register", 404)
    evidence = Evidence(
        admission_id=admission.id,
        service_version_id=service_version.id,
        tested_url=str(summary.get("url", ""))[:500],
        tested_at=str(summary.get("started", ""))[:40],
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        sufficient=sufficient,
        verdict=verdict[:1000],
        summary_json=json.dumps(summary, ensure_ascii=False, sort_keys=True),
        junit_xml=junit_xml,
        recorded_at=utcnow(),
    )
    session.add(evidence)
    session.flush()
    return evidence


def qualify(session: Session, admission_id: int, *, version: str, evidence_id: int, on: date) -> Qualification:
    admission = _admission(session, admission_id)
    if "basiskwalificatie" not in done_stages(session, admission):
        raise KeurmerkError("qualification for a service version comes after basiskwalificatie", 409)
    service = session.get(Service, admission.service_id)
    service_version = register_repo.service_version(session, service.id, version)
    if service_version is None:
        raise KeurmerkError(f"{service.name} has no version {version} in the register", 404)
    evidence = repo.evidence(session, evidence_id)
    if evidence is None or evidence.admission_id != admission.id:
        raise KeurmerkError(f"no evidence {evidence_id} for this admission", 404)
    if evidence.service_version_id != service_version.id:
        raise KeurmerkError(f"evidence {evidence_id} is a report for another version than {version}")
    if not evidence.sufficient:
        raise KeurmerkError(f"evidence {evidence_id} is not sufficient: {evidence.verdict}", 409)
    if repo.qualification(session, admission.id, service_version.id) is not None:
        raise KeurmerkError(f"already qualified for {service.name} {version}", 409)
    qualification = Qualification(
        admission_id=admission.id, service_version_id=service_version.id, evidence_id=evidence.id, qualified_on=on, recorded_at=utcnow()
    )
    session.add(qualification)
    session.flush()
    return qualification


# -- views -----------------------------------------------------------------------------------------------------


def admission_view(session: Session, admission: Admission) -> dict:
    from eduketen.register.models import Supplier

    supplier = session.get(Supplier, admission.supplier_id)
    service = session.get(Service, admission.service_id)
    done = done_stages(session, admission)
    versions = {sv.id: sv.version for sv in register_repo.service_versions(session, service.id)}
    nxt = next((s for s in STAGES if s not in done), None)
    return {
        "id": admission.id,
        "leverancier": {"naam": supplier.name, "oin": supplier.oin},
        "gegevensdienst": service.name,
        "rol": admission.role,
        "fase": admission.stage,
        "volgende_stap": nxt,
        "stappen": [
            {"stap": s, "afgerond_op": done[s].completed_on.isoformat() if s in done else None, "notitie": done[s].note if s in done else None}
            for s in STAGES
        ],
        "bewijs": [
            {
                "id": e.id,
                "versie": versions.get(e.service_version_id),
                "getest": e.tested_at,
                "url": e.tested_url,
                "geslaagd": e.passed,
                "gefaald": e.failed,
                "fouten": e.errors,
                "overgeslagen": e.skipped,
                "voldoende": e.sufficient,
                "oordeel": e.verdict,
            }
            for e in repo.evidence_of(session, admission.id)
        ],
        "kwalificaties": [
            {"versie": versions.get(q.service_version_id), "op": q.qualified_on.isoformat(), "bewijs": q.evidence_id}
            for q in repo.qualifications_of(session, admission.id)
        ],
    }


def public_list(session: Session, service: str | None = None) -> dict:
    """Per gegevensdienst and version: the suppliers qualified for it, in which role, and whether
    they signed the deelnemersovereenkomst. Only what a school or supplier may see: no evidence."""
    services = [_service(session, service)] if service else register_repo.services(session)
    by_version: dict[int, list[dict]] = {}
    for _svc, sv, supplier, admission, q in repo.qualified_rows(session, service):
        signed = "deelnemersovereenkomst" in done_stages(session, admission)
        by_version.setdefault(sv.id, []).append(
            {
                "leverancier": supplier.name,
                "oin": supplier.oin,
                "rol": admission.role,
                "gekwalificeerd_op": q.qualified_on.isoformat(),
                "deelnemersovereenkomst": signed,
                "status": "deelnemer" if signed else "gekwalificeerd",
            }
        )
    return {
        "diensten": [
            {
                "gegevensdienst": svc.name,
                "versies": [
                    {"versie": sv.version, "status": sv.status, "namespace": sv.namespace, "deelnemers": by_version.get(sv.id, [])}
                    for sv in register_repo.service_versions(session, svc.id)
                ],
            }
            for svc in services
        ]
    }
