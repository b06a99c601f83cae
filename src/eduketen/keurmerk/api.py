"""Keurmerk: the admin JSON API (admission steps, evidence, qualifications; the release calendar,
chain-test periods and pairings, reminders, the desk), the public list of qualified participants,
the public calendar and chain-test boards, and the participants' own API (OAuth, scope
``eduketen.keurmerk``): their meldingen and their reminders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.errors import ApiError
from eduketen.core.oauth.api import Bearer
from eduketen.core.oauth.service import Principal
from eduketen.core.platform import Platform, today_nl
from eduketen.keurmerk import repository, service
from eduketen.keurmerk.schemas import (
    AdminTicketIn,
    AdmissionIn,
    ContactIn,
    EvidenceIn,
    PairingIn,
    PairingStatusIn,
    PeriodIn,
    QualificationIn,
    ReleasePlanIn,
    StepIn,
    TicketIn,
    TicketTransitionIn,
    VersionTransitionIn,
)
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


# -- change and release ----------------------------------------------------------------------------------------

supplier_router = APIRouter(prefix="/keurmerk/v1", tags=["keurmerk: participants"])
SCOPE = "eduketen.keurmerk"
Participant = Annotated[Principal, Depends(Bearer(SCOPE))]


def _refused(exc: service.KeurmerkError) -> ApiError:
    if isinstance(exc, service.TransitionRefused):
        return ApiError(409, "Transition refused", str(exc), huidige_status=exc.current, toegestaan=list(exc.allowed))
    titles = {404: "Not found", 409: "Conflict"}
    return ApiError(exc.status, titles.get(exc.status, "Refused"), str(exc))


class _Write(AdminWrite):
    """AdminWrite that also turns refused transitions into 409 with the allowed next states."""

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, service.KeurmerkError):
            try:
                super().__exit__(exc_type, exc, tb)
            except ApiError:
                pass
            raise _refused(exc) from exc
        return super().__exit__(exc_type, exc, tb)


def _read(platform: Platform, fn):
    with platform.sessions() as session:
        try:
            return fn(session)
        except service.KeurmerkError as exc:
            raise _refused(exc) from exc


def _admin_actor(door: str | None) -> str:
    return f"platformbeheer ({door})" if door else "platformbeheer (admin-API)"


@admin_router.get("/releases")
def admin_calendar(platform: AdminPlatform, dienst: str | None = None) -> dict:
    """The release calendar with every version's history of status changes."""
    return _read(platform, lambda s: service.calendar(s, dienst, today=today_nl(), with_history=True))


@admin_router.put("/releases/{service_name}/{version}")
def plan_release(service_name: str, version: str, body: ReleasePlanIn, platform: AdminPlatform) -> dict:
    """Plan the dates of states a version has not reached yet, and announce its changes."""
    dates = {"draft": body.concept_op, "in-force": body.in_gebruik_vanaf, "previous": body.vorige_vanaf, "withdrawn": body.ingetrokken_op}
    with _Write(platform) as session:
        sv = service.version_of(session, service_name, version)
        release = service.plan_release(session, sv, dates=dates, announcement=body.aankondiging)
        return service.release_view(session, sv, release, today=today_nl(), with_history=True)


@admin_router.post("/releases/{service_name}/{version}/transitions")
def transition_release(service_name: str, version: str, body: VersionTransitionIn, platform: AdminPlatform) -> dict:
    """Move a version on: draft -> in-force | withdrawn, in-force -> previous | withdrawn, previous -> withdrawn."""
    today = today_nl()
    with _Write(platform) as session:
        sv = service.version_of(session, service_name, version)
        release = service.transition_version(session, sv, status=body.status, on=body.on or today, today=today, actor=_admin_actor(None), note=body.note)
        return service.release_view(session, sv, release, today=today, with_history=True)


