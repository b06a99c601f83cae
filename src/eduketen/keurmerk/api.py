"""Keurmerk: the admin JSON API (admission steps, evidence, qualifications) and the public list of
qualified participants per service version."""

from __future__ import annotations

from fastapi import APIRouter, Request

from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.errors import ApiError
from eduketen.core.platform import Platform, today_nl
from eduketen.keurmerk import repository, service
from eduketen.keurmerk.schemas import AdmissionIn, EvidenceIn, QualificationIn, StepIn
from eduketen.register import repository as register_repo

admin_router = APIRouter(prefix="/admin/keurmerk", tags=["admin: keurmerk"])
public_router = APIRouter(prefix="/keurmerk", tags=["keurmerk"])


@admin_router.post("/admissions", status_code=201)
def apply(body: AdmissionIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        admission = service.apply(
            session, supplier_oin=body.supplier_oin, service=body.service, role=body.role, on=body.on or today_nl(), note=body.note
        )
        return service.admission_view(session, admission)


@admin_router.get("/admissions")
def list_admissions(platform: AdminPlatform, supplier: str | None = None, service_name: str | None = None) -> dict:
    with platform.sessions() as session:
        supplier_id = service_id = None
        if supplier:
            found = register_repo.supplier_by_oin(session, supplier)
            if found is None:
                raise ApiError(404, "Not found", f"no supplier with OIN {supplier}")
            supplier_id = found.id
        if service_name:
            svc = register_repo.service_by_name(session, service_name)
            if svc is None:
                raise ApiError(404, "Not found", f"no gegevensdienst {service_name}")
            service_id = svc.id
        rows = repository.admissions(session, supplier_id=supplier_id, service_id=service_id)
        return {"toetredingen": [service.admission_view(session, a) for a in rows]}


@admin_router.get("/admissions/{admission_id}")
def get_admission(admission_id: int, platform: AdminPlatform) -> dict:
    with platform.sessions() as session:
        admission = repository.admission(session, admission_id)
        if admission is None:
            raise ApiError(404, "Not found", f"no admission {admission_id}")
        return service.admission_view(session, admission)


@admin_router.post("/admissions/{admission_id}/steps")
def complete_step(admission_id: int, body: StepIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        admission = service.complete(session, admission_id, stage=body.stage, on=body.on or today_nl(), note=body.note)
        return service.admission_view(session, admission)


@admin_router.post("/admissions/{admission_id}/evidence", status_code=201)
def add_evidence(admission_id: int, body: EvidenceIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        evidence = service.add_evidence(session, admission_id, summary=body.report, junit_xml=body.junit)
        return {"id": evidence.id, "voldoende": evidence.sufficient, "oordeel": evidence.verdict}


@admin_router.get("/evidence/{evidence_id}")
def get_evidence(evidence_id: int, platform: AdminPlatform) -> dict:
    import json

    with platform.sessions() as session:
        evidence = repository.evidence(session, evidence_id)
        if evidence is None:
            raise ApiError(404, "Not found", f"no evidence {evidence_id}")
        return {"id": evidence.id, "voldoende": evidence.sufficient, "oordeel": evidence.verdict, "rapport": json.loads(evidence.summary_json), "junit": evidence.junit_xml}


@admin_router.post("/admissions/{admission_id}/qualifications", status_code=201)
def qualify(admission_id: int, body: QualificationIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        service.qualify(session, admission_id, version=body.version, evidence_id=body.evidence_id, on=body.on or today_nl())
        return service.admission_view(session, repository.admission(session, admission_id))


@public_router.get("/deelnemers")
def participants(request: Request, dienst: str | None = None) -> dict:
    """Public: per gegevensdienst and version, the suppliers qualified for it."""
    platform: Platform = request.app.state.platform
    with platform.sessions() as session:
        try:
            return service.public_list(session, dienst)
        except service.KeurmerkError as exc:
            raise ApiError(exc.status, "Not found", str(exc)) from exc
