"""The register as an OSR-compatible REST API (JSON, HAL ``_links``), role ``register``.

Callers are identified by their client certificate, as everywhere. A third party asking whether a
school mandated a supplier gets only OK or NOK; the mandated supplier itself also gets the token,
start and end date. Reads are rate-limited per caller against bulk reading (429)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from eduketen.core.auth import Caller, CertificateProblem, caller_from_scope
from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError
from eduketen.core.identifiers import IdentifierError, validate_oin, validate_routeringskenmerk
from eduketen.core.platform import Platform, today_nl
from eduketen.register import repository as repo
from eduketen.register import service as svc
from eduketen.register.models import Endpoint, School, Service, ServiceVersion
from eduketen.register.schemas import EndpointIn

PREFIX = "/osr/api/v2"
router = APIRouter(prefix=PREFIX, tags=["register: OSR-compatible API"])


def osr_caller(request: Request) -> tuple[Platform, Caller]:
    platform: Platform = request.app.state.platform
    try:
        caller = caller_from_scope(request.scope, platform.trusted)
    except CertificateProblem as exc:
        raise ApiError(401, "Unauthorized", f"client certificate not usable: {exc}") from exc
    if caller is None:
        raise ApiError(401, "Unauthorized", "a client certificate (PKIoverheid or ODOC) is required")
    request.scope.setdefault("state", {})["caller_oin"] = caller.oin
    return platform, caller


def osr_reader(request: Request) -> tuple[Platform, Caller]:
    platform, caller = osr_caller(request)
    wait = platform.views["osr_limiter"].take(caller.oin)
    if wait:
        retry = max(1, round(wait + 0.5))
        raise ApiError(429, "Too many requests", f"reads are limited per caller; retry after {retry} s", headers={"Retry-After": str(retry)})
    return platform, caller


Reader = Annotated[tuple[Platform, Caller], Depends(osr_reader)]
Writer = Annotated[tuple[Platform, Caller], Depends(osr_caller)]


def _required(name: str, value: str | None) -> str:
    if not value:
        raise ApiError(400, "Bad request", f"query parameter {name} is required")
    return value


def _oin(name: str, value: str) -> str:
    try:
        return validate_oin(value)
    except IdentifierError as exc:
        raise ApiError(400, "Bad request", f"{name}: {exc}") from exc


def _day(value: str | None) -> date:
    if not value:
        return today_nl()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, "Bad request", "reference_date must be YYYY-MM-DD") from exc


def _refused(exc: svc.RegisterError) -> ApiError:
    return ApiError(exc.status, "Refused", str(exc))


def _school_out(school: School) -> dict:
    return {
        "oin": school.oin,
        "brin": school.brin,
        "name": school.name,
        "_links": {"self": {"href": f"{PREFIX}/schools?oin={school.oin}"}},
    }


def _endpoint_out(endpoint: Endpoint, school: School, namespace: str) -> dict:
    return {
        "administration_id": endpoint.administration_id,
        "school_oin": school.oin,
        "service_version_namespace": namespace,
        "url": endpoint.url,
        "attributes": json.loads(endpoint.attributes),
        "start_date": endpoint.start_date.isoformat(),
        "end_date": endpoint.end_date.isoformat() if endpoint.end_date else None,
        "_links": {
            "self": {"href": f"{PREFIX}/endpoints?service_version_namespace={namespace}&routing_id={endpoint.administration_id}"},
            "school": {"href": f"{PREFIX}/schools?oin={school.oin}"},
        },
    }


@router.get("/mandates")
def get_mandates(
    reader: Reader,
    supplier_oin: str | None = None,
    school_oin: str | None = None,
    service_version_namespace: str | None = None,
    reference_date: str | None = None,
) -> dict:
    """Does school X mandate supplier Y for this service version on the reference date?"""
    platform, caller = reader
    supplier_oin = _oin("supplier_oin", _required("supplier_oin", supplier_oin))
    school_oin = _oin("school_oin", _required("school_oin", school_oin))
    namespace = _required("service_version_namespace", service_version_namespace)
    day = _day(reference_date)
    with platform.read_sessions() as session:
        try:
            version, _service = svc.version_for_namespace(session, namespace)
        except svc.RegisterError as exc:
            raise _refused(exc) from exc
        school = repo.school_by_oin(session, school_oin)
        supplier = repo.supplier_by_oin(session, supplier_oin)
        found = svc.valid_mandates(session, school=school, supplier=supplier, version=version, day=day) if school and supplier else []
        if caller.oin != supplier_oin:  # a third party learns only OK or NOK
            return {"result": "OK" if found else "NOK", "reference_date": day.isoformat()}
        if not found:
            raise ApiError(404, "Not found", "mandate not found")
        return {
            "mandates": [
                {
                    "token": m.token,
                    "start_date": m.start_date.isoformat(),
                    "end_date": m.end_date.isoformat() if m.end_date else None,
                    "service_version_namespace": namespace,
                    "_links": {
                        "self": {
                            "href": f"{PREFIX}/mandates?supplier_oin={supplier_oin}&school_oin={school_oin}"
                            f"&service_version_namespace={namespace}&reference_date={day.isoformat()}"
                        },
                        "school": {"href": f"{PREFIX}/schools?oin={school_oin}"},
                    },
                }
                for m in found
            ]
        }


@router.get("/endpoints")
def get_endpoints(
    reader: Reader,
    service_version_namespace: str | None = None,
    school_oin: str | None = None,
    routing_id: str | None = None,
    reference_date: str | None = None,
    include_future_endpoints: bool = False,
) -> dict:
    """Where a school's messages for a service version go: by school OIN, or by routing id (0 or 1)."""
    platform, _caller = reader
    namespace = _required("service_version_namespace", service_version_namespace)
    if bool(school_oin) == bool(routing_id):
        raise ApiError(400, "Bad request", "give exactly one of school_oin and routing_id")
    if routing_id:
        try:
            validate_routeringskenmerk(routing_id)
        except IdentifierError as exc:
            raise ApiError(400, "Bad request", f"routing_id: {exc}") from exc
    day = _day(reference_date)
    with platform.read_sessions() as session:
        school = None
        if school_oin:
            school = repo.school_by_oin(session, _oin("school_oin", school_oin))
            if school is None:
                return {"endpoints": [], "_links": {"self": {"href": f"{PREFIX}/endpoints"}}}
        try:
            found = svc.current_endpoints(
                session, namespace=namespace, school=school, routing_id=routing_id, day=day, include_future=include_future_endpoints
            )
        except svc.RegisterError as exc:
            raise _refused(exc) from exc
        schools = {e.school_id: session.get(School, e.school_id) for e in found}
        return {
            "endpoints": [_endpoint_out(e, schools[e.school_id], namespace) for e in found],
            "_links": {"self": {"href": f"{PREFIX}/endpoints?service_version_namespace={namespace}"}},
        }