@admin_router.post("/test-periods", status_code=201)
def add_period(body: PeriodIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        sv = service.version_of(session, body.dienst, body.versie)
        period = service.add_period(session, sv, name=body.naam, opens=body.opent, closes=body.sluit)
        return service.board(session, period, today=today_nl())


@admin_router.get("/test-periods")
def list_periods(platform: AdminPlatform) -> dict:
    return _read(platform, lambda s: {"ketentestperiodes": [service.board(s, p, today=today_nl()) for p in repository.test_periods(s)]})


@admin_router.get("/test-periods/{period_id}")
def get_period(period_id: int, platform: AdminPlatform) -> dict:
    return _read(platform, lambda s: service.board(s, service.get_period(s, period_id), today=today_nl()))


@admin_router.post("/test-periods/{period_id}/pairings", status_code=201)
def add_pairing(period_id: int, body: PairingIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        period = service.get_period(session, period_id)
        a = service.find_system(session, body.a.leverancier_oin, body.a.systeem)
        b = service.find_system(session, body.b.leverancier_oin, body.b.systeem)
        return service.pairing_view(session, service.add_pairing(session, period, a, b))


@admin_router.post("/pairings/{pairing_id}/status")
def pairing_status(pairing_id: int, body: PairingStatusIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        pairing = service.set_pairing_status(session, pairing_id, status=body.status, note=body.note, evidence_id=body.evidence_id)
        return service.pairing_view(session, pairing)


@admin_router.get("/reminders")
def list_reminders(platform: AdminPlatform, period_id: int | None = None) -> dict:
    return _read(platform, lambda s: {"herinneringen": [service.reminder_view(s, r) for r in repository.reminders(s, period_id=period_id)]})


@admin_router.put("/contacts/{oin}")
def set_contact(oin: str, body: ContactIn, platform: AdminPlatform) -> dict:
    """Where a participant's notifications (reminders) are delivered besides its list."""
    with _Write(platform) as session:
        contact = service.set_contact(session, oin, body.notify_url)
        return {"oin": oin, "notify_url": contact.notify_url}


@admin_router.post("/tickets", status_code=201)
def admin_submit_ticket(body: AdminTicketIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        supplier = None
        if body.leverancier_oin:
            supplier = register_repo.supplier_by_oin(session, body.leverancier_oin)
            if supplier is None:
                raise service.KeurmerkError(f"no supplier with OIN {body.leverancier_oin} in the register", 404)
        sv = service.version_of(session, body.dienst, body.versie)
        ticket = service.submit_ticket(session, kind=body.soort, sv=sv, supplier=supplier, title=body.titel, description=body.omschrijving,
                                       actor=_admin_actor(body.door))  # fmt: skip
        return service.ticket_view(session, ticket)


@admin_router.get("/tickets")
def admin_tickets(platform: AdminPlatform, status: str | None = None, soort: str | None = None) -> dict:
    if status is not None and status not in service.TICKET_STATUSES:
        raise ApiError(422, "Refused", f"status must be one of {', '.join(service.TICKET_STATUSES)}")
    if soort is not None and soort not in service.TICKET_KINDS:
        raise ApiError(422, "Refused", f"soort must be one of {', '.join(service.TICKET_KINDS)}")
    return _read(platform, lambda s: {"meldingen": [service.ticket_view(s, t, with_history=False) for t in repository.tickets(s, status=status, kind=soort)]})


@admin_router.get("/tickets/{ticket_id}")
def admin_ticket(ticket_id: int, platform: AdminPlatform) -> dict:
    return _read(platform, lambda s: service.ticket_view(s, service.get_ticket(s, ticket_id)))


@admin_router.post("/tickets/{ticket_id}/transitions")
def admin_ticket_transition(ticket_id: int, body: TicketTransitionIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        ticket = service.transition_ticket(session, service.get_ticket(session, ticket_id), status=body.status, actor=_admin_actor(body.door),
                                           note=body.note, planned_version=body.versie)  # fmt: skip
        return service.ticket_view(session, ticket)


# -- public ------------------------------------------------------------------------------------------------------


@public_router.get("/kalender")
def public_calendar(request: Request, dienst: str | None = None) -> dict:
    """Public: every service version with its status, its (planned) dates, the announced changes and
    its chain-test periods."""
    return _read(request.app.state.platform, lambda s: service.calendar(s, dienst, today=today_nl()))


@public_router.get("/ketentests")
def public_boards(request: Request) -> dict:
    """Public: per chain-test period, who tests with whom and how far they are (no notes, no evidence)."""
    return _read(request.app.state.platform,
                 lambda s: {"ketentestperiodes": [service.board(s, p, today=today_nl(), public=True) for p in repository.test_periods(s)]})  # fmt: skip


# -- participants (OAuth) ----------------------------------------------------------------------------------------


def _caller(session, principal) -> object:
    supplier = register_repo.supplier_by_oin(session, principal.supplier_oin)
    if supplier is None:
        raise ApiError(403, "Forbidden", "The token's supplier is not in the register of this installation.")
    return supplier


@supplier_router.post("/meldingen", status_code=201)
def submit_ticket(body: TicketIn, request: Request, principal: Participant) -> dict:
    """The desk: a participant reports an incident, a complaint or a change request about a service version."""
    platform: Platform = request.app.state.platform
    with _Write(platform) as session:
        supplier = _caller(session, principal)
        sv = service.version_of(session, body.dienst, body.versie)
        ticket = service.submit_ticket(session, kind=body.soort, sv=sv, supplier=supplier, title=body.titel, description=body.omschrijving,
                                       actor=f"leverancier {supplier.oin} ({principal.client_id})")  # fmt: skip
        return service.ticket_view(session, ticket)


@supplier_router.get("/meldingen")
def own_tickets(request: Request, principal: Participant) -> dict:
    def run(session):
        supplier = _caller(session, principal)
        return {"meldingen": [service.ticket_view(session, t, with_history=False) for t in repository.tickets(session, supplier_id=supplier.id)]}

    return _read(request.app.state.platform, run)


@supplier_router.get("/meldingen/{ticket_id}")
def own_ticket(ticket_id: int, request: Request, principal: Participant) -> dict:
    def run(session):
        supplier = _caller(session, principal)
        return service.ticket_view(session, service.get_ticket(session, ticket_id, supplier_id=supplier.id))

    return _read(request.app.state.platform, run)


@supplier_router.get("/herinneringen")
def own_reminders(request: Request, principal: Participant) -> dict:
    """The participant's notification list: reminders of chain-test periods, newest first."""

    def run(session):
        supplier = _caller(session, principal)
        return {"herinneringen": [service.reminder_view(session, r) for r in repository.reminders(session, supplier_id=supplier.id)]}

    return _read(request.app.state.platform, run)
