"""The keurmerk's change-and-release pages: the public release calendar and chain-test board
(readable without login: every chain partner must be able to see them, and they hold nothing but
versions, dates, system names and test states), and the desk (meldpunt) where platform staff move
incidents, complaints and change requests through their workflow."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform, today_nl
from eduketen.insight import security
from eduketen.insight.api import ROLE_LABELS, _checked_form, _message, _staff_or_login
from eduketen.insight.pages import render
from eduketen.keurmerk import repository as keurmerk_repo
from eduketen.keurmerk import service as keurmerk

router = APIRouter(prefix="/insight", include_in_schema=False)


def _who(request: Request) -> dict:
    staff = security.staff_from_request(request)
    if staff is None:
        return {"staff": None, "csrf": None}
    return {"staff": staff, "csrf": staff.csrf, "role_label": ROLE_LABELS[staff.role]}


def _labels() -> dict:
    return {"version_labels": keurmerk.VERSION_LABELS, "pairing_labels": keurmerk.PAIRING_LABELS, "ticket_labels": keurmerk.TICKET_LABELS,
            "kind_labels": keurmerk.TICKET_KINDS}  # fmt: skip


@router.get("/kalender")
def calendar_page(request: Request) -> Response:
    """Public: the release calendar of every gegevensdienst."""
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        listing = keurmerk.calendar(session, today=today_nl())
    return render("kalender.html", calendar=listing, **_who(request), **_labels())


@router.get("/ketentest")
def board_page(request: Request, periode: str | None = None) -> Response:
    """Public: per chain-test period, the matrix of who tests with whom and how far they are."""
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        periods = keurmerk_repo.test_periods(session)
        if periode is not None:
            chosen = [p for p in periods if str(p.id) == periode]
            if not chosen:
                return _message("Niet gevonden", "Deze ketentestperiode bestaat niet.", 404, **_who(request))
            periods = chosen
        boards = [keurmerk.board(session, p, today=today_nl(), public=True) for p in periods]
    return render("ketentest.html", boards=boards, **_who(request), **_labels())


def _desk_staff(request: Request):
    staff, redirect = _staff_or_login(request)
    if redirect:
        return None, redirect
    if staff.role != "platform-admin":
        return None, _message("Geen toegang", "Het meldpunt is voor platformbeheer (ketencoördinatie).", 403, staff=staff, csrf=staff.csrf,
                              role_label=ROLE_LABELS[staff.role])  # fmt: skip
    return staff, None


@router.get("/meldpunt")
def desk_page(request: Request, status: str | None = None) -> Response:
    staff, refusal = _desk_staff(request)
    if refusal:
        return refusal
    if status is not None and status not in keurmerk.TICKET_STATUSES:
        status = None
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        tickets = [keurmerk.ticket_view(session, t, with_history=False) for t in keurmerk_repo.tickets(session, status=status)]
    return render("meldpunt.html", tickets=tickets, chosen=status, statuses=keurmerk.TICKET_STATUSES, staff=staff, csrf=staff.csrf,
                  role_label=ROLE_LABELS[staff.role], **_labels())  # fmt: skip


def _ticket_context(session, ticket, staff, error: str | None = None) -> dict:
    view = keurmerk.ticket_view(session, ticket)
    drafts = keurmerk.release_choices(session, ticket)
    return {"t": view, "drafts": drafts, "error": error, "staff": staff, "csrf": staff.csrf, "role_label": ROLE_LABELS[staff.role], **_labels()}


@router.get("/meldpunt/{ticket_id}")
def ticket_page(ticket_id: int, request: Request) -> Response:
    staff, refusal = _desk_staff(request)
    if refusal:
        return refusal
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        try:
            ticket = keurmerk.get_ticket(session, ticket_id)
        except keurmerk.KeurmerkError:
            return _message("Niet gevonden", "Deze melding bestaat niet.", 404, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
        return render("melding.html", **_ticket_context(session, ticket, staff))


@router.post("/meldpunt/{ticket_id}/status")
async def ticket_transition(ticket_id: int, request: Request) -> Response:
    staff, form, refusal = await _checked_form(request)
    if refusal:
        return refusal
    if staff.role != "platform-admin":
        return _message("Geen toegang", "Het meldpunt is voor platformbeheer.", 403, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
    platform: Platform = request.app.state.platform
    htmx = bool(request.headers.get("hx-request"))
    with unit_of_work(platform.sessions) as session:
        try:
            ticket = keurmerk.get_ticket(session, ticket_id)
        except keurmerk.KeurmerkError:
            return _message("Niet gevonden", "Deze melding bestaat niet.", 404, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
        try:
            with session.begin_nested():
                keurmerk.transition_ticket(session, ticket, status=form.get("status", "")[:40], actor=staff.actor,
                                           note=form.get("note", "")[:2000], planned_version=form.get("versie") or None)  # fmt: skip
        except keurmerk.KeurmerkError as exc:
            session.refresh(ticket)
            if not htmx:
                return _message("Niet gelukt", str(exc), exc.status, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
            # the fragment again, with the reason: the page stays usable
            return render("_melding.html", **_ticket_context(session, ticket, staff, error=str(exc)))
        context = _ticket_context(session, ticket, staff)
    if htmx:
        return render("_melding.html", **context)
    return RedirectResponse(f"/insight/meldpunt/{ticket_id}", status_code=303)
