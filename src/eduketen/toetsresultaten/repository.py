"""All SQL of the results exchange."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from eduketen.toetsresultaten.models import ResultAssessment, StudentResult


def assessment(session: Session, school_id: int, source_system_id: int, external_id: str) -> ResultAssessment | None:
    return session.scalar(
        select(ResultAssessment).where(
            ResultAssessment.school_id == school_id,
            ResultAssessment.source_system_id == source_system_id,
            ResultAssessment.external_id == external_id,
        )
    )


def assessment_by_id(session: Session, assessment_id: int) -> ResultAssessment | None:
    return session.get(ResultAssessment, assessment_id)


def student_rows(session: Session, assessment_id: int, keys: list[tuple[str, str]] | None = None) -> list[StudentResult]:
    statement = select(StudentResult).where(StudentResult.assessment_id == assessment_id)
    if keys is not None:
        statement = statement.where(StudentResult.student_key.in_({k for _, k in keys}))
    return list(session.scalars(statement.order_by(StudentResult.student_key_type, StudentResult.student_key)))


def assessments_of_school(session: Session, school_id: int, limit: int, offset: int) -> list[tuple[ResultAssessment, int]]:
    counts = (
        select(StudentResult.assessment_id, func.count().label("n"))
        .where(StudentResult.school_id == school_id)
        .group_by(StudentResult.assessment_id)
        .subquery()
    )
    statement = (
        select(ResultAssessment, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.assessment_id == ResultAssessment.id)
        .where(ResultAssessment.school_id == school_id)
        .order_by(ResultAssessment.assessment_at.desc(), ResultAssessment.id)
        .limit(limit)
        .offset(offset)
    )
    return [(a, int(n)) for a, n in session.execute(statement)]


def results_of_student(session: Session, school_id: int, key_type: str, key: str) -> list[tuple[StudentResult, ResultAssessment]]:
    statement = (
        select(StudentResult, ResultAssessment)
        .join(ResultAssessment, ResultAssessment.id == StudentResult.assessment_id)
        .where(StudentResult.school_id == school_id, StudentResult.student_key_type == key_type, StudentResult.student_key == key)
        .order_by(ResultAssessment.assessment_at, ResultAssessment.id)
    )
    return [(r, a) for r, a in session.execute(statement)]


def results_of_school(session: Session, school_id: int, assessment_id: int | None = None):
    statement = (
        select(StudentResult, ResultAssessment)
        .join(ResultAssessment, ResultAssessment.id == StudentResult.assessment_id)
        .where(StudentResult.school_id == school_id)
        .order_by(ResultAssessment.assessment_at, ResultAssessment.id, StudentResult.student_key_type, StudentResult.student_key)
    )
    if assessment_id is not None:
        statement = statement.where(StudentResult.assessment_id == assessment_id)
    return session.execute(statement)


def delete_student(session: Session, school_id: int, key_type: str, key: str) -> int:
    result = session.execute(
        delete(StudentResult).where(
            StudentResult.school_id == school_id, StudentResult.student_key_type == key_type, StudentResult.student_key == key
        )
    )
    return result.rowcount or 0


def count_all(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(ResultAssessment)) or 0,
        session.scalar(select(func.count()).select_from(StudentResult)) or 0,
    )


def last_received_by_source(session: Session, school_id: int) -> dict[int, tuple]:
    """Per source system: (last time a bundle was stored for the school, assessments stored)."""
    from sqlalchemy import func

    rows = session.execute(
        select(ResultAssessment.source_system_id, func.max(ResultAssessment.updated_at), func.count())
        .where(ResultAssessment.school_id == school_id)
        .group_by(ResultAssessment.source_system_id)
    )
    return {source: (last, n) for source, last, n in rows}


def privacy_tables():
    """The results tables that hold pupil data (eduketen.core.privacy): a student's results name
    the pupil by ECK iD (or by a user id of the sending system, which the register cannot match)."""
    from eduketen.core.privacy import PupilData

    return [
        PupilData("toetsresultaten.resultaat", StudentResult.__table__, school_column="school_id",
                  ref_columns=("student_key_type", "student_key"), ref_labels=("eckId", None)),
    ]  # fmt: skip
