"""Keurmerk tables: each supplier's admission to the chain per gegevensdienst (service) and role,
the steps it completed, the conformance reports it handed in as evidence, and the service
versions it is qualified for."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class Admission(Base):
    __tablename__ = "keurmerk_admission"
    __table_args__ = (UniqueConstraint("supplier_id", "service_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))  # the role in the exchange: toetsaanbieder | las | ...
    stage: Mapped[str] = mapped_column(String(40))  # the furthest step completed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Step(Base):
    __tablename__ = "keurmerk_step"
    __table_args__ = (UniqueConstraint("admission_id", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_admission.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(40))
    completed_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Evidence(Base):
    """A conformance report handed in: the JSON summary of `eduketen conformance run` (and the
    JUnit XML when given), kept as it came, with what the register concluded from it."""

    __tablename__ = "keurmerk_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_admission.id", ondelete="CASCADE"), index=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"))
    tested_url: Mapped[str] = mapped_column(String(500))
    tested_at: Mapped[str] = mapped_column(String(40))
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    sufficient: Mapped[bool] = mapped_column(Boolean)  # enough to qualify for the version
    verdict: Mapped[str] = mapped_column(String(1000))  # why (not) sufficient, in words
    summary_json: Mapped[str] = mapped_column(Text)
    junit_xml: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Qualification(Base):
    __tablename__ = "keurmerk_qualification"
    __table_args__ = (UniqueConstraint("admission_id", "service_version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_admission.id", ondelete="CASCADE"), index=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"))
    evidence_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_evidence.id", ondelete="RESTRICT"))
    qualified_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- change and release -------------------------------------------------------------------------------------------


class Release(Base):
    """The release calendar of one service version: when its draft was published, from when it is in
    force, from when it is the previous version, when it was withdrawn, and the changes announced
    with it. Dates in the future are planned; the version's status (in the register) is what holds
    today and only changes through a validated transition."""

    __tablename__ = "keurmerk_release"

    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"), primary_key=True)
    draft_on: Mapped[date | None] = mapped_column(Date)
    in_force_from: Mapped[date | None] = mapped_column(Date)
    previous_from: Mapped[date | None] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    announcement: Mapped[str | None] = mapped_column(Text)  # the changes announced with this version
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReleaseEvent(Base):
    """Every status change of a service version: who, when, from what to what (append-only)."""

    __tablename__ = "keurmerk_release_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(1000))


class TestPeriod(Base):
    """A chain-test period (ketentestperiode) of one service version, in which suppliers test 1-on-1."""

    __tablename__ = "keurmerk_test_period"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Pairing(Base):
    """Two supplier systems that test with each other in a period (e.g. a LAS and a toetssysteem)."""

    __tablename__ = "keurmerk_pairing"
    __table_args__ = (UniqueConstraint("period_id", "system_a_id", "system_b_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_test_period.id", ondelete="CASCADE"), index=True)
    system_a_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    system_b_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))  # planned | testing | passed | failed
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("keurmerk_evidence.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Contact(Base):
    """Where a participant wants keurmerk notifications delivered besides its list: a webhook URL."""

    __tablename__ = "keurmerk_contact"

    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"), primary_key=True)
    notify_url: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reminder(Base):
    """One reminder per participant per test period, sent once (the unique key makes it so)."""

    __tablename__ = "keurmerk_reminder"
    __table_args__ = (UniqueConstraint("period_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_test_period.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    sent_on: Mapped[date] = mapped_column(Date)  # the (business) day the worker sent it
    message: Mapped[str] = mapped_column(String(2000))
    outbox_seq: Mapped[int | None] = mapped_column(Integer)  # the webhook delivery, when the participant has one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Ticket(Base):
    """The desk (meldpunt): an incident, a complaint or a change request about a service version."""

    __tablename__ = "keurmerk_ticket"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # incident | klacht | wijzigingsverzoek
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    planned_version_id: Mapped[int | None] = mapped_column(ForeignKey("service_version.id", ondelete="SET NULL"))
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TicketEvent(Base):
    """Every transition of a ticket: who, when, from what to what, with a note (append-only)."""

    __tablename__ = "keurmerk_ticket_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("keurmerk_ticket.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    status_before: Mapped[str | None] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(2000))
