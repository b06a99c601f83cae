"""All SQL of learning progress: ingest (stage, id arbiter, monthly partitions), the worker's
aggregates, and the reads of the pages."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from itertools import chain

import orjson
from sqlalchemy import bindparam, case, delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from eduketen.core.db import in_chunks
from eduketen.insight.models import StaffAccount
from eduketen.leervoortgang.models import (
    MentorGroup,
    ProgressDay,
    ProgressDirty,
    ProgressRecord,
    ProgressUsage,
)
from eduketen.register.models import (
    GroupMembership,
    Pupil,
    PupilIdentity,
    School,
    SchoolGroup,
)

# A prepared row of one record: progress_record's columns, then the UTC day of state_at.
RECORD_COLUMNS = ("id", "state_at", "source_system_id", "school_id", "eck_id", "course_id", "unit_id", "subject", "status", "started_at",
                  "completed_at", "score_raw", "score_max", "score_pct", "judgement", "judgement_ordinal", "judgement_ordinal_max",
                  "duration_seconds", "please_follow_up", "detail_url", "goals", "received_at")  # fmt: skip
STAGE_COLUMNS = (*RECORD_COLUMNS, "day")
TIME_COLUMNS = ("state_at", "started_at", "completed_at", "received_at")
# PostgreSQL types of RECORD_COLUMNS for binary COPY.
_PG_COPY_TYPES = ("varchar", "timestamptz", "int4", "int4", "varchar", "varchar", "varchar", "varchar", "varchar", "timestamptz", "timestamptz",
                  "float8", "float8", "float8", "varchar", "int2", "int2", "int4", "bool", "varchar", "text", "timestamptz")  # fmt: skip
_KEY_STAGE = ("id", "source_system_id", "state_at")
_DIRTY = ("school_id", "eck_id", "day")

# The arbiter: insert the id, or move it to the newer state (same sending system only). The
# replaced state is kept in prev_state_at, so RETURNING tells which stored row is now old.
# ("WHERE true" lets SQLite parse an upsert over a SELECT.)
_UPSERT_KEY = (
    "INSERT INTO progress_key (id, source_system_id, state_at) SELECT id, source_system_id, state_at FROM progress_stage WHERE true "
    "ON CONFLICT (id) DO UPDATE SET prev_state_at = progress_key.state_at, state_at = excluded.state_at "
    "WHERE progress_key.state_at < excluded.state_at AND progress_key.source_system_id = excluded.source_system_id "
    "RETURNING id, prev_state_at"
)


def time_binder(bind):
    """How the ingest path passes UTC datetimes to the driver (``bind``: an engine or connection):
    a function from a list of datetimes (or None) to the list to bind; None on PostgreSQL (as
    they are), the text UTCDateTime stores on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    if bind.dialect.name == "postgresql":
        return None
    return sqlite_texts


def _sqlite_text(value: datetime | None) -> str | None:
    # The same text as core.db.sqlite_time: the first 26 characters of the UTC isoformat
    # ("YYYY-MM-DD HH:MM:SS.ffffff", then "+00:00").
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def sqlite_texts(values: list) -> list:
    """``_sqlite_text`` of each value, for thousands at once: about a sixth of the CPU of one call
    each (a datetime's isoformat is some microseconds, its tzinfo being pydantic's). orjson writes
    them all in one call, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` when in UTC; when every one is (a
    ``Z"`` each) the T becomes a space (no other T can occur in a list of such strings and
    nulls), and the ones without microseconds get ``.000000``. Otherwise one by one."""
    raw = orjson.dumps(values, option=orjson.OPT_UTC_Z)
    if raw.count(b'Z"') != len(values) - values.count(None):
        return [_sqlite_text(v) for v in values]
    texts = orjson.loads(raw.replace(b"T", b" ").replace(b'Z"', b'"'))
    return [t if t is None or len(t) == 26 else t + ".000000" for t in texts]


def _write(session: Session, table: str, columns: tuple[str, ...], rows, types: tuple[str, ...] | None = None) -> None:
    """Many rows into ``table`` at once: binary COPY on PostgreSQL (``types`` given), multi-row
    INSERTs on SQLite (``_sqlite_insert``). The only dialect-dependent step of ingest."""
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
    else:
        _sqlite_insert(dbapi, table, columns, rows if isinstance(rows, list) else list(rows))


