"""All SQL of the keurmerk register."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from eduketen.keurmerk.models import (
    Admission,
    Contact,
    Evidence,
    Pairing,
    Qualification,
    Release,
    ReleaseEvent,
    Reminder,
    Step,
    TestPeriod,
    Ticket,
    TicketEvent,
)
from eduketen.register.models import Service, ServiceVersion, Supplier, System


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


# -- change and release ----------------------------------------------------------------------------------------


def release(session: Session, service_version_id: int) -> Release | None:
    return session.get(Release, service_version_id)


def release_events(session: Session, service_version_id: int) -> list[ReleaseEvent]:
    return list(session.scalars(select(ReleaseEvent).where(ReleaseEvent.service_version_id == service_version_id).order_by(ReleaseEvent.id)))


def calendar_rows(session: Session, service_name: str | None = None):
    """(service, version, release or None) for every service version."""
    statement = (
        select(Service, ServiceVersion, Release)
        .join(ServiceVersion, ServiceVersion.service_id == Service.id)
        .outerjoin(Release, Release.service_version_id == ServiceVersion.id)
        .order_by(Service.name, ServiceVersion.id)
    )
    if service_name:
        statement = statement.where(Service.name == service_name)
    return list(session.execute(statement))


def test_period(session: Session, period_id: int) -> TestPeriod | None:
    return session.get(TestPeriod, period_id)


def test_periods(session: Session, service_version_id: int | None = None) -> list[TestPeriod]:
    statement = select(TestPeriod).order_by(TestPeriod.opens_on, TestPeriod.id)
    if service_version_id is not None:
        statement = statement.where(TestPeriod.service_version_id == service_version_id)
    return list(session.scalars(statement))


def periods_to_remind(session: Session, first_open: date, last_open: date) -> list[TestPeriod]:
    """Periods opening between the two dates (inclusive)."""
    return list(
        session.scalars(select(TestPeriod).where(TestPeriod.opens_on >= first_open, TestPeriod.opens_on <= last_open).order_by(TestPeriod.id))
    )


def pairing(session: Session, pairing_id: int) -> Pairing | None:
    return session.get(Pairing, pairing_id)


def pairings(session: Session, period_id: int) -> list[Pairing]:
    return list(session.scalars(select(Pairing).where(Pairing.period_id == period_id).order_by(Pairing.id)))


def pairing_between(session: Session, period_id: int, one: int, other: int) -> Pairing | None:
    return session.scalar(
        select(Pairing).where(
            Pairing.period_id == period_id,
            or_(
                and_(Pairing.system_a_id == one, Pairing.system_b_id == other),
                and_(Pairing.system_a_id == other, Pairing.system_b_id == one),
            ),
        )
    )


def system_with_supplier(session: Session, system_id: int) -> tuple[System, Supplier] | None:
    row = session.execute(select(System, Supplier).join(Supplier, Supplier.id == System.supplier_id).where(System.id == system_id)).first()
    return (row[0], row[1]) if row else None


def admitted_supplier_ids(session: Session, service_id: int) -> set[int]:
    return set(session.scalars(select(Admission.supplier_id).where(Admission.service_id == service_id)))


def contact(session: Session, supplier_id: int) -> Contact | None:
    return session.get(Contact, supplier_id)


def reminder_for(session: Session, period_id: int, supplier_id: int) -> Reminder | None:
    return session.scalar(select(Reminder).where(Reminder.period_id == period_id, Reminder.supplier_id == supplier_id))


def reminders(session: Session, *, supplier_id: int | None = None, period_id: int | None = None) -> list[Reminder]:
    statement = select(Reminder).order_by(Reminder.id.desc())
    if supplier_id is not None:
        statement = statement.where(Reminder.supplier_id == supplier_id)
    if period_id is not None:
        statement = statement.where(Reminder.period_id == period_id)
    return list(session.scalars(statement))


def ticket(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def tickets(session: Session, *, supplier_id: int | None = None, status: str | None = None, kind: str | None = None,
            service_version_id: int | None = None, limit: int = 500) -> list[Ticket]:  # fmt: skip
    statement = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if supplier_id is not None:
        statement = statement.where(Ticket.supplier_id == supplier_id)
    if status is not None:
        statement = statement.where(Ticket.status == status)
    if kind is not None:
        statement = statement.where(Ticket.kind == kind)
    if service_version_id is not None:
        statement = statement.where(or_(Ticket.service_version_id == service_version_id, Ticket.planned_version_id == service_version_id))
    return list(session.scalars(statement))


def ticket_events(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))
