"""Consent (regie op gegevens) over HTTP.

Suppliers (OAuth, scope ``eduv.consent``) see only the relations where one of their own systems is
the source or the receiver, may ask a school for a flow of their own systems, and confirm push
flows they receive. The platform admin (admin credential) manages everything; school staff manage
their own school's consents on the consent page (eduketen.insight)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.errors import ApiError
from eduketen.core.oauth.api import Bearer
from eduketen.core.oauth.service import Principal
from eduketen.core.platform import Platform
from eduketen.register import consent as svc
from eduketen.register import service as register

router = APIRouter(prefix="/consent/v1", tags=["consent"])
admin_router = APIRouter(prefix="/admin/consent", tags=["admin: consent"])
ConsentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SystemRef(BaseModel):
    supplier_oin: str = Field(min_length=20, max_length=20)
    system: str = Field(min_length=1, max_length=200)


class ConsentRequestIn(BaseModel):
    school: str = Field(min_length=4, max_length=20, description="BRIN or OIN of the school")
    api: str = Field(max_length=40, description="results-api, progress-api, students-api, ...")
    source: SystemRef
    receiver: SystemRef


def supplier_caller(request: Request) -> tuple[Platform, Principal]:
    return request.app.state.platform, Bearer("eduv.consent")(request)


Caller = Annotated[tuple[Platform, Principal], Depends(supplier_caller)]


def _write(platform: Platform):
    return AdminWrite(platform)


@router.get("/relations", summary="The consents in which one of your systems takes part")
def my_relations(caller: Caller, api: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    platform, principal = caller
    with platform.read_sessions() as session:
        return {"relations": [svc.relation_out(r) for r in svc.relations(session, supplier_oin=principal.supplier_oin, api=api)]}


@router.post("/requests", status_code=201, summary="Ask a school for a flow between your system and another")
def request_consent(body: ConsentRequestIn, caller: Caller) -> dict:
    platform, principal = caller
    if principal.supplier_oin not in (body.source.supplier_oin, body.receiver.supplier_oin):
        raise ApiError(403, "Forbidden", "You can ask only for flows in which one of your own systems takes part.")
    with _write(platform) as session:
        consent = _request(session, body, actor=f"supplier:{principal.supplier_oin}")
        rel = svc.relations(session, school_id=consent.school_id, supplier_oin=principal.supplier_oin)
        return svc.relation_out(next(r for r in rel if r.consent.id == consent.id))


@router.post("/relations/{consent_id}/confirm", summary="Confirm, as the receiving system, a push flow")
def confirm(consent_id: ConsentId, caller: Caller) -> dict:
    platform, principal = caller
    with _write(platform) as session:
        rel = [r for r in svc.relations(session, supplier_oin=principal.supplier_oin) if r.consent.id == consent_id]
        if not rel:  # not yours, or not there: the same answer
            raise ApiError(404, "Not found", f"No consent {consent_id} in which your systems take part.")
        if rel[0].receiver_supplier.oin != principal.supplier_oin:
            raise ApiError(403, "Forbidden", "Only the receiving system's supplier confirms a push flow.")
        svc.confirm(session, rel[0].consent, actor=f"supplier:{principal.supplier_oin}")
        return svc.relation_out(rel[0])


def _request(session, body: ConsentRequestIn, *, actor: str):
    school = register.get_school(session, body.school)
    source = register.get_system(session, register.get_supplier(session, body.source.supplier_oin), body.source.system)
    receiver = register.get_system(session, register.get_supplier(session, body.receiver.supplier_oin), body.receiver.system)
    return svc.request(session, school=school, api=body.api, source=source, receiver=receiver, actor=actor)


# -- admin ---------------------------------------------------------------------------------------


@admin_router.get("")
def admin_list(platform: AdminPlatform, school: Annotated[str | None, Query(max_length=20)] = None,
               supplier_oin: Annotated[str | None, Query(max_length=20)] = None) -> dict:  # fmt: skip
    with AdminWrite(platform) as session:
        school_id = register.get_school(session, school).id if school else None
        return {"relations": [svc.relation_out(r) for r in svc.relations(session, school_id=school_id, supplier_oin=supplier_oin)]}


@admin_router.post("", status_code=201)
def admin_request(body: ConsentRequestIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        consent = _request(session, body, actor="admin")
        return _one(session, consent.id)


def _one(session, consent_id: int) -> dict:
    consent = svc.get(session, consent_id)
    rel = next(r for r in svc.relations(session, school_id=consent.school_id) if r.consent.id == consent_id)
    return svc.relation_out(rel, with_history=svc.history(session, consent_id))


@admin_router.get("/{consent_id}")
def admin_get(consent_id: ConsentId, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        return _one(session, consent_id)


@admin_router.post("/{consent_id}/{action}")
def admin_change(consent_id: ConsentId, action: Annotated[str, Path(pattern="^(activate|confirm|revoke)$")], platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        consent = svc.get(session, consent_id)
        getattr(svc, action)(session, consent, actor="admin")
        return _one(session, consent_id)