def _sqlite_insert(dbapi, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERTs of up to 1,024 rows each (as many as SQLite's limit on parameters allows; the
    sizes are powers of two, so a handful of statement texts serve every request and stay in the
    driver's statement cache). Not ``executemany``: that lets go of Python's interpreter lock
    for every row and takes it back after, and while the event loop validates the next request
    (one long call that holds the lock) each of those takes a wait; measured with such a
    competing thread, a 2,000-row bulk took five to seven times as long as alone, in a handful
    of statements about twice. Each statement here runs through all its rows without the lock."""
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    fits = max(1, min(1024, dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns)))
    size = 1 << (fits.bit_length() - 1)
    start, n = 0, len(rows)
    while start < n:
        while size > n - start:
            size //= 2
        dbapi.execute(head + ", ".join([one] * size), list(chain.from_iterable(rows[start:start + size])))
        start += size


def _stage_keys(session: Session, rows: list[tuple]) -> None:
    """(id, source_system_id, state_at) of ``rows`` into the connection's temporary ``progress_stage``.
    Created in every transaction if missing (not remembered per connection: a transaction that
    created it and then rolled back takes the table along)."""
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":  # emptied at every commit (and a rollback takes its rows along)
        with dbapi.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS progress_stage (id varchar(36), source_system_id int, state_at timestamptz) "
                           "ON COMMIT DELETE ROWS")  # fmt: skip
    else:
        dbapi.execute("CREATE TEMPORARY TABLE IF NOT EXISTS progress_stage (id, source_system_id, state_at)")
        dbapi.execute("DELETE FROM progress_stage")
    _write(session, "progress_stage", _KEY_STAGE, [(r[0], r[2], r[1]) for r in rows], ("varchar", "int4", "timestamptz"))


def _day_of(value) -> str:
    """The UTC day of a stored time as the driver returns it (text on SQLite, datetime on PostgreSQL)."""
    if isinstance(value, str):
        return value[:10]
    return value.astimezone(UTC).date().isoformat()


def ingest(session: Session, rows: list[tuple]) -> int:
    """Store prepared rows (STAGE_COLUMNS order, each id once, times as ``time_binder`` gives them)
    where the state is new or newer than the stored one and comes from the system that first sent
    the id. Returns the rows applied; an equal or older state, or another system's id, changes
    nothing. The same SQL on both databases:

    1. the rows' (id, system, state) into a temporary stage, then one upsert into ``progress_key``
       (the newer-wins rule) RETURNING the ids applied and the state each replaced;
    2. delete the replaced rows of ``progress_record`` (by id and old state_at: on PostgreSQL
       that finds their partition), RETURNING their cells;
    3. the applied rows straight into ``progress_record`` (COPY / executemany; a plain insert: the
       key row is locked until commit, so no other transaction writes the same id meanwhile);
    4. the cells of the old and new states into ``progress_dirty`` for the worker's aggregates.
    """
    if not rows:
        return 0
    _stage_keys(session, rows)
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(_UPSERT_KEY)
        applied = cursor.fetchall()
    finally:
        cursor.close()
    if not applied:
        return 0
    if len(applied) < len(rows):  # some stale: write only the applied ones
        keep = {rid for rid, _ in applied}
        rows = [r for r in rows if r[0] in keep]
    replaced = [(rid, prev) for rid, prev in applied if prev is not None]
    cells = {(r[3], r[4], r[-1]) for r in rows}
    for start in range(0, len(replaced), 2000):
        chunk = replaced[start:start + 2000]
        gone = connection.execute(
            text("DELETE FROM progress_record WHERE id IN :ids AND state_at IN :ats RETURNING school_id, eck_id, state_at").bindparams(
                bindparam("ids", expanding=True), bindparam("ats", expanding=True)),
            {"ids": [rid for rid, _ in chunk], "ats": sorted({prev for _, prev in chunk})},
        )  # fmt: skip
        cells.update((school_id, eck_id, _day_of(at)) for school_id, eck_id, at in gone)
    _write(session, "progress_record", RECORD_COLUMNS, [r[:-1] for r in rows], _PG_COPY_TYPES)
    _write(session, "progress_dirty", _DIRTY, cells, ("int4", "varchar", "varchar"))
    return len(applied)


def record(session: Session, record_id: str) -> ProgressRecord | None:
    return session.scalar(select(ProgressRecord).where(ProgressRecord.id == record_id))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ProgressRecord)) or 0


# -- monthly partitions (PostgreSQL) ----------------------------------------------------------------------


def _months(start: date, n: int) -> list[tuple[int, int]]:
    out = []
    y, m = start.year, start.month
    for _ in range(n):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def partitions(session: Session) -> list[str]:
    """Names of progress_record's partitions (PostgreSQL; empty on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    rows = session.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'progress_record' ORDER BY 1"))  # fmt: skip
    return [r[0] for r in rows]


def ensure_partitions(session: Session, *, today: date, ahead: int = 3, months: tuple[tuple[int, int], ...] = ()) -> list[str]:
    """Create the month partitions from last month to ``ahead`` months after this one, the given
    (year, month) ``months``, and one for every month (2000 up to next year) that has rows in the
    default partition, moving those rows in. Returns the partitions created. Nothing on SQLite
    (one plain table)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    existing = set(partitions(session))
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    wanted = set(_months(first, ahead + 2)) | set(months)
    stray = session.execute(text("SELECT DISTINCT date_trunc('month', state_at AT TIME ZONE 'UTC') FROM progress_record_default"))
    in_default = {(m.year, m.month) for (m,) in stray if 2000 <= m.year <= today.year + 1}
    created = []
    for y, m in sorted(wanted | in_default):
        name = f"progress_record_p{y:04d}{m:02d}"
        if name in existing:
            continue
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        low, high = f"'{y:04d}-{m:02d}-01 00:00:00+00'", f"'{ny:04d}-{nm:02d}-01 00:00:00+00'"
        if (y, m) in in_default:
            # Rows of this month wait in the default partition: a new partition beside it would
            # overlap them, so build it apart, move them in and attach it.
            session.execute(text(f"CREATE TABLE {name} (LIKE progress_record INCLUDING DEFAULTS)"))
            session.execute(text(f"WITH moved AS (DELETE FROM progress_record_default WHERE state_at >= {low} AND state_at < {high} "
                                 f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"))  # fmt: skip
            session.execute(text(f"ALTER TABLE progress_record ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"))
        else:
            session.execute(text(f"CREATE TABLE {name} PARTITION OF progress_record FOR VALUES FROM ({low}) TO ({high})"))
        created.append(name)
    return created


# -- aggregates (the worker) -------------------------------------------------------------------------------


def peek_dirty(session: Session, limit: int) -> list[tuple[int, int, str, str]]:
    """The oldest ``limit`` dirty marks (seq, school_id, eck_id, day), left in place."""
    d = ProgressDirty
    return [tuple(r) for r in session.execute(select(d.seq, d.school_id, d.eck_id, d.day).order_by(d.seq).limit(limit))]


def delete_dirty(session: Session, seqs: list[int]) -> None:
    d = ProgressDirty
    for start in range(0, len(seqs), 5000):
        session.execute(delete(d).where(d.seq.in_(seqs[start:start + 5000])))


def dirty_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ProgressDirty)) or 0


def oldest_dirty_day(session: Session) -> str | None:
    return session.scalar(select(func.min(ProgressDirty.day)))


def raw_rows_for_cells(session: Session, school_id: int, eck_ids: list[str], first: str, last: str) -> list[tuple]:
    """(eck_id, day, subject, source_system_id, course_id, unit_id, status, score_pct, duration_seconds,
    please_follow_up) of the pupils' records with state_at on the days ``first``..``last``."""
    c = ProgressRecord
    since = datetime.fromisoformat(first).replace(tzinfo=UTC)
    until = datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(days=1)
    out = []
    for part in in_chunks(eck_ids):
        statement = select(c.eck_id, c.state_at, c.subject, c.source_system_id, c.course_id, c.unit_id, c.status, c.score_pct,
                           c.duration_seconds, c.please_follow_up).where(
            c.school_id == school_id, c.eck_id.in_(part), c.state_at >= since, c.state_at < until)  # fmt: skip
        out += [(r[0], r[1].date().isoformat(), *r[2:]) for r in session.execute(statement)]
    return out


def replace_days(session: Session, cells: list[tuple[int, str, str]], rows: list[dict]) -> None:
    """Replace the progress_day rows of ``cells`` (school_id, eck_id, day) with ``rows``."""
    d = ProgressDay
    for part in in_chunks(cells):
        session.execute(delete(d).where(tuple_(d.school_id, d.eck_id, d.day).in_(part)))
    if rows:
        session.execute(insert(d), rows)


def usage_from_days(session: Session, school_id: int, first: str, last: str) -> list[tuple]:
    """Per material: (source_system_id, course_id, activated, used, units) of a school on the days first..last."""
    d = ProgressDay
    per_pupil = (
        select(d.source_system_id, d.course_id, d.eck_id, func.sum(d.units).label("units"))
        .where(d.school_id == school_id, d.day >= first, d.day <= last)
        .group_by(d.source_system_id, d.course_id, d.eck_id)
        .subquery()
    )
    p = per_pupil.c
    statement = select(p.source_system_id, p.course_id, func.count(), func.sum(case((p.units > 0, 1), else_=0)), func.sum(p.units)).group_by(
        p.source_system_id, p.course_id)  # fmt: skip
    return [tuple(r) for r in session.execute(statement)]


def replace_usage(session: Session, school_id: int, week: str, rows: list[dict]) -> None:
    u = ProgressUsage
    session.execute(delete(u).where(u.school_id == school_id, u.week == week))
    if rows:
        session.execute(insert(u), rows)


# -- reads of the pages -------------------------------------------------------------------------------------


def day_sums(session: Session, school_id: int, eck_ids: list[str], first: str, last: str) -> list[tuple]:
    """(eck_id, day, subject, records, units, completed, abandoned, seconds, score_sum, score_n, follow_up)
    of the pupils on the days first..last, from the aggregate (no raw record is read)."""
    if not eck_ids:
        return []
    d = ProgressDay
    statement = select(d.eck_id, d.day, d.subject, d.records, d.units, d.completed, d.abandoned, d.seconds, d.score_sum, d.score_n,
                       d.follow_up).where(d.school_id == school_id, d.eck_id.in_(eck_ids), d.day >= first, d.day <= last)  # fmt: skip
    return [tuple(r) for r in session.execute(statement)]


def usage_weeks(session: Session, first_week: str, last_week: str) -> list[tuple]:
    """(supplier name, system name, course id, week, schools, activated, used, units) over every school."""
    from eduketen.register.models import Supplier, System

    u = ProgressUsage
    statement = (
        select(Supplier.name, System.name, u.course_id, u.week, func.count(), func.sum(u.activated), func.sum(u.used), func.sum(u.units))
        .join(System, System.id == u.source_system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .where(u.week >= first_week, u.week <= last_week)
        .group_by(Supplier.name, System.name, u.course_id, u.week)
    )
    return [tuple(r) for r in session.execute(statement)]


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


def last_received_by_source(session: Session, school_id: int) -> dict[int, tuple]:
    """Per source system: (last time progress was received for the school, records held)."""
    rows = session.execute(
        select(ProgressRecord.source_system_id, func.max(ProgressRecord.received_at), func.count())
        .where(ProgressRecord.school_id == school_id)
        .group_by(ProgressRecord.source_system_id)
    )
    return {source: (last, n) for source, last, n in rows}


def privacy_tables():
    """The progress tables that hold pupil data (eduketen.core.privacy), by ECK iD: the records,
    the per-day aggregates and the cells waiting for the worker."""
    from eduketen.core.privacy import PupilData

    return [
        PupilData("leervoortgang.voortgang", ProgressRecord.__table__, school_column="school_id", eck_column="eck_id"),
        PupilData("leervoortgang.dagtotalen", ProgressDay.__table__, school_column="school_id", eck_column="eck_id"),
        PupilData("leervoortgang.te_herberekenen", ProgressDirty.__table__, school_column="school_id", eck_column="eck_id"),
    ]
