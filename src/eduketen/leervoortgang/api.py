"""HTTP side of learning progress: ``PUT /leervoortgang/v1/progress/{id}`` (Edu-V Progress API)
and ``POST /leervoortgang/v1/progress`` (bulk: thousands of records, one transaction). OAuth2
scope ``eduv.progress``; the school's consent for ``progress-api`` from the caller's system to this
installation's progress system is checked for every school in the request."""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError, json_response
from eduketen.core.oauth.api import Bearer
from eduketen.core.oauth.service import Principal
from eduketen.core.platform import Platform
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc
from eduketen.leervoortgang.schemas import (
    API_VERSION,
    BULK,
    MAX_RECORDS,
    RECORD,
    RecordIn,
    check,
    decode_record,
    decode_records,
    record_from_dict,
)
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


# On SQLite one writer at a time: requests of this process queue here and go on the moment the
# previous one commits, instead of sleeping in SQLite's busy handler (in steps up to 100 ms).
# Between processes (serve --processes N, the worker) the write transaction's BEGIN IMMEDIATE
# waits for the lock, looking again every millisecond (core.db.begin_immediate).
_SQLITE_WRITER = threading.Lock()


def accept(platform: Platform, principal: Principal, records: list[RecordIn], ids: list[str] | None = None) -> dict:
    """Schools resolved at once (a read), the rows prepared outside any transaction, then in one
    short write transaction: consent per school and the store; all or nothing. ``ids``: the
    record ids in lower case (bulk: each record's own ``id``)."""
    refs: dict[tuple[str, str], None] = {}  # (idType, id as sent): the schools in order of first appearance
    for record in records:
        ref = record.school
        refs[(ref.id_type, ref.id)] = None
    wanted = {(id_type, ident.upper()) for id_type, ident in refs}
    with platform.read_sessions() as session:
        receiver = _receiving_system_id(session, platform)
        found = register_repo.school_ids(session, [i for t, i in wanted if t == "BRIN"], [i for t, i in wanted if t == "OIN"])
    school_ids: dict[tuple[str, str], int | None] = {}  # (idType, id upper case) -> school id
    of_ref: dict[tuple[str, str], int | None] = {}
    for id_type, ident in refs:
        key = (id_type, ident.upper())
        of_ref[(id_type, ident)] = school_ids.setdefault(key, found.get(key))
    sqlite = platform.engine.dialect.name == "sqlite"
    if ids is None:
        ids = [record.id.lower() for record in records]
    rows = svc.prepare([(rid, record, of_ref[(record.school.id_type, record.school.id)]) for rid, record in zip(ids, records)],
                       source_system_id=principal.system_id, times=repo.time_binder(platform.engine))  # fmt: skip
    refused: tuple[str, str, consent_svc.ConsentRefused] | None = None
    with _SQLITE_WRITER if sqlite else contextlib.nullcontext(), unit_of_work(platform.sessions) as session:
        try:
            consent_svc.require_consents(session, list(school_ids.values()), api=API, source_system_id=principal.system_id,
                                         receiving_system_id=receiver)  # fmt: skip
        except consent_svc.ConsentRefused as exc:
            refused = (*list(school_ids)[exc.index], exc)
        else:
            stored = svc.store_prepared(session, len(records), rows)
    if refused is not None:  # nothing was stored; counted for the school's landscape page in its own transaction
        id_type, ident, exc = refused
        consent_svc.note_refusal(platform.sessions, exc)
        raise ApiError(403, "No consent", f"school {id_type} {ident}: {exc.message}") from exc
    return {"received": stored.received, "applied": stored.applied, "stale": stored.stale}


def _problems(exc: ValidationError, prefix: str = "") -> list[dict]:
    return [{"field": prefix + "/".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors(include_url=False)[:50]]


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "Unsupported media type", "Send the progress as application/json.")


def _validate(adapter, raw: bytes, what: str):
    """Validate JSON bytes with a pydantic adapter in one call; broken JSON is a 400, a schema miss
    a 422 naming the fields."""
    if not raw:
        raise ApiError(422, "Invalid body", f"The body is empty; send {what}.")
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "Bad request", "The body is not valid JSON (UTF-8).") from None
        raise ApiError(422, "Invalid progress", "The body does not match the schema; nothing was stored.", errors=_problems(exc)) from None


def _validate_record(raw: bytes) -> RecordIn:
    """One record: msgspec in one pass, or pydantic when msgspec does not take it (``schemas``)."""
    record = decode_record(raw)
    return record if record is not None else record_from_dict(_validate(RECORD, raw, "a JSON object"))


