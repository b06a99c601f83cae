"""Progress tables. A record holds no names: the pupil is an ECK iD within a school.

- ``progress_key``: one row per record id, the id's current state time and sending system. It is
  the arbiter of "one record per id, the newer state wins" (the upsert runs here).
- ``progress_record``: the record's current state. On PostgreSQL partitioned by month of
  ``state_at`` (declarative range partitioning, a default partition catches what no month
  partition takes); its primary key must then hold the partition key: ``(id, state_at)``. The id
  alone is kept unique by ``progress_key``. On SQLite a plain table with the same key.
- ``progress_dirty``: the (pupil, day) cells ingest touched, old state and new; the worker
  drains it and recomputes those cells of
- ``progress_day`` (per pupil, day, subject and material) and ``progress_usage`` (per school,
  ISO week and material): the aggregates the pages read, so no page scans raw records.

No foreign keys on these tables: the ingest path writes thousands of rows per request and the
per-row key checks would cost more than the rest of the insert; ids are resolved and checked by
the service before a row is written (school, consent, system)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class ProgressKey(Base):
    __tablename__ = "progress_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid, lower case
    source_system_id: Mapped[int] = mapped_column(Integer)
    state_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the state it replaced (set by the upsert)


class ProgressRecord(Base):
    """One pupil's progress on one learning unit (Edu-V ``SimpleProgress``), by its stable id.
    ``state_at`` orders the states of a record: a state older than the stored one is ignored."""

    __tablename__ = "progress_record"
    __table_args__ = (
        Index("ix_progress_pupil", "school_id", "eck_id", "state_at"),
        {"postgresql_partition_by": "RANGE (state_at)"},
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid, lower case
    state_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    source_system_id: Mapped[int] = mapped_column(Integer)
    school_id: Mapped[int] = mapped_column(Integer)
    eck_id: Mapped[str] = mapped_column(String(300))
    course_id: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12))  # not-started | started | completed | abandoned
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    score_raw: Mapped[float | None] = mapped_column(Float)
    score_max: Mapped[float | None] = mapped_column(Float)
    score_pct: Mapped[float | None] = mapped_column(Float)  # 0..100, from raw/max or given
    judgement: Mapped[str | None] = mapped_column(String(200))
    judgement_ordinal: Mapped[int | None] = mapped_column(SmallInteger)
    judgement_ordinal_max: Mapped[int | None] = mapped_column(SmallInteger)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    please_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    detail_url: Mapped[str | None] = mapped_column(String(1000))
    goals: Mapped[str | None] = mapped_column(Text)  # JSON list of SLO goal codes
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProgressDirty(Base):
    """A cell whose aggregates must be recomputed: a pupil's day (and with it the school's week)."""

    __tablename__ = "progress_dirty"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    school_id: Mapped[int] = mapped_column(Integer)
    eck_id: Mapped[str] = mapped_column(String(300))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (UTC)


class ProgressDay(Base):
    """Per pupil, UTC day, subject and material: the sums the group context needs."""

    __tablename__ = "progress_day"
    __table_args__ = (Index("ix_progress_day_school_day", "school_id", "day"),)

    school_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    eck_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    source_system_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    records: Mapped[int] = mapped_column(Integer)  # every record, also not-started (activation)
    units: Mapped[int] = mapped_column(Integer)  # practised: started, completed or abandoned
    completed: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[int] = mapped_column(BigInteger)
    score_sum: Mapped[float] = mapped_column(Float)  # completed records with a score
    score_n: Mapped[int] = mapped_column(Integer)
    follow_up: Mapped[str | None] = mapped_column(Text)  # JSON list of unit ids the supplier flags


class ProgressUsage(Base):
    """Per school, ISO week and material (system + course): pupils activated, pupils who used it, units."""

    __tablename__ = "progress_usage"
    __table_args__ = (Index("ix_progress_usage_week", "week"),)

    school_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYY-Www
    source_system_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    activated: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)


class MentorGroup(Base):
    """Which groups a mentor (a staff account) may see."""

    __tablename__ = "mentor_group"

    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("school_group.id", ondelete="CASCADE"), primary_key=True, index=True)
