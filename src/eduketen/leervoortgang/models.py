"""Progress tables. A record holds no names: the pupil is an ECK iD within a school."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class ProgressRecord(Base):
    """One pupil's progress on one learning unit (Edu-V ``SimpleProgress``), by its stable id.
    ``state_at`` orders the states of a record: a state older than the stored one is ignored."""

    __tablename__ = "progress_record"
    __table_args__ = (
        Index("ix_progress_pupil", "school_id", "eck_id", "state_at"),
        Index("ix_progress_school_subject", "school_id", "subject", "state_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid, lower case
    source_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    eck_id: Mapped[str] = mapped_column(String(300))
    course_id: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12))  # not-started | started | completed | abandoned
    state_at: Mapped[datetime] = mapped_column(UTCDateTime())
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


class MentorGroup(Base):
    """Which groups a mentor (a staff account) may see."""

    __tablename__ = "mentor_group"

    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("school_group.id", ondelete="CASCADE"), primary_key=True, index=True)
