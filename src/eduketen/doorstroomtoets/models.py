"""Doorstroomtoets tables: windows per school year, participations, provisional advice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class Venster(Base):
    """When registration (``registratie``) or provisional advice (``schooladvies``) is open."""

    __tablename__ = "dt_venster"

    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    soort: Mapped[str] = mapped_column(String(20), primary_key=True)
    opens: Mapped[date] = mapped_column(Date)
    closes: Mapped[date] = mapped_column(Date)  # inclusive


class Deelname(Base):
    """A pupil registered for the test in a school year, with the route back to its LAS."""

    __tablename__ = "dt_deelname"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    routeringskenmerk: Mapped[str] = mapped_column(String(20))
    spec_version: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(36))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Schooladvies(Base):
    __tablename__ = "dt_schooladvies"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    advies: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OnbekendAdvies(Base):
    """Advice for a pupil the test supplier does not know (January 2026 decision: ignored,
    counted, visible to staff, never fed back as an error). Only the pseudonymous reference."""

    __tablename__ = "dt_onbekend_advies"
    __table_args__ = (UniqueConstraint("school_id", "schooljaar", "id_label", "id_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    schooljaar: Mapped[str] = mapped_column(String(9))
    id_label: Mapped[str] = mapped_column(String(10))
    id_value: Mapped[str] = mapped_column(String(300))
    times: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


# -- the return path, test supplier side ---------------------------------------------------------


class Resultaat(Base):
    """A pupil's current result (standlevering: the latest import is the complete set). No
    identity data: scores, levels and advice only, by pupil id."""

    __tablename__ = "dt_resultaat"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    toets: Mapped[str] = mapped_column(String(30))
    data: Mapped[str] = mapped_column(Text)  # JSON: the normalized result, no names
    revision: Mapped[int] = mapped_column(Integer, default=1)
    rapport_id: Mapped[str] = mapped_column(String(36), unique=True)
    rapport_revision: Mapped[int] = mapped_column(Integer, default=0)  # revision the PDF shows; 0 = none yet
    rapport_path: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RapportPdf(Base):
    """The PDF of a result (test supplier side), kept in the database: written in the same
    transaction that records it (no temporary file and rename, nothing to clean up when that
    transaction is rolled back), and gone with its result (cascade). Measured on this machine,
    creating a 25 kB file cost about 1 ms of CPU, a row about 0.1 ms (docs/results-throughput.md)."""

    __tablename__ = "dt_rapport_pdf"
    __table_args__ = (
        ForeignKeyConstraint(["pupil_id", "schooljaar"], ["dt_resultaat.pupil_id", "dt_resultaat.schooljaar"], ondelete="CASCADE"),
    )

    pupil_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)  # the result revision the PDF shows
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


# -- the LAS side ------------------------------------------------------------------------------------


class LasAdvies(Base):
    """The school's provisional advice as the LAS holds it (the LAS sends it on)."""

    __tablename__ = "las_advies"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    advies: Mapped[str] = mapped_column(String(40))


class LasResultaat(Base):
    """A result received from the test supplier, apart from identity data."""

    __tablename__ = "las_resultaat"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    toets: Mapped[str] = mapped_column(String(30))
    data: Mapped[str] = mapped_column(Text)  # JSON: resultatenscores without deelnemerref, and toets
    message_datumtijd: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rapport_url: Mapped[str | None] = mapped_column(String(1000))
    rapport_status: Mapped[str] = mapped_column(String(20), default="none")  # none|waiting|fetched|unavailable
    rapport_path: Mapped[str | None] = mapped_column(String(300))
    rapport_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LasRapportPdf(Base):
    """A report fetched from the test supplier, kept in the database with its result (see
    ``RapportPdf``); gone with the result (cascade)."""

    __tablename__ = "las_rapport_pdf"
    __table_args__ = (
        ForeignKeyConstraint(["pupil_id", "schooljaar"], ["las_resultaat.pupil_id", "las_resultaat.schooljaar"], ondelete="CASCADE"),
    )

    pupil_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class LasVerzending(Base):
    """What the LAS sent to a test supplier, and what came of it, in words for school staff."""

    __tablename__ = "las_verzending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    soort: Mapped[str] = mapped_column(String(20))  # deelnemers | adviezen
    schooljaar: Mapped[str] = mapped_column(String(9))
    spec_version: Mapped[str] = mapped_column(String(20))
    aantal: Mapped[int] = mapped_column(Integer)
    outbox_seq: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="onderweg")  # onderweg|ontvangen|geweigerd|mislukt
    http_status: Mapped[int | None] = mapped_column(Integer)
    melding: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
