"""The register's admin JSON API, behind the admin credential (``Authorization: Bearer``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from eduketen.core.admin import AdminPlatform
from eduketen.core.admin import AdminWrite as _Write
from eduketen.register import repository as repo
from eduketen.register import schemas
from eduketen.register import service as svc
from eduketen.register.models import Mandate, School, Service, ServiceVersion, Supplier, System


def school_out(session: Session, school: School) -> dict:
    return {
        "id": school.id,
        "name": school.name,
        "brin": school.brin,
        "oin": school.oin,
        "board": school.board,
        "vestigingen": [{"code": v.code, "name": v.name} for v in repo.vestigingen(session, school.id)],
        "routeringskenmerken": [a.routeringskenmerk for a in repo.administraties(session, school.id)],
    }


def supplier_out(session: Session, supplier: Supplier) -> dict:
    return {
        "id": supplier.id,
        "name": supplier.name,
        "oin": supplier.oin,
        "systems": [{"id": s.id, "name": s.name, "kind": s.kind} for s in repo.systems_of(session, supplier.id)],
    }


def mandate_out(row: tuple[Mandate, School, System, Supplier, ServiceVersion, Service]) -> dict:
    mandate, school, system, supplier, version, service = row
    return {
        "id": mandate.id,
        "school": {"brin": school.brin, "oin": school.oin, "name": school.name},
        "supplier": {"oin": supplier.oin, "name": supplier.name},
        "system": {"name": system.name, "kind": system.kind},
        "service": service.name,
        "version": version.version,
        "namespace": version.namespace,
        "start_date": mandate.start_date.isoformat(),
        "end_date": mandate.end_date.isoformat() if mandate.end_date else None,
        "revoked": mandate.revoked_at is not None,
        "token": mandate.token,
    }


router = APIRouter(prefix="/admin", tags=["admin: register"])


@router.post("/schools", status_code=201)
def add_school(body: schemas.SchoolIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        school = svc.add_school(
            session,
            name=body.name,
            brin=body.brin,
            board=body.board,
            vestigingen=[(v.code, v.name) for v in body.vestigingen] or None,
            routeringskenmerken=body.routeringskenmerken,
        )
        return school_out(session, school)


@router.get("/schools")
def list_schools(platform: AdminPlatform, limit: Annotated[int, Query(ge=0)] = 1000, offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    with platform.read_sessions() as session:
        return {"schools": [school_out(session, s) for s in repo.schools(session, min(limit, 5000), offset)]}


@router.get("/schools/{key}")
def get_school(key: str, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        return school_out(session, svc.get_school(session, key))


@router.post("/schools/{key}/administraties", status_code=201)
def add_administratie(key: str, body: schemas.AdministratieIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        school = svc.get_school(session, key)
        system = None
        if body.system or body.supplier_oin:
            if not (body.system and body.supplier_oin):
                raise svc.RegisterError("give both supplier_oin and system, or neither")
            system = svc.get_system(session, svc.get_supplier(session, body.supplier_oin), body.system)
        svc.add_administratie(
            session, school=school, routeringskenmerk=body.routeringskenmerk, system=system, administratienr=body.administratienr
        )
        return school_out(session, school)


@router.post("/suppliers", status_code=201)
def add_supplier(body: schemas.SupplierIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        return supplier_out(session, svc.add_supplier(session, name=body.name, oin=body.oin))


@router.get("/suppliers")
def list_suppliers(platform: AdminPlatform) -> dict:
    with platform.read_sessions() as session:
        return {"suppliers": [supplier_out(session, s) for s in repo.suppliers(session)]}


@router.post("/suppliers/{oin}/systems", status_code=201)
def add_system(oin: str, body: schemas.SystemIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        supplier = svc.get_supplier(session, oin)
        svc.add_system(session, supplier=supplier, name=body.name, kind=body.kind)
        return supplier_out(session, supplier)


@router.post("/services", status_code=201)
def add_service(body: schemas.ServiceIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        service = svc.add_service(session, name=body.name, description=body.description)
        return {"id": service.id, "name": service.name, "description": service.description, "versions": []}


@router.get("/services")
def list_services(platform: AdminPlatform) -> dict:
    with platform.read_sessions() as session:
        return {
            "services": [
                {
                    "name": s.name,
                    "description": s.description,
                    "versions": [
                        {"version": v.version, "namespace": v.namespace, "schooljaar": v.schooljaar, "status": v.status}
                        for v in repo.service_versions(session, s.id)
                    ],
                }
                for s in repo.services(session)
            ]
        }


@router.post("/services/{name}/versions", status_code=201)
def add_service_version(name: str, body: schemas.ServiceVersionIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        service = repo.service_by_name(session, name)
        if service is None:
            raise svc.RegisterError(f"unknown service {name!r}", status=404)
        v = svc.add_service_version(
            session, service=service, version=body.version, namespace=body.namespace, schooljaar=body.schooljaar, status=body.status
        )
        return {"service": name, "version": v.version, "namespace": v.namespace, "schooljaar": v.schooljaar, "status": v.status}


@router.post("/mandates", status_code=201)
def grant_mandate(body: schemas.MandateIn, platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        school = svc.get_school(session, body.school)
        supplier = svc.get_supplier(session, body.supplier_oin)
        mandate = svc.grant_mandate(
            session,
            school=school,
            system=svc.get_system(session, supplier, body.system),
            service_version=svc.get_service_version(session, body.service, body.version),
            start=body.start_date,
            end=body.end_date,
        )
        rows = [r for r in repo.mandates(session, school_id=school.id) if r[0].id == mandate.id]
        return mandate_out(rows[0])


@router.get("/mandates")
def list_mandates(platform: AdminPlatform, school: str | None = None, supplier_oin: str | None = None) -> dict:
    with _Write(platform) as session:
        school_id = svc.get_school(session, school).id if school else None
        supplier_id = svc.get_supplier(session, supplier_oin).id if supplier_oin else None
        return {"mandates": [mandate_out(r) for r in repo.mandates(session, school_id=school_id, supplier_id=supplier_id)]}


@router.post("/mandates/{mandate_id}/revoke")
def revoke_mandate(mandate_id: Annotated[int, Path(ge=1, le=2**31 - 1)], platform: AdminPlatform) -> dict:
    with _Write(platform) as session:
        mandate = svc.revoke_mandate(session, mandate_id)
        return {"id": mandate.id, "revoked": True}


def board_administrator_out(admin) -> dict:
    return {"board": admin.board, "name": admin.name, "role": admin.role, "email": admin.email, "phone": admin.phone}


@router.post("/boards/administrators", status_code=201)
def add_board_administrator(body: schemas.BoardAdministratorIn, platform: AdminPlatform) -> dict:
    """Who administers the mandates of a board (shown to its schools' staff). The same name for
    the same board updates the role and contact."""
    with _Write(platform) as session:
        return board_administrator_out(
            svc.add_board_administrator(session, board=body.board, name=body.name, role=body.role, email=body.email, phone=body.phone)
        )


@router.get("/boards/administrators")
def list_board_administrators(platform: AdminPlatform, board: Annotated[str, Query(min_length=1, max_length=200)]) -> dict:
    with platform.read_sessions() as session:
        return {"board": board, "administrators": [board_administrator_out(a) for a in repo.board_administrators(session, board)]}
