"""HTTP side of learning progress: ``PUT /leervoortgang/v1/progress/{id}`` (Edu-V Progress API)
and ``POST /leervoortgang/v1/progress`` (bulk: thousands of records, one transaction). OAuth2
scope ``eduv.progress``; the school's consent for ``progress-api`` from the caller's system to this
installation's progress system is checked for every school in the request."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError, json_response
from eduketen.core.oauth.api import Bearer
from eduketen.core.oauth.service import Principal
from eduketen.core.platform import Platform
from eduketen.leervoortgang import service as svc
from eduketen.leervoortgang.schemas import API_VERSION, Progress, ProgressBulk
from eduketen.register import consent as consent_svc
from eduketen.register import repository as register_repo

API = "progress-api"
SCOPE = "eduv.progress"
PREFIX = "/leervoortgang/v1"
BULK_PATH = f"{PREFIX}/progress"

router = APIRouter(prefix=PREFIX, tags=["leervoortgang v1"])
bearer = Bearer(SCOPE)


def _receiving_system_id(session: Session, platform: Platform) -> int | None:
    settings = platform.settings
    if not settings.own_oin:
        return None
    supplier = register_repo.supplier_by_oin(session, settings.own_oin)
    system = register_repo.system_by_name(session, supplier.id, settings.progress_system) if supplier else None
    return system.id if system else None


def _school_id(session: Session, cache: dict, ref) -> int | None:
    key = (ref.idType, ref.id.upper())
    if key not in cache:
        school = register_repo.school_by_oin(session, ref.id) if ref.idType == "OIN" else register_repo.school_by_brin(session, ref.id.upper())
        cache[key] = school.id if school else None
    return cache[key]


def accept(platform: Platform, principal: Principal, records: list[tuple[str, Progress]]) -> dict:
    """Consent per school, then one upsert, in one transaction; all or nothing."""
    try:
        return _accept(platform, principal, records)
    except consent_svc.ConsentRefused as exc:  # counted for the school's landscape page, after the rollback
        consent_svc.note_refusal(platform.sessions, exc)
        school = exc.school_ref
        raise ApiError(403, "No consent", f"school {school.idType} {school.id}: {exc.message}") from exc


def _accept(platform: Platform, principal: Principal, records: list[tuple[str, Progress]]) -> dict:
    with unit_of_work(platform.sessions) as session:
        receiver = _receiving_system_id(session, platform)
        schools: dict = {}
        allowed: set[int] = set()
        triples = []
        for rid, record in records:
            school_id = _school_id(session, schools, record.school)
            if school_id not in allowed:
                try:
                    consent_svc.require_consent(session, school_id=school_id, api=API, source_system_id=principal.system_id,
                                                receiving_system_id=receiver)  # fmt: skip
                except consent_svc.ConsentRefused as exc:
                    exc.school_ref = record.school
                    raise
                allowed.add(school_id)
            triples.append((rid, record, school_id))
        stored = svc.store(session, triples, source_system_id=principal.system_id)
        return {"received": stored.received, "applied": stored.applied, "stale": stored.stale}


def _json_body(raw: bytes):
    if not raw:
        raise ApiError(422, "Invalid body", "The body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "Bad request", "The body is not valid JSON (UTF-8).") from exc


def _problems(exc: ValidationError, prefix: str = "") -> list[dict]:
    return [{"field": prefix + "/".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors(include_url=False)[:50]]


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "Unsupported media type", "Send the progress as application/json.")


@router.put("/progress/{record_id}", summary="Create or update one progress record (the newer state wins)",
            responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}})  # fmt: skip
async def put_progress(record_id: str, request: Request, principal: Annotated[Principal, Depends(bearer)]):
    try:
        rid = str(UUID(record_id))
    except ValueError:
        raise ApiError(422, "Invalid id", "The id in the path must be a UUID.") from None
    if len(record_id) != 36:
        raise ApiError(422, "Invalid id", "The id in the path must be a UUID in its 36-character form.")
    _check_content_type(request)
    data = _json_body(await request.body())
    try:
        record = Progress.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "Invalid progress", "The record does not match the schema; nothing was stored.", errors=_problems(exc)) from None
    if record.id is not None and str(record.id) != rid:
        raise ApiError(422, "Invalid progress", "The id in the body differs from the id in the path.")
    answer = await run_in_threadpool(accept, request.app.state.platform, principal, [(rid, record)])
    return json_response(200, answer, headers={"API-Version": API_VERSION})


@router.post("/progress", summary="Many progress records in one request (one transaction; the newer state of each record wins)",
             responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}})  # fmt: skip
async def post_bulk(request: Request, principal: Annotated[Principal, Depends(bearer)]):
    _check_content_type(request)
    raw = await request.body()
    if not raw:
        raise ApiError(422, "Invalid body", "The body is empty; send {\"records\": [...]}.")
    try:
        bulk = ProgressBulk.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "Bad request", "The body is not valid JSON (UTF-8).") from None
        raise ApiError(422, "Invalid progress", "Records do not match the schema; nothing was stored.", errors=_problems(exc)) from None
    missing = [i for i, r in enumerate(bulk.records) if r.id is None]
    if missing:
        raise ApiError(422, "Invalid progress", "Every record in a bulk request needs its id; nothing was stored.",
                       errors=[{"field": f"records/{i}/id", "problem": "Field required"} for i in missing[:50]])  # fmt: skip
    records = [(str(r.id), r) for r in bulk.records]
    answer = await run_in_threadpool(accept, request.app.state.platform, principal, records)
    return json_response(200, answer, headers={"API-Version": API_VERSION})
