"""All SQL of learning progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eduketen.core.db import sqlite_time
from eduketen.insight.models import StaffAccount
from eduketen.leervoortgang.models import MentorGroup, ProgressRecord
from eduketen.register.models import GroupMembership, Pupil, PupilIdentity, School, SchoolGroup

UPDATABLE = ("school_id", "eck_id", "course_id", "unit_id", "subject", "status", "state_at", "started_at", "completed_at",
             "score_raw", "score_max", "score_pct", "judgement", "judgement_ordinal", "judgement_ordinal_max",
             "duration_seconds", "please_follow_up", "detail_url", "goals", "received_at")  # fmt: skip


COLUMNS = ("id", "source_system_id", *UPDATABLE)
# PostgreSQL array types of COLUMNS for unnest().
PG_TYPES = ("varchar", "int", "int", "varchar", "varchar", "varchar", "varchar", "varchar", "timestamptz", "timestamptz", "timestamptz",
            "float8", "float8", "float8", "varchar", "int2", "int2", "int", "bool", "varchar", "text", "timestamptz")  # fmt: skip
_SET = ", ".join(f"{c} = excluded.{c}" for c in UPDATABLE)
_WHERE = "progress_record.state_at < excluded.state_at AND progress_record.source_system_id = excluded.source_system_id"


def _sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else sqlite_time(value)


def upsert(session: Session, rows: list[dict]) -> int:
    """INSERT .. ON CONFLICT (id) DO UPDATE only where the incoming state is newer and comes from
    the system that first sent the record. Returns the rows written (new or newer); an equal or
    older state, or another system's id, changes nothing. ``rows`` must hold each id once.

    The hot path of ingest, so it talks to the driver directly: on PostgreSQL one statement over
    unnest() of one array per column; on SQLite one executemany, counted by total_changes."""
    if not rows:
        return 0
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    cols = ", ".join(COLUMNS)
    if connection.dialect.name == "postgresql":
        arrays = tuple([row[c] for row in rows] for c in COLUMNS)
        unnest = ", ".join(f"%s::{t}[]" for t in PG_TYPES)
        sql = (f"INSERT INTO progress_record ({cols}) SELECT * FROM unnest({unnest}) "
               f"ON CONFLICT (id) DO UPDATE SET {_SET} WHERE {_WHERE} RETURNING 1")  # fmt: skip
        with dbapi.cursor() as cursor:
            cursor.execute(sql, arrays)
            return len(cursor.fetchall())
    times = {"state_at", "started_at", "completed_at", "received_at"}
    tuples = [tuple(_sqlite_time(row[c]) if c in times else row[c] for c in COLUMNS) for row in rows]
    sql = (f"INSERT INTO progress_record ({cols}) VALUES ({', '.join('?' * len(COLUMNS))}) "
           f"ON CONFLICT (id) DO UPDATE SET {_SET} WHERE {_WHERE}")  # fmt: skip
    before = dbapi.total_changes
    dbapi.executemany(sql, tuples)
    return dbapi.total_changes - before


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


def usage_rows(session: Session, since: datetime, until: datetime) -> list[tuple]:
    """(supplier name, system name, course id, school id, eck_id, status, state_at) in the period:
    the quality page aggregates these; it never shows a pupil."""
    from eduketen.register.models import Supplier, System

    c = ProgressRecord
    statement = (
        select(Supplier.name, System.name, c.course_id, c.school_id, c.eck_id, c.status, c.state_at)
        .join(System, System.id == c.source_system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .where(c.state_at >= since, c.state_at < until)
    )
    return [tuple(r) for r in session.execute(statement)]


def last_received_by_source(session: Session, school_id: int) -> dict[int, tuple]:
    """Per source system: (last time progress was received for the school, records held)."""
    rows = session.execute(
        select(ProgressRecord.source_system_id, func.max(ProgressRecord.received_at), func.count())
        .where(ProgressRecord.school_id == school_id)
        .group_by(ProgressRecord.source_system_id)
    )
    return {source: (last, n) for source, last, n in rows}
