"""HTTP side of the results exchange: ``POST /toetsresultaten/v1/results`` (current) and
``/toetsresultaten/v0/results`` (previous major, still served), each answer with ``API-Version``;
the OpenAPI document of these endpoints; the staff/admin view (results per pupil and assessment,
CSV export, deletion on request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastApiPath
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from eduketen.core import audit
from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError, json_response
from eduketen.core.oauth.api import Bearer
from eduketen.core.oauth.service import Principal
from eduketen.core.platform import Platform
from eduketen.register import consent as consent_svc
from eduketen.register import repository as register_repo
from eduketen.register.models import School
from eduketen.toetsresultaten import service as svc
from eduketen.toetsresultaten.schemas import (
    API_VERSIONS,
    Accepted,
    AssessmentScoresAndResults,
    AssessmentScoresAndResultsV0,
    Problem,
    SchoolRef,
    upgrade_v0,
)

API = "results-api"
SCOPE = "eduv.result"
PREFIX = "/toetsresultaten"

ERRORS = {
    400: {"model": Problem, "description": "the body cannot be read at all (not UTF-8)"},
    401: {"model": Problem, "description": "no valid access token (from /oauth/token, scope eduv.result)"},
    403: {"model": Problem, "description": "the token lacks eduv.result, or the school's consent for results-api from the "
                                           "caller's system to this system is not in force"},  # fmt: skip
    413: {"model": Problem, "description": "body too large"},
    415: {"model": Problem, "description": "content type is not application/json"},
    422: {"model": Problem, "description": "the bundle does not match the schema, or does not hold together "
                                           "(unknown scale or part, value outside its scale, a student twice)"},  # fmt: skip
}


def school_for(session: Session, ref: SchoolRef) -> School | None:
    if ref.idType == "OIN":
        return register_repo.school_by_oin(session, ref.id)
    return register_repo.school_by_brin(session, ref.id.upper())


def receiving_system_id(session: Session, platform: Platform) -> int | None:
    settings = platform.settings
    if not settings.own_oin:
        return None
    supplier = register_repo.supplier_by_oin(session, settings.own_oin)
    system = register_repo.system_by_name(session, supplier.id, settings.results_system) if supplier else None
    return system.id if system else None


def accept_bundle(platform: Platform, principal: Principal, bundle: AssessmentScoresAndResults, api_version: str) -> dict:
    """Coherence first (no database), then consent and storage in one short transaction: a
    consent switched off commits before or after it, never half-way. Raises ApiError 403/422."""
    try:
        svc.check(bundle)
        coherent = None
    except svc.BundleProblems as exc:
        coherent = exc
    refused = None
    for attempt in range(3):
        try:
            with unit_of_work(platform.sessions) as session:
                school = school_for(session, bundle.school)
                try:
                    consent_svc.require_consent(
                        session,
                        school_id=school.id if school else None,
                        api=API,
                        source_system_id=principal.system_id,
                        receiving_system_id=receiving_system_id(session, platform),
                    )
                except consent_svc.ConsentRefused as exc:
                    refused = exc
                    raise ApiError(403, "No consent", exc.message) from exc
                if coherent is not None:  # told only to a sender the school lets in
                    raise ApiError(422, "Invalid bundle", "The bundle does not hold together; nothing was stored.",
                                   errors=coherent.problems) from coherent  # fmt: skip
                stored = svc.store(session, bundle, school_id=school.id, source_system_id=principal.system_id, api_version=api_version)
                return {"assessment": bundle.assessment.id, "students": len(bundle.students),
                        "created": stored.created, "updated": stored.updated}  # fmt: skip
        except ApiError:
            if refused is not None:  # counted for the school's landscape page, after the rollback
                consent_svc.note_refusal(platform.sessions, refused)
            raise
        except IntegrityError:
            if attempt == 2:  # two senders raced for the same new rows three times
                raise ApiError(409, "Conflict", "The same results were stored concurrently; send again.") from None
    raise AssertionError("unreachable")


def _router(major: str) -> APIRouter:
    return APIRouter(prefix=f"{PREFIX}/{major}", tags=[f"toetsresultaten {major}"])


v1 = _router("v1")
v0 = _router("v0")
bearer = Bearer(SCOPE)


@v1.post("/results", status_code=201, response_model=Accepted, responses=ERRORS, operation_id="postResults",
         summary="Results of 1..n students on one assessment (create or update; the latest state wins)")  # fmt: skip
async def post_results(bundle: AssessmentScoresAndResults, request: Request, principal: Annotated[Principal, Depends(bearer)]):
    answer = await run_in_threadpool(accept_bundle, request.app.state.platform, principal, bundle, API_VERSIONS["v1"])
    return json_response(201, answer)


@v0.post("/results", status_code=201, response_model=Accepted, responses=ERRORS, operation_id="postResultsV0",
         summary="Previous major version: students named with flat eckId/userId/userIdType")  # fmt: skip
async def post_results_v0(bundle: AssessmentScoresAndResultsV0, request: Request, principal: Annotated[Principal, Depends(bearer)]):
    answer = await run_in_threadpool(accept_bundle, request.app.state.platform, principal, upgrade_v0(bundle), API_VERSIONS["v0"])
    return json_response(201, answer)


def openapi_document(major: str) -> dict:
    router = {"v1": v1, "v0": v0}[major]
    document = get_openapi(
        title=f"eduketen toetsresultaten {major}",
        version=API_VERSIONS[major],
        openapi_version="3.1.0",
        description="Results API of eduketen (Edu-V Results API, sector-wide base model). "
        "Authenticate with an access token from /oauth/token (client_credentials + private_key_jwt, scope eduv.result).",
        routes=router.routes,
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "eduv": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {SCOPE: "deliver results"}}}}
    }
    document["security"] = [{"eduv": [SCOPE]}]
    return document


spec_router = APIRouter(tags=["toetsresultaten"])


@spec_router.get(f"{PREFIX}/{{major}}/openapi.json", include_in_schema=False)
def served_openapi(major: str):
    if major not in API_VERSIONS:
        raise ApiError(404, "Not found", f"versions served: {', '.join(API_VERSIONS)}")
    return json_response(200, openapi_document(major))


class ApiVersionMiddleware:
    """Every answer under /toetsresultaten/<major>/ carries ``API-Version`` (the full version of
    that major, Edu-V Versiebeheer); a POST whose content type is not JSON gets 415 before it is read."""

    def __init__(self, app) -> None:
        self.app = app
        self.prefixes = [(f"{PREFIX}/{major}/".encode(), version.encode()) for major, version in API_VERSIONS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("raw_path") or scope["path"].encode()
        version = next((v for p, v in self.prefixes if path.startswith(p)), None)
        if version is None:
            return await self.app(scope, receive, send)
        if scope["method"] == "POST":
            ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").split(b";")[0].strip().lower()
            if ctype != b"application/json":
                response = json_response(415, {"status": 415, "title": "Unsupported media type",
                                               "detail": "Send the bundle as application/json."},
                                         headers={"API-Version": version.decode()})  # fmt: skip
                return await response(scope, receive, send)

        async def send_with_version(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"api-version", version)]}
            await send(message)

        await self.app(scope, receive, send_with_version)


# -- the administration view (admin credential, or a school administrator's session) -------------

admin_router = APIRouter(prefix="/admin/toetsresultaten", tags=["admin: toetsresultaten"])
StudentType = Annotated[str, Query(min_length=1, max_length=200, alias="type", description="eckId, or the userIdType")]
StudentId = Annotated[str, Query(min_length=1, max_length=300, alias="id", pattern=r"^[^\x00]*$")]
SchoolKey = Annotated[str, FastApiPath(min_length=4, max_length=20, pattern=r"^[0-9A-Za-z]+$")]


class Reader:
    """Who reads: the platform admin (any school) or staff of the school (school administrator;
    a platform admin account). A staff session changing data also sends its CSRF token."""

    def __init__(self, platform: Platform, actor: str, school_id: int | None) -> None:
        self.platform, self.actor, self.school_id = platform, actor, school_id


def reader(request: Request) -> Reader:
    from eduketen.core.admin import require_admin
    from eduketen.insight.security import csrf_ok, staff_from_request

    platform: Platform = request.app.state.platform
    if request.headers.get("authorization"):
        require_admin(request)
        return Reader(platform, "admin", None)
    staff = staff_from_request(request)
    if staff is None:
        raise ApiError(401, "Unauthorized", "Send the admin credential, or log in on /insight/login as staff of the school.")
    if staff.role not in ("school-administrator", "platform-admin"):
        raise ApiError(403, "Forbidden", "Results are shown to the school's administrator only.")
    if request.method not in ("GET", "HEAD") and not csrf_ok(staff, request.headers.get("x-csrf-token")):
        raise ApiError(403, "Forbidden", "Missing or wrong X-CSRF-Token for this session.")
    return Reader(platform, staff.actor, None if staff.role == "platform-admin" else staff.school_id)


ReaderDep = Annotated[Reader, Depends(reader)]


def _school(session: Session, who: Reader, key: str) -> School:
    school = register_repo.school_by_oin(session, key) if len(key) == 20 else register_repo.school_by_brin(session, key.upper())
    if school is None or (who.school_id is not None and school.id != who.school_id):
        # Another school's data and an unknown school get the same answer.
        raise ApiError(404, "Not found", f"No school {key!r} among the schools you may see.")
    return school


@admin_router.get("/schools/{school}/assessments", summary="Assessments with results at a school (no pupil data)")
def list_assessments(school: SchoolKey, who: ReaderDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0, le=10**7)] = 0) -> dict:  # fmt: skip
    with who.platform.read_sessions() as session:
        row = _school(session, who, school)
        return {"school": row.brin, "assessments": [
            {**svc.assessment_out(a), "students": n} for a, n in svc.repo.assessments_of_school(session, row.id, limit, offset)
        ]}  # fmt: skip


@admin_router.get("/schools/{school}/assessments/{assessment_id}", summary="Every student's results on one assessment (audited)")
def assessment_results(school: SchoolKey, assessment_id: Annotated[int, FastApiPath(ge=1, le=2**31 - 1)], who: ReaderDep) -> dict:
    with unit_of_work(who.platform.sessions) as session:
        row = _school(session, who, school)
        assessment = svc.repo.assessment_by_id(session, assessment_id)
        if assessment is None or assessment.school_id != row.id:
            raise ApiError(404, "Not found", f"No assessment {assessment_id} at this school.")
        students = svc.repo.student_rows(session, assessment.id)
        audit.record(session, actor=who.actor, action="read", subject_type="student-result",
                     subject_ids=[f"{r.student_key_type}:{r.student_key}" for r in students], purpose="results per assessment")  # fmt: skip
        return {**svc.assessment_out(assessment), "students": [svc.student_out(r) for r in students]}


@admin_router.get("/schools/{school}/student", summary="One pupil's results on every assessment (audited)")
def student_results(school: SchoolKey, key_type: StudentType, key: StudentId, who: ReaderDep) -> dict:
    with unit_of_work(who.platform.sessions) as session:
        row = _school(session, who, school)
        kt, k = svc.parse_student_key(key_type, key)
        rows = svc.repo.results_of_student(session, row.id, kt, k)
        audit.record(session, actor=who.actor, action="read", subject_type="student-result", subject_ids=[f"{kt}:{k}"],
                     purpose="results per pupil")  # fmt: skip
        return {
            "school": row.brin,
            "student": {"type": kt, "id": k},
            "results": [{"assessment": svc.assessment_out(a), **svc.student_out(r)} for r, a in rows],
        }


@admin_router.get("/schools/{school}/export.csv", summary="CSV export of a school's results (audited)",
                  responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def export_csv(school: SchoolKey, who: ReaderDep, assessment: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None):
    import csv
    import io

    from starlette.responses import Response

    with unit_of_work(who.platform.sessions) as session:
        row = _school(session, who, school)
        rows = list(svc.repo.results_of_school(session, row.id, assessment))
        audit.record(session, actor=who.actor, action="export", subject_type="student-result",
                     subject_ids=sorted({f"{r.student_key_type}:{r.student_key}" for r, _ in rows}), purpose="CSV export")  # fmt: skip
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(svc.CSV_COLUMNS)
        for line in svc.csv_rows(rows, row.brin):
            writer.writerow([_csv_safe(v) for v in line])
    filename = f"toetsresultaten-{row.brin}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})  # fmt: skip


def _csv_safe(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would be a formula in a spreadsheet; numbers stay as they are.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and svc._number(text) is None:
        return "'" + text
    return text


@admin_router.delete("/schools/{school}/student", summary="Delete a pupil's results on request (audited)")
def delete_student(school: SchoolKey, key_type: StudentType, key: StudentId, who: ReaderDep,
                   reason: Annotated[str, Query(min_length=3, max_length=200, pattern=r"^[^\x00]*$")]) -> dict:  # fmt: skip
    with unit_of_work(who.platform.sessions) as session:
        row = _school(session, who, school)
        kt, k = svc.parse_student_key(key_type, key)
        removed = svc.repo.delete_student(session, row.id, kt, k)
        audit.record(session, actor=who.actor, action="delete", subject_type="student-result", subject_ids=[f"{kt}:{k}"],
                     purpose=f"deletion on request: {reason}")  # fmt: skip
        return {"school": row.brin, "student": {"type": kt, "id": k}, "deleted": removed}
