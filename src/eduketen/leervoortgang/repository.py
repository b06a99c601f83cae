"""All SQL of learning progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from eduketen.insight.models import StaffAccount
from eduketen.leervoortgang.models import MentorGroup, ProgressRecord
from eduketen.register.models import GroupMembership, Pupil, PupilIdentity, School, SchoolGroup

UPDATABLE = ("school_id", "eck_id", "course_id", "unit_id", "subject", "status", "state_at", "started_at", "completed_at",
             "score_raw", "score_max", "score_pct", "judgement", "judgement_ordinal", "judgement_ordinal_max",
             "duration_seconds", "please_follow_up", "detail_url", "goals", "received_at")  # fmt: skip


def upsert(session: Session, rows: list[dict]) -> int:
    """INSERT .. ON CONFLICT (id) DO UPDATE only where the incoming state is newer and comes from
    the system that first sent the record; one statement for the whole list. Returns the rows
    written (new or newer); an equal or older state, or another system's id, changes nothing."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ProgressRecord)
    table = ProgressRecord.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: stmt.excluded[name] for name in UPDATABLE},
        where=and_(table.c.state_at < stmt.excluded.state_at, table.c.source_system_id == stmt.excluded.source_system_id),
    )
    # RETURNING gives exactly the rows written on both backends (a row the WHERE skipped returns
    # nothing); SQLAlchemy sends the list as multi-row VALUES batches.
    result = session.connection().execute(stmt.returning(table.c.id), rows)
    return len(result.all())


def record(session: Session, record_id: str) -> ProgressRecord | None:
    return session.get(ProgressRecord, record_id)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ProgressRecord)) or 0


# -- groups and mentors ------------------------------------------------------------------------------


def group(session: Session, group_id: int) -> SchoolGroup | None:
    return session.get(SchoolGroup, group_id)


def groups_of_mentor(session: Session, account_id: int) -> list[SchoolGroup]:
    statement = (
        select(SchoolGroup)
        .join(MentorGroup, MentorGroup.group_id == SchoolGroup.id)
        .where(MentorGroup.account_id == account_id)
        .order_by(SchoolGroup.schooljaar.desc(), SchoolGroup.omschrijving, SchoolGroup.id)
    )
    return list(session.scalars(statement))


def groups_of_school(session: Session, school_id: int) -> list[SchoolGroup]:
    statement = select(SchoolGroup).where(SchoolGroup.school_id == school_id).order_by(SchoolGroup.schooljaar.desc(), SchoolGroup.omschrijving)
    return list(session.scalars(statement))


def is_mentor_of(session: Session, account_id: int, group_id: int) -> bool:
    return session.get(MentorGroup, (account_id, group_id)) is not None


def assign_mentor(session: Session, account_id: int, group_id: int) -> bool:
    if is_mentor_of(session, account_id, group_id):
        return False
    session.add(MentorGroup(account_id=account_id, group_id=group_id))
    session.flush()
    return True


def account_by_username(session: Session, username: str) -> StaffAccount | None:
    return session.scalar(select(StaffAccount).where(StaffAccount.username == username))


def members(session: Session, group_id: int) -> list[Pupil]:
    """Pupils of a group (by pupil id and ECK iD; no names)."""
    statement = (
        select(Pupil)
        .join(GroupMembership, GroupMembership.pupil_id == Pupil.id)
        .where(GroupMembership.group_id == group_id)
        .order_by(Pupil.id)
    )
    return list(session.scalars(statement))


def names(session: Session, pupil_ids: list[int]) -> dict[int, str]:
    """Display names (identity data, read apart; the caller audits the read)."""
    if not pupil_ids:
        return {}
    rows = session.execute(select(PupilIdentity).where(PupilIdentity.pupil_id.in_(pupil_ids)))
    out = {}
    for (identity,) in rows:
        last = f"{identity.voorvoegsel} {identity.achternaam}" if identity.voorvoegsel else identity.achternaam
        out[identity.pupil_id] = f"{identity.roepnaam} {last}"
    return out


def pupil(session: Session, pupil_id: int) -> Pupil | None:
    return session.get(Pupil, pupil_id)


def group_of_pupil(session: Session, pupil_id: int) -> list[int]:
    return list(session.scalars(select(GroupMembership.group_id).where(GroupMembership.pupil_id == pupil_id)))


def school(session: Session, school_id: int) -> School | None:
    return session.get(School, school_id)


def records_of(session: Session, school_id: int, eck_ids: list[str], since: datetime | None, until: datetime | None) -> list[tuple]:
    """(eck_id, subject, status, state_at, score_pct, duration_seconds, please_follow_up, unit_id, judgement)
    of the given pupils in the period; only the columns the analytics need."""
    if not eck_ids:
        return []
    c = ProgressRecord
    statement = select(c.eck_id, c.subject, c.status, c.state_at, c.score_pct, c.duration_seconds, c.please_follow_up,
                       c.unit_id, c.judgement).where(c.school_id == school_id, c.eck_id.in_(eck_ids))  # fmt: skip
    if since is not None:
        statement = statement.where(c.state_at >= since)
    if until is not None:
        statement = statement.where(c.state_at < until)
    return [tuple(r) for r in session.execute(statement.order_by(c.state_at))]
