"""All SQL of the keurmerk register."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from eduketen.keurmerk.models import Admission, Evidence, Qualification, Step
from eduketen.register.models import Service, ServiceVersion, Supplier


def admission(session: Session, admission_id: int) -> Admission | None:
    return session.get(Admission, admission_id)


def admission_for(session: Session, supplier_id: int, service_id: int, role: str) -> Admission | None:
    return session.scalar(
        select(Admission).where(Admission.supplier_id == supplier_id, Admission.service_id == service_id, Admission.role == role)
    )


def admissions(session: Session, *, supplier_id: int | None = None, service_id: int | None = None) -> list[Admission]:
    statement = select(Admission).order_by(Admission.id)
    if supplier_id is not None:
        statement = statement.where(Admission.supplier_id == supplier_id)
    if service_id is not None:
        statement = statement.where(Admission.service_id == service_id)
    return list(session.scalars(statement))


def steps(session: Session, admission_id: int) -> list[Step]:
    return list(session.scalars(select(Step).where(Step.admission_id == admission_id).order_by(Step.completed_on, Step.id)))


def evidence(session: Session, evidence_id: int) -> Evidence | None:
    return session.get(Evidence, evidence_id)


def evidence_of(session: Session, admission_id: int) -> list[Evidence]:
    return list(session.scalars(select(Evidence).where(Evidence.admission_id == admission_id).order_by(Evidence.id)))


def qualifications_of(session: Session, admission_id: int) -> list[Qualification]:
    return list(session.scalars(select(Qualification).where(Qualification.admission_id == admission_id).order_by(Qualification.id)))


def qualification(session: Session, admission_id: int, service_version_id: int) -> Qualification | None:
    return session.scalar(
        select(Qualification).where(Qualification.admission_id == admission_id, Qualification.service_version_id == service_version_id)
    )


def qualified_rows(session: Session, service_name: str | None = None):
    """(service, version, supplier, admission, qualification) for every qualification."""
    statement = (
        select(Service, ServiceVersion, Supplier, Admission, Qualification)
        .join(Admission, Admission.id == Qualification.admission_id)
        .join(Supplier, Supplier.id == Admission.supplier_id)
        .join(ServiceVersion, ServiceVersion.id == Qualification.service_version_id)
        .join(Service, Service.id == ServiceVersion.service_id)
        .order_by(Service.name, ServiceVersion.version, Supplier.name)
    )
    if service_name:
        statement = statement.where(Service.name == service_name)
    return list(session.execute(statement))