@router.post("/endpoints", status_code=201)
def post_endpoint(body: EndpointIn, writer: Writer) -> dict:
    """A mandated supplier registers its delivery address with its mandate token."""
    platform, caller = writer
    try:
        with unit_of_work(platform.sessions) as session:
            endpoint = svc.register_endpoint(
                session,
                caller_oin=caller.oin,
                mandate_token=body.mandate_token,
                administration_id=body.administration_id,
                namespace=body.service_version_namespace,
                url=body.url,
                attributes=body.attributes,
                start=body.start_date,
                end=body.end_date,
            )
            out = _endpoint_out(endpoint, session.get(School, endpoint.school_id), body.service_version_namespace)
    except svc.RegisterError as exc:
        raise _refused(exc) from exc
    platform.invalidate_views()
    return out


@router.get("/schools")
def get_schools(reader: Reader, name: str | None = None, oin: str | None = None, brin: str | None = None, limit: int = 100) -> dict:
    platform, _ = reader
    if not (name or oin or brin):
        raise ApiError(400, "Bad request", "give name, oin or brin: the register is not for bulk reading")
    if oin:
        _oin("oin", oin)
    with platform.read_sessions() as session:
        found = repo.schools_matching(session, name=name, oin=oin, brin=brin, limit=max(1, min(limit, 100)))
        return {"schools": [_school_out(s) for s in found], "_links": {"self": {"href": f"{PREFIX}/schools"}}}


@router.get("/services")
def get_services(reader: Reader, name: str | None = None) -> dict:
    platform, _ = reader
    with platform.read_sessions() as session:
        services: list[Service] = [s for s in repo.services(session) if not name or s.name == name]
        return {
            "services": [
                {"name": s.name, "description": s.description, "_links": {"versions": {"href": f"{PREFIX}/service-versions?service={s.name}"}}}
                for s in services
            ]
        }


@router.get("/service-versions")
def get_service_versions(reader: Reader, namespace: str | None = None, status: str | None = None, service: str | None = None) -> dict:
    platform, _ = reader
    with platform.read_sessions() as session:
        rows: list[tuple[ServiceVersion, Service]] = []
        for s in repo.services(session):
            if service and s.name != service:
                continue
            rows += [(v, s) for v in repo.service_versions(session, s.id)]
        return {
            "service_versions": [
                {
                    "service": s.name,
                    "version": v.version,
                    "namespace": v.namespace,
                    "status": v.status,
                    "schooljaar": v.schooljaar,
                }
                for v, s in rows
                if (not namespace or v.namespace == namespace) and (not status or v.status == status)
            ]
        }
