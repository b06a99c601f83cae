"""Pages on the register for schools and the public:

- the mandate check (anyone, like the national register answers third parties): does school X
  mandate supplier Y for service Z today? Yes or no, nothing more; also as JSON; rate-limited
  per client with the OSR API's limits;
- the school's mandates (its school administrator): every mandate with system, supplier, service
  version, dates and status, and who administers the mandates for the school's board;
- the school's application landscape (its school administrator): systems, flows, consent or
  mandate state, last successful exchange and open errors, as an SVG diagram and a table;
- the public list of qualified keurmerk participants per service version."""

from __future__ import annotations

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from eduketen.core.errors import json_response
from eduketen.core.platform import Platform, today_nl
from eduketen.core.security import client_key
from eduketen.insight import landscape as landscape_svc
from eduketen.insight import security
from eduketen.insight.api import ROLE_LABELS, _message
from eduketen.insight.pages import render
from eduketen.keurmerk import service as keurmerk_svc
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import School

router = APIRouter(prefix="/insight", include_in_schema=False)
MAX_FIELD = 200
STATUS_LABELS = {"actief": "Actief", "toekomstig": "Toekomstig", "verlopen": "Verlopen", "ingetrokken": "Ingetrokken"}


# -- the mandate check ---------------------------------------------------------------------------------


class CheckProblem(Exception):
    def __init__(self, status: int, message: str, candidates: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.candidates = status, message, candidates or []


def _field(request: Request, name: str) -> str:
    value = request.query_params.get(name, "")
    if len(value) > MAX_FIELD:
        raise CheckProblem(400, f"Het veld '{name}' is te lang (hoogstens {MAX_FIELD} tekens).")
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise CheckProblem(400, f"Het veld '{name}' bevat tekens die hier niet horen.")
    return " ".join(value.split())


def _limited(request: Request) -> float:
    platform: Platform = request.app.state.platform
    return platform.views["osr_limiter"].take("mandaatcheck|" + client_key(request.scope, platform.trusted))


def _check(request: Request) -> dict:
    """The question from the query string, answered; CheckProblem when it cannot be."""
    school_text, supplier_text = _field(request, "school"), _field(request, "leverancier")
    service_text, version_text = _field(request, "dienst"), _field(request, "versie")
    if not (school_text and supplier_text and service_text):
        raise CheckProblem(400, "Vul de school (BRIN of naam), de leverancier (naam of OIN) en de dienst in.")
    platform: Platform = request.app.state.platform
    day = today_nl()
    with platform.read_sessions() as session:
        schools = register.lookup_schools(session, school_text)
        if not schools:
            raise CheckProblem(404, "Geen school gevonden bij wat u opgaf. Geef de BRIN (4 tekens), het OIN of een deel van de naam.")
        if len(schools) > 1:
            raise CheckProblem(409, "Meer dan één school past bij wat u opgaf; kies er een.",
                               [{"naam": s.name, "brin": s.brin} for s in schools])  # fmt: skip
        suppliers = register.lookup_suppliers(session, supplier_text)
        if not suppliers:
            raise CheckProblem(404, "Geen leverancier gevonden bij wat u opgaf. Geef het OIN (20 cijfers) of de naam.")
        if len(suppliers) > 1:
            raise CheckProblem(409, "Meer dan één leverancier past bij wat u opgaf; kies er een.",
                               [{"naam": s.name, "oin": s.oin} for s in suppliers])  # fmt: skip
        service = register_repo.service_by_name(session, service_text)
        if service is None:
            known = ", ".join(s.name for s in register_repo.services(session))
            raise CheckProblem(404, f"Deze dienst staat niet in het register; bekend zijn: {known}.")
        if version_text and register_repo.service_version(session, service.id, version_text) is None:
            raise CheckProblem(404, f"De dienst {service.name} heeft deze versie niet in het register.")
        school, supplier = schools[0], suppliers[0]
        yes = register.is_mandated(session, school=school, supplier=supplier, service=service, version=version_text or None, day=day)
        return {"antwoord": "ja" if yes else "nee", "datum": day.isoformat(),
                "school": {"naam": school.name, "brin": school.brin, "id": school.id},
                "leverancier": {"naam": supplier.name, "oin": supplier.oin},
                "dienst": service.name, "versie": version_text or None}  # fmt: skip


def _services(request: Request) -> list[str]:
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        return [s.name for s in register_repo.services(session)]


def _asked(request: Request) -> bool:
    return any(request.query_params.get(k) for k in ("school", "leverancier", "dienst", "versie"))


@router.get("/mandaatcheck")
def mandate_check_page(request: Request) -> Response:
    """Anyone: yes or no, in plain Dutch. A staff member of the school also gets a link to the
    school's own mandate page."""
    staff = security.staff_from_request(request)
    context = {"staff": staff, "csrf": staff.csrf if staff else None, "role_label": ROLE_LABELS.get(staff.role) if staff else None,
               "services": _services(request), "form": {k: request.query_params.get(k, "")[:MAX_FIELD]
                                                        for k in ("school", "leverancier", "dienst", "versie")}}  # fmt: skip
    if not _asked(request):
        return render("mandate_check.html", **context)
    wait = _limited(request)
    if wait:
        retry = str(max(1, round(wait + 0.5)))
        return render("mandate_check.html", status=429, problem="Te veel vragen achter elkaar; wacht even en probeer het opnieuw.",
                      headers={"Retry-After": retry}, **context)  # fmt: skip
    try:
        answer = _check(request)
    except CheckProblem as exc:
        return render("mandate_check.html", status=exc.status, problem=exc.message, candidates=exc.candidates, **context)
    own_school = staff is not None and staff.may_manage_school(answer["school"]["id"])
    return render("mandate_check.html", answer=answer, own_school=own_school, **context)


@router.get("/mandaatcheck.json")
def mandate_check_json(request: Request) -> Response:
    """The same question as JSON: {"antwoord": "ja"|"nee", ...}; problems as {"status", "title", "detail"}."""
    wait = _limited(request)
    if wait:
        retry = str(max(1, round(wait + 0.5)))
        return json_response(429, {"status": 429, "title": "Too many requests", "detail": f"te veel vragen; probeer over {retry} s opnieuw"},
                             headers={"Retry-After": retry})  # fmt: skip
    try:
        answer = _check(request)
    except CheckProblem as exc:
        body = {"status": exc.status, "title": {400: "Bad request", 404: "Not found", 409: "Ambiguous"}[exc.status], "detail": exc.message}
        if exc.candidates:
            body["kandidaten"] = exc.candidates
        return json_response(exc.status, body)
    answer["school"].pop("id")
    return json_response(200, answer)


# -- the school's own pages -----------------------------------------------------------------------------


def _school_page(request: Request) -> tuple[security.Staff | None, School | None, Response | None]:
    """The staff member and the school the page is about; or the answer when not allowed.
    A school administrator sees only their own school (another school's BRIN: 403); a platform
    administrator names the school with ?school=<BRIN>."""
    staff = security.staff_from_request(request)
    if staff is None:
        return None, None, RedirectResponse("/insight/login", status_code=303)
    asked = request.query_params.get("school", "")[:20].strip().upper()
    platform: Platform = request.app.state.platform

    def refuse(title: str, message: str, status: int):
        return staff, None, _message(title, message, status, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])

    with platform.read_sessions() as session:
        if staff.role == "school-administrator":
            school = session.get(School, staff.school_id)
            if asked and (school is None or asked != school.brin):
                return refuse("Geen toegang", "U beheert alleen de gegevens van uw eigen school.", 403)
        elif staff.role == "platform-admin":
            school = register_repo.school_by_brin(session, asked) if asked else None
            if school is None:
                return refuse("Geen school", "Geef de school aan met ?school=<BRIN>.", 404)
        else:
            return refuse("Geen toegang", "Deze pagina is voor de schoolbeheerder van een school.", 403)
        session.expunge(school)
        return staff, school, None


