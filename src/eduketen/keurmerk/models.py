"""Keurmerk tables: each supplier's admission to the chain per gegevensdienst (service) and role,
the steps it completed, the conformance reports it handed in as evidence, and the service
versions it is qualified for."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
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
