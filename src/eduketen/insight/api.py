"""The staff pages: login, logout, and the consent page of a school (more pages come later and use
the same pieces: ``pages.render``, ``current_staff``, ``require_csrf``)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.insight import security
from eduketen.insight.pages import STATIC, FormError, read_form, render
from eduketen.register import consent as consent_svc
from eduketen.register.models import School, Supplier, System

router = APIRouter(prefix="/insight", include_in_schema=False)
LOGIN_CSRF_COOKIE = "__Host-eduketen-login"
ROLE_LABELS = {"school-administrator": "schoolbeheerder", "mentor": "mentor", "quality": "kwaliteitsmedewerker",
               "platform-admin": "platformbeheerder"}  # fmt: skip
STATE_LABELS = {"active": "Aan", "revoked": "Uit", "requested": "Aangevraagd", "awaiting-confirmation": "Wacht op bevestiging ontvanger"}
ACTION_LABELS = {"request": "aangevraagd", "activate": "aangezet", "confirm": "bevestigd", "revoke": "uitgezet"}


def landing(role: str) -> str:
    """Where a role starts after login: a platform administrator has no school of its own, so the
    desk (meldpunt) rather than a school's consent page."""
    return {"mentor": "/insight/groups", "platform-admin": "/insight/meldpunt"}.get(role, "/insight/consent")


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def _message(title: str, message: str, status: int, **context) -> Response:
    return render("message.html", status=status, title=title, message=message, **context)