# Bytes of a bulk body validated per call (see _validate_bulk): about 100 records.
PART_BYTES = 64 * 1024
_HEAD = re.compile(rb'\s*\{\s*"records"\s*:\s*\[')
_BETWEEN = re.compile(rb"\}\s*,\s*\{")  # the end of one object and the start of the next
_SPACE = b" \t\r\n"


def _skip_back(raw: bytes, i: int) -> int:
    while i > 0 and raw[i - 1] in _SPACE:
        i -= 1
    return i


def _parts(raw: bytes) -> list[bytes] | None:
    """The records of a body ``{"records": [...]}`` as JSON arrays of about ``PART_BYTES`` each,
    cut where one record object ends and the next begins (``}``, ``,``, ``{``); None when the body
    does not have that shape. The cuts are found without parsing: one that falls inside a string
    or a nested value leaves a part that is not valid JSON (an unterminated string, unbalanced
    brackets), so it can never change what the records say, only send the body to the
    whole-body validation."""
    head = _HEAD.match(raw)
    if head is None:
        return None
    end = _skip_back(raw, len(raw))
    if end == 0 or raw[end - 1] != 0x7D:  # }
        return None
    end = _skip_back(raw, end - 1)
    if end == 0 or raw[end - 1] != 0x5D:  # ]
        return None
    start, stop, parts = head.end(), end - 1, []
    while stop - start > PART_BYTES:
        cut = _BETWEEN.search(raw, start + PART_BYTES, stop)
        if cut is None:
            break
        parts.append(b"[" + raw[start : cut.start() + 1] + b"]")
        start = cut.end() - 1
    parts.append(b"[" + raw[start:stop] + b"]")
    return parts


def _validate_bulk(raw: bytes) -> list[RecordIn]:
    """The records of a bulk body, decoded and checked from the JSON bytes (msgspec, ``schemas``)
    in parts of about ``PART_BYTES`` (``_parts``), one call each: one call over 2,000 records
    would hold Python's interpreter lock for milliseconds, and every time the thread that stores
    the previous request waits for the database (a dozen times a request on PostgreSQL) it must
    then wait that long to take the lock back (measured with pydantic, ``accept`` of 2,000
    records on PostgreSQL while another thread validated bodies: 1.3 s a request in one call,
    0.39 s in calls of 100 records, 0.13 s alone). Anything the parts do not take (another shape,
    a value msgspec refuses) goes through the pydantic adapter of the whole body, so the answer
    to bad input (400 or 422 with the fields named) and what lax input means stay the same."""
    parts = _parts(raw) if raw else None
    if parts is not None:
        records: list[RecordIn] = []
        for part in parts:
            got = decode_records(part)
            if got is None:
                break
            records += got
        else:
            if 1 <= len(records) <= MAX_RECORDS:
                return records
    return [record_from_dict(r) for r in _validate(BULK, raw, "{\"records\": [...]}")["records"]]


def _check_rules(records: list[RecordIn], prefix: str) -> None:
    problems = []
    for i, record in enumerate(records):
        if record.score is not None or record.judgement is not None:
            found = check(record)
            if found:
                problems += [{"field": f"{prefix}{i}/{f}" if prefix else f, "problem": p} for f, p in found]
    if problems:
        raise ApiError(422, "Invalid progress", "The body does not match the schema; nothing was stored.", errors=problems[:50])


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
    record = _validate_record(await request.body())
    _check_rules([record], "")
    if record.id is not None and record.id.lower() != rid:
        raise ApiError(422, "Invalid progress", "The id in the body differs from the id in the path.")
    answer = await run_in_threadpool(accept, request.app.state.platform, principal, [record], [rid])
    return json_response(200, answer, headers={"API-Version": API_VERSION})


@router.post("/progress", summary="Many progress records in one request (one transaction; the newer state of each record wins)",
             responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}})  # fmt: skip
async def post_bulk(request: Request, principal: Annotated[Principal, Depends(bearer)]):
    _check_content_type(request)
    records = _validate_bulk(await request.body())
    missing = [i for i, r in enumerate(records) if r.id is None]
    if missing:
        raise ApiError(422, "Invalid progress", "Every record in a bulk request needs its id; nothing was stored.",
                       errors=[{"field": f"records/{i}/id", "problem": "Field required"} for i in missing[:50]])  # fmt: skip
    _check_rules(records, "records/")
    answer = await run_in_threadpool(accept, request.app.state.platform, principal, records)
    return json_response(200, answer, headers={"API-Version": API_VERSION})
