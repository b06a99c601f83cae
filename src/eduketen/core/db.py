"""Database engine and sessions: one code path for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import weakref
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on both backends (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if dialect.name == "postgresql" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime (SQLAlchemy's SQLite DATETIME) stores a value


def sqlite_time(value: datetime) -> str:
    """A datetime as UTCDateTime stores it on SQLite (UTC, no zone, microseconds), for SQL that
    bypasses the ORM's types; the stored text orders like the time."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)


def bind_time(engine: Engine, value: datetime):
    """A datetime to bind into textual SQL: as stored on SQLite, as it is on PostgreSQL."""
    return sqlite_time(value) if engine.dialect.name == "sqlite" else value


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(
    url: str, *, pool_size: int = 8, busy_timeout_ms: int = 30000, synchronous: str = "FULL", lock_poll_seconds: float | None = None
) -> Engine:
    """``busy_timeout_ms`` (SQLite): how long a statement waits for another writer's lock
    (see ``begin_immediate``). 0 makes it fail at once, for callers that retry quickly
    themselves (see ``GroupCommitWriter``).

    ``synchronous`` (SQLite): ``FULL`` (default) syncs the WAL at every commit, so a committed
    transaction survives a power failure. ``NORMAL`` does not sync at commit: it survives a
    crashed or killed process, and the next FULL commit of any connection (the WAL is one file,
    synced as a whole) makes it durable too; after a power failure the database is what it was
    at some earlier commit, never half a transaction. Only for background work whose loss
    undoes nothing that was acknowledged: see ``Platform.build``.

    ``lock_poll_seconds`` (SQLite): how often a writer waiting for the write lock looks again
    (default ``LOCK_POLL_SECONDS``); the API's group-commit writers look more often."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError("synchronous is FULL or NORMAL")
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # pragma: no cover - exercised by every SQLite test
            # Autocommit at the driver level; SQLAlchemy issues BEGIN itself (below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # FULL: nothing acknowledged is lost
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # Up to 64 MiB of pages per connection (SQLite's default is 2 MiB): the indexes that
            # ingest inserts into at random places (a record id, a pupil) stay in memory instead
            # of being read again from the OS for every few rows; measured on progress ingest,
            # about a quarter less CPU per stored record once the tables pass some tens of MB.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            # A checkpoint when the WAL passes 64 MiB instead of SQLite's 4 MiB: a bulk of 2,000
            # progress records writes some MB of pages, so with the default nearly every commit
            # also copied the WAL back into the database (and synced it), writing the same hot
            # index pages again each time; measured, about a third less CPU in commit.
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
            cursor.close()

        _SQLITE_LOCKING[engine] = (busy_timeout_ms / 1000, lock_poll_seconds or LOCK_POLL_SECONDS)

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover
            # Take the write lock up front: no deadlock-prone lock upgrades between processes.
            # Read-only sessions (see read_sessionmaker) take no lock: WAL readers never wait.
            # The BEGIN goes straight to the driver (a few microseconds), not through
            # exec_driver_sql (a SQLAlchemy execution, ~0.1 ms: a tenth of the CPU of serving a
            # PDF report from its one-row read).
            if conn.get_execution_options().get("readonly"):
                conn.connection.driver_connection.execute("BEGIN")
            elif busy_timeout_ms > 0:
                begin_immediate(conn.connection.driver_connection, busy_timeout_ms / 1000, lock_poll_seconds or LOCK_POLL_SECONDS)
            else:
                conn.connection.driver_connection.execute("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True)


# SQLite's page cache per connection (KiB). Memory is taken as pages are read, up to this.
SQLITE_CACHE_KIB = 65536

# Pages (4 KiB) the write-ahead log may hold before a commit copies it back into the database.
SQLITE_WAL_CHECKPOINT_PAGES = 16384

# How often a writer looks again whether SQLite's write lock is free (seconds).
LOCK_POLL_SECONDS = 0.001

# Values per IN list in one statement (SQLite binds at most 32,766 parameters per statement).
IN_LIST_SIZE = 500


def in_chunks(values: Sequence, size: int = IN_LIST_SIZE) -> Iterator[Sequence]:
    """``values`` in consecutive parts of at most ``size``: one IN list each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# SQLite engines made by make_engine -> (seconds a writer waits for the lock, how often it looks).
_SQLITE_LOCKING: weakref.WeakKeyDictionary[Engine, tuple[float, float]] = weakref.WeakKeyDictionary()


def sqlite_locking(engine: Engine) -> tuple[float, float]:
    """How ``begin_immediate`` waits on this engine: (timeout, poll) in seconds."""
    return _SQLITE_LOCKING.get(engine, (30.0, LOCK_POLL_SECONDS))


def begin_immediate(driver_connection, timeout: float, poll: float = LOCK_POLL_SECONDS) -> None:
    """``BEGIN IMMEDIATE`` that waits for another process's write lock by looking again every
    millisecond, for up to ``timeout`` seconds. SQLite's own busy handler sleeps in growing steps
    of up to 100 ms, so with several processes writing (API, workers, outbox) the lock would stay
    unused for most of those sleeps; measured in the chain test, the workers spent more time
    waiting there than working. Only the BEGIN waits here: every write transaction takes the lock
    up front, so later statements of the transaction do not wait for it. A look is one call into
    the driver (about 5 microseconds of CPU), not a new SQLAlchemy transaction (about 150)."""
    deadline = time.monotonic() + timeout
    driver_connection.execute("PRAGMA busy_timeout=0")  # (a PRAGMA is a few microseconds)
    try:
        while True:
            try:
                driver_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
            time.sleep(poll)
    finally:
        driver_connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that only read: on SQLite they take no write lock. Never write through them."""
    return sessionmaker(engine.execution_options(readonly=True), expire_on_commit=False)


@contextlib.contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises. Services never commit."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