@router.get("/mandaten")
def mandates_page(request: Request) -> Response:
    staff, school, refusal = _school_page(request)
    if refusal:
        return refusal
    platform: Platform = request.app.state.platform
    day = today_nl()
    with platform.read_sessions() as session:
        rows = register.school_mandates(session, school, day)
        admins = register.board_administrators(session, school.board)
    counts = {s: sum(1 for r in rows if r.status == s) for s in STATUS_LABELS}
    return render("mandates.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, rows=rows, day=day,
                  admins=admins, counts=counts, status_labels=STATUS_LABELS)  # fmt: skip


@router.get("/landschap")
def landscape_page(request: Request) -> Response:
    staff, school, refusal = _school_page(request)
    if refusal:
        return refusal
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        land = landscape_svc.build(session, school, own_oin=platform.settings.own_oin, day=today_nl())
        diagram = Markup(landscape_svc.svg(land))  # built from escaped parts only
        rows = landscape_svc.table_rows(land)
    return render("landscape.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, land=land,
                  diagram=diagram, rows=rows, health_labels=landscape_svc.HEALTH_LABELS)  # fmt: skip


# -- the keurmerk, public -------------------------------------------------------------------------------


@router.get("/keurmerk")
def keurmerk_page(request: Request) -> Response:
    """Anyone: per gegevensdienst and version, the suppliers qualified for it (no evidence)."""
    platform: Platform = request.app.state.platform
    dienst = request.query_params.get("dienst", "")[:MAX_FIELD].strip() or None
    staff = security.staff_from_request(request)
    context = {"staff": staff, "csrf": staff.csrf if staff else None, "role_label": ROLE_LABELS.get(staff.role) if staff else None}
    with platform.read_sessions() as session:
        try:
            listing = keurmerk_svc.public_list(session, dienst)
        except keurmerk_svc.KeurmerkError:
            return _message("Niet gevonden", "Deze gegevensdienst staat niet in het register.", 404, **context)
    return render("keurmerk.html", listing=listing, dienst=dienst, **context)
