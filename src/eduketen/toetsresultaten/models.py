"""Tables of the results exchange. Students appear by pseudonym only (ECK iD, or a user id with
its type); no names, no birth dates: identity stays in ``pupil_identity`` of the register."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class ResultAssessment(Base):
    """An assessment (one administration of a test) as a source system reported it for a school:
    its definition with parts and the scales its values use (JSON, the latest state)."""

    __tablename__ = "result_assessment"
    __table_args__ = (UniqueConstraint("school_id", "source_system_id", "external_id", name="uq_result_assessment_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    definition_id: Mapped[str] = mapped_column(String(200))
    definition_name: Mapped[str] = mapped_column(String(200))
    assessment_at: Mapped[datetime] = mapped_column(UTCDateTime())
    school_year: Mapped[str | None] = mapped_column(String(9))
    document: Mapped[str] = mapped_column(Text)  # JSON: assessment, scoreScales, provenance
    api_version: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StudentResult(Base):
    """One student's scores and results on one assessment; create-or-update, the latest wins."""

    __tablename__ = "student_result"
    __table_args__ = (
        UniqueConstraint("assessment_id", "student_key_type", "student_key", name="uq_student_result_key"),
        Index("ix_student_result_student", "school_id", "student_key_type", "student_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("result_assessment.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    student_key_type: Mapped[str] = mapped_column(String(200))  # "eckId" or "user:<userIdType>"
    student_key: Mapped[str] = mapped_column(String(300))
    document: Mapped[str] = mapped_column(Text)  # JSON StudentScoresAndResults
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