@router.get("/")
def home(request: Request) -> Response:
    staff = security.staff_from_request(request)
    if staff is None:
        return RedirectResponse("/insight/login", status_code=303)
    return RedirectResponse(landing(staff.role), status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render("login.html", login_csrf=token)
    _cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    try:
        form = await read_form(request)
    except FormError as exc:
        return _message("Inloggen mislukt", str(exc), 400)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, form.get("csrf", "")):
        return _message("Inloggen mislukt", "Het formulier is verlopen; open de inlogpagina opnieuw.", 403)
    username = form.get("username", "")[:100]
    client = request.client.host if request.client else "?"
    wait = platform.views["login_limiter"].take(f"{client}|{username.lower()}")
    if wait:
        token = secrets.token_urlsafe(24)
        response = render("login.html", status=429, login_csrf=token, username=username,
                          error="Te veel pogingen; wacht even en probeer het opnieuw.", headers={"Retry-After": str(int(wait) + 1)})  # fmt: skip
        _cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    def run():
        with unit_of_work(platform.sessions) as session:
            outcome = security.login(session, username, form.get("password", "")[:200], lifetime_seconds=platform.settings.staff_session_seconds)
            if outcome is None:
                return None
            staff = security.staff_for_token(session, outcome[0])
            return outcome[0], staff.role

    outcome = await run_in_threadpool(run)
    if outcome is None:
        token = secrets.token_urlsafe(24)
        response = render("login.html", status=401, login_csrf=token, username=username, error="Onjuiste gebruikersnaam of wachtwoord.")
        _cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response
    session_token, role = outcome
    response = RedirectResponse(landing(role), status_code=303)
    _cookie(response, security.COOKIE, session_token, platform.settings.staff_session_seconds)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    staff = security.staff_from_request(request)
    response = RedirectResponse("/insight/login", status_code=303)
    if staff is not None:
        try:
            form = await read_form(request)
        except FormError as exc:
            return _message("Uitloggen mislukt", str(exc), 400)
        if not security.csrf_ok(staff, form.get("csrf")):
            return _message("Uitloggen mislukt", "Het formulier is verlopen; laad de pagina opnieuw.", 403)
        with unit_of_work(platform.sessions) as session:
            security.logout(session, request.cookies.get(security.COOKIE, ""))
    response.delete_cookie(security.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


def _staff_or_login(request: Request):
    staff = security.staff_from_request(request)
    if staff is None:
        if request.headers.get("hx-request"):
            return None, Response(status_code=401, headers={"HX-Redirect": "/insight/login"})
        return None, RedirectResponse("/insight/login", status_code=303)
    return staff, None


def _school_for(session, staff: security.Staff, brin: str | None) -> School | None:
    if staff.role == "platform-admin":
        return session.scalar(select(School).where(School.brin == (brin or "").upper()[:4])) if brin else None
    if staff.role == "school-administrator":
        return session.get(School, staff.school_id)
    return None


def _context(session, staff: security.Staff, school: School) -> dict:
    relations = []
    for rel in consent_svc.relations(session, school_id=school.id):
        relations.append(consent_svc.relation_out(rel, with_history=consent_svc.history(session, rel.consent.id)))
    systems = [
        {"id": system.id, "name": system.name, "supplier": supplier.name}
        for system, supplier in session.execute(select(System, Supplier).join(Supplier, Supplier.id == System.supplier_id).order_by(Supplier.name, System.name))
    ]
    return {
        "staff": staff, "csrf": staff.csrf, "school": school, "relations": relations, "systems": systems,
        "apis": list(consent_svc.LABELS.items()), "role_label": ROLE_LABELS[staff.role], "state_labels": STATE_LABELS,
        "action_labels": ACTION_LABELS,
    }  # fmt: skip


@router.get("/consent")
def consent_page(request: Request, school: str | None = None) -> Response:
    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        row = _school_for(session, staff, school)
        if row is None:
            hint = "Geef de school aan: /insight/consent?school=<BRIN>." if staff.role == "platform-admin" else \
                "Deze pagina is voor de schoolbeheerder van een school."  # fmt: skip
            return _message("Geen school", hint, 403 if staff.role != "platform-admin" else 404, staff=staff, csrf=staff.csrf,
                            role_label=ROLE_LABELS[staff.role])  # fmt: skip
        return render("consent.html", **_context(session, staff, row))


def _auto_confirm(session, platform: Platform, consent) -> None:
    """This installation confirms push flows it receives itself: the school's switch is then enough."""
    own = platform.settings.own_oin
    receiver = session.get(System, consent.receiving_system_id)
    supplier = session.get(Supplier, receiver.supplier_id) if receiver else None
    if own and supplier is not None and supplier.oin == own and consent.direction == "push" and consent.status == "active":
        consent_svc.confirm(session, consent, actor=f"system:{own}")


async def _checked_form(request: Request):
    staff, redirect = _staff_or_login(request)
    if redirect:
        return None, None, redirect
    try:
        form = await read_form(request)
    except FormError as exc:
        return None, None, _message("Niet gelukt", str(exc), 400, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
    submitted = form.get("csrf") or request.headers.get("x-csrf-token")
    if not security.csrf_ok(staff, submitted):
        return None, None, _message("Niet gelukt", "Het formulier is verlopen; laad de pagina opnieuw.", 403, staff=staff,
                                    csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])  # fmt: skip
    return staff, form, None


@router.post("/consent/{consent_id}/{action}")
async def change_consent(consent_id: int, action: str, request: Request) -> Response:
    staff, _form, refusal = await _checked_form(request)
    if refusal:
        return refusal
    platform: Platform = request.app.state.platform
    if action not in ("activate", "revoke") or not 1 <= consent_id < 2**31:
        return _message("Niet gevonden", "Deze wijziging bestaat niet.", 404, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
    with unit_of_work(platform.sessions) as session:
        consent = session.get(consent_svc.Consent, consent_id)
        if consent is None or not staff.may_manage_school(consent.school_id):
            return _message("Niet gevonden", "Deze koppeling hoort niet bij uw school.", 404, staff=staff, csrf=staff.csrf,
                            role_label=ROLE_LABELS[staff.role])  # fmt: skip
        getattr(consent_svc, action)(session, consent, actor=staff.actor)
        if action == "activate":
            _auto_confirm(session, platform, consent)
        school = session.get(School, consent.school_id)
        context = _context(session, staff, school)
    platform.invalidate_views()  # a switched flow takes effect at once in this process
    if request.headers.get("hx-request"):
        rel = next(r for r in context["relations"] if r["id"] == consent_id)
        return render("_consent_row.html", rel=rel, **{k: v for k, v in context.items() if k != "relations"})
    return RedirectResponse(f"/insight/consent?school={school.brin}", status_code=303)


@router.post("/consent")
async def add_consent(request: Request) -> Response:
    staff, form, refusal = await _checked_form(request)
    if refusal:
        return refusal
    platform: Platform = request.app.state.platform
    try:
        source_id, receiver_id = int(form.get("source", "")), int(form.get("receiver", ""))
    except ValueError:
        source_id = receiver_id = 0
    with unit_of_work(platform.sessions) as session:
        school = _school_for(session, staff, form.get("school"))
        source, receiver = session.get(System, source_id) if source_id else None, session.get(System, receiver_id) if receiver_id else None
        if school is None or not staff.may_manage_school(school.id):
            return _message("Niet gelukt", "U beheert deze school niet.", 403, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
        if source is None or receiver is None or form.get("api") not in consent_svc.APIS:
            return _message("Niet gelukt", "Kies een gegevensdienst, een bron en een ontvanger.", 422, staff=staff, csrf=staff.csrf,
                            role_label=ROLE_LABELS[staff.role])  # fmt: skip
        try:
            consent = consent_svc.request(session, school=school, api=form["api"], source=source, receiver=receiver, actor=staff.actor)
        except consent_svc.ConsentError as exc:
            return _message("Niet gelukt", str(exc), exc.status, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])
        consent_svc.activate(session, consent, actor=staff.actor)
        _auto_confirm(session, platform, consent)
        brin = school.brin
    platform.invalidate_views()
    return RedirectResponse(f"/insight/consent?school={brin}", status_code=303)
