"""Register tables: organisations, systems, services, mandates, and pupils by pseudonym.

Identity data (names, birth date) lives in ``pupil_identity`` only, apart from every result."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class School(Base):
    __tablename__ = "school"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    brin: Mapped[str] = mapped_column(String(4), unique=True)
    oin: Mapped[str] = mapped_column(String(20), unique=True)
    board: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Vestiging(Base):
    __tablename__ = "vestiging"
    __table_args__ = (UniqueConstraint("school_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(2))
    name: Mapped[str | None] = mapped_column(String(200))


class Supplier(Base):
    __tablename__ = "supplier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    oin: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class System(Base):
    """An application of a supplier: a LAS, a toetssysteem, a learning platform, ..."""

    __tablename__ = "system"
    __table_args__ = (UniqueConstraint("supplier_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # las | toetssysteem | ...
    # Where this system's API lives (for a toetssysteem: the base of its Doorstroomtoets paths,
    # e.g. https://toets.example/doorstroomtoets). The OSR keeps no endpoints of test systems.
    base_url: Mapped[str | None] = mapped_column(String(500))


class Administratie(Base):
    """A school administration kept in a LAS, known by its routeringskenmerk (edu-from)."""

    __tablename__ = "administratie"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    routeringskenmerk: Mapped[str] = mapped_column(String(20), unique=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("system.id", ondelete="SET NULL"))
    administratienr: Mapped[str | None] = mapped_column(String(2))


class Service(Base):
    __tablename__ = "service"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(400))


class ServiceVersion(Base):
    __tablename__ = "service_version"
    __table_args__ = (UniqueConstraint("service_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(40))
    namespace: Mapped[str] = mapped_column(String(300), unique=True)
    schooljaar: Mapped[str | None] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(20), default="in-force")  # draft|in-force|previous|withdrawn


class Mandate(Base):
    """School -> supplier system, for one service version, from start to end (inclusive)."""

    __tablename__ = "mandate"
    __table_args__ = (Index("ix_mandate_lookup", "school_id", "service_version_id", "system_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    token: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RegisterStamp(Base):
    """One row whose ``generation`` database triggers raise on every change to the tables the
    in-memory register view is built from (migration 0011): a server process compares it to
    the one it loaded with and reloads only when they differ."""

    __tablename__ = "register_stamp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class Pupil(Base):
    """A pupil by pseudonym: ECK iD preferred, LAS-key otherwise. No names here."""

    __tablename__ = "pupil"
    __table_args__ = (
        UniqueConstraint("school_id", "eck_id"),
        UniqueConstraint("school_id", "las_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    eck_id: Mapped[str | None] = mapped_column(String(300))
    las_key: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PupilIdentity(Base):
    """Identity data, kept apart: only the exchanges that need a name read it (and are audited)."""

    __tablename__ = "pupil_identity"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    achternaam: Mapped[str] = mapped_column(String(70))
    voorvoegsel: Mapped[str | None] = mapped_column(String(10))
    roepnaam: Mapped[str] = mapped_column(String(64))
    voorletters: Mapped[str | None] = mapped_column(String(6))
    geboortedatum: Mapped[date | None] = mapped_column(Date)
    # Exchanged up to school year 2025-2026 only; never stored from 2026-2027 messages.
    geslacht: Mapped[int | None] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SchoolGroup(Base):
    __tablename__ = "school_group"
    __table_args__ = (UniqueConstraint("school_id", "schooljaar", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    schooljaar: Mapped[str] = mapped_column(String(9))
    external_id: Mapped[str] = mapped_column(String(256))
    omschrijving: Mapped[str | None] = mapped_column(String(64))
    jaargroep: Mapped[str | None] = mapped_column(String(2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupMembership(Base):
    """A pupil's group in a school year (one stamgroep per pupil per year)."""

    __tablename__ = "group_membership"

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), primary_key=True)
    schooljaar: Mapped[str] = mapped_column(String(9), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("school_group.id", ondelete="CASCADE"), index=True)
    jaargroep: Mapped[str | None] = mapped_column(String(2))


class Endpoint(Base):
    """A delivery address that a mandated supplier registered for a school administration (OSR
    ``POST /endpoints``): where messages for ``administration_id`` (the routeringskenmerk) go."""

    __tablename__ = "endpoint"
    __table_args__ = (Index("ix_endpoint_lookup", "service_version_id", "administration_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandate.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("service_version.id", ondelete="CASCADE"))
    administration_id: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(500))
    attributes: Mapped[str] = mapped_column(String(500), default="[]")  # JSON list, e.g. ["LAS"]
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """Regie op gegevens: a school lets one gegevensdienst (``api``) flow from a source system to
    a receiving system. Registered at the source; a push flow is in force only once the receiving
    side confirmed. ``status``: requested | active | revoked."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("school_id", "api", "source_system_id", "receiving_system_id", name="uq_consent_relation"),
        Index("ix_consent_source", "source_system_id"),
        Index("ix_consent_receiving", "receiving_system_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    api: Mapped[str] = mapped_column(String(40))
    source_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    receiving_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(4))  # push | pull
    status: Mapped[str] = mapped_column(String(12))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsentEvent(Base):
    """Every change of a consent: who, what, when (append-only)."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # request | activate | confirm | revoke
    status_before: Mapped[str | None] = mapped_column(String(12))
    status_after: Mapped[str] = mapped_column(String(12))


class BoardAdministrator(Base):
    """Who administers the mandates (in the OSR, through eHerkenning) for a school board
    (bevoegd gezag): the people school staff can turn to. Contact details of staff in their
    work role only, no pupil data."""

    __tablename__ = "board_administrator"
    __table_args__ = (UniqueConstraint("board", "name", name="uq_board_administrator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board: Mapped[str] = mapped_column(String(200), index=True)  # as in school.board
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))  # e.g. "OSR-beheerder", "functioneel beheerder"
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsentRefusal(Base):
    """Exchanges refused for want of consent, one row per flow (school, gegevensdienst, source,
    receiver): how often, first and last time, and the last reason. Bounded: a sender that keeps
    trying only raises ``times``. Shown to the school as an open error of the flow."""

    __tablename__ = "consent_refusal"
    __table_args__ = (
        UniqueConstraint("school_id", "api", "source_system_id", "receiving_system_id", name="uq_consent_refusal_flow"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    api: Mapped[str] = mapped_column(String(40))
    source_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    receiving_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    times: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_reason: Mapped[str] = mapped_column(String(400))
