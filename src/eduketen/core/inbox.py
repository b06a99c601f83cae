"""The inbox: accepted messages stored durably before the 2xx, with group commit.

Every request hands its row to one writer thread per process. The writer takes whatever has
arrived (by default it does not wait for more: under load, what arrived while the previous batch
was being written is already a batch), inserts it in one statement (``ON CONFLICT DO NOTHING`` on
the idempotency key) and commits; only then are the waiting requests told, and only then do they
answer 202. Many requests share one fsync, and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert as generic_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from eduketen.core.db import begin_immediate, in_chunks, sqlite_locking, sqlite_time
from eduketen.core.identifiers import new_uuid4
from eduketen.core.models import InboxMessage

log = logging.getLogger("eduketen.inbox")


class InboxUnavailable(RuntimeError):
    """The store could not take the message; nothing was acknowledged."""


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None
    future: Any  # asyncio.Future or concurrent result holder
    done: threading.Event | None = None
    result: bool | BaseException | None = field(default=None)


def insert_statement(engine: Engine):
    table = InboxMessage.__table__
    if engine.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    if engine.dialect.name == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    return generic_insert(table).returning(table.c.id)  # pragma: no cover


class GroupCommitWriter:
    """One writer thread per process: whatever requests handed in while it was busy (and, with
    ``wait_ms``, within that many milliseconds after the first) is written in one transaction and
    committed once; then each waiting request gets its result. Subclasses say how a batch is
    written (``write_batch``)."""

    name = "group-commit"

    def __init__(
        self,
        engine: Engine,
        *,
        batch_max: int = 256,
        wait_ms: float = 2.0,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        """On SQLite, how ``engine`` waits for another process's write lock is the engine's own
        (``make_engine(..., lock_poll_seconds=...)``, see ``db.begin_immediate``)."""
        self._engine = engine
        self._batch_max = batch_max
        self._wait = wait_ms / 1000.0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._on_commit = on_commit
        self.batches = 0
        self.rows = 0

    def write_batch(self, conn, rows: list[Any]) -> list[Any]:  # pragma: no cover - abstract
        """Write ``rows`` in the open transaction ``conn``; one result per row."""
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    async def submit(self, row: dict[str, Any]) -> bool:
        """Store ``row``; True when new, False when the same message was stored before."""
        self.start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Pending(row=row, loop=loop, future=future))
        return await future

    def submit_sync(self, row: dict[str, Any], timeout: float = 30.0) -> bool:
        self.start()
        pending = _Pending(row=row, loop=None, future=None, done=threading.Event())
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise InboxUnavailable("inbox writer did not answer in time")
        if isinstance(pending.result, BaseException):
            raise pending.result
        return bool(pending.result)

    # -- writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait
            stop = False
            while len(batch) < self._batch_max:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _transaction(self, rows: list[Any]) -> list[Any]:
        """Write ``rows`` in one transaction."""
        with self._engine.begin() as conn:
            return self.write_batch(conn, rows)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            results = self._transaction([p.row for p in batch])
        except Exception as exc:  # the store failed: every waiting request gets an error, no 2xx
            log.error("%s write failed: %s", self.name, type(exc).__name__)
            error = InboxUnavailable("store unavailable")
            self._resolve(batch, [error] * len(batch))
            return
        self.batches += 1
        self.rows += len(batch)
        self._resolve(batch, results)
        if self._on_commit is not None:
            self._on_commit()

    @staticmethod
    def _resolve(batch: list[_Pending], results: list[Any]) -> None:
        """Each waiting request gets its result: a thread waiting in ``submit_sync`` at once, the
        requests of an event loop in one callback per loop (one wake-up of the loop per batch)."""
        waiting: dict[Any, list[tuple[asyncio.Future, Any]]] = {}
        for pending, result in zip(batch, results, strict=True):
            if pending.loop is None:
                pending.result = result
                pending.done.set()  # type: ignore[union-attr]
            else:
                waiting.setdefault(pending.loop, []).append((pending.future, result))
        for loop, settled in waiting.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass


def _settle(settled: list[tuple[asyncio.Future, Any]]) -> None:
    for future, value in settled:
        if future.done():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


_COLUMNS = tuple(c.name for c in InboxMessage.__table__.columns)
# rows of one SQLite statement: its bound parameters within SQLite's limit (32,766 since 3.32, 999 before)
_SQLITE_ROWS_PER_STATEMENT = (32766 if sqlite3.sqlite_version_info >= (3, 32) else 999) // len(_COLUMNS)
_DEFAULTS = {"status": "pending", "attempts": 0, "item_count": 0}  # the columns' defaults
_COLUMN_DEFAULTS = tuple((name, _DEFAULTS.get(name)) for name in _COLUMNS)


def new_message_id() -> str:
    return str(new_uuid4())


_HASH_STEP = 2047  # hashlib lets go of the interpreter lock for 2,048 bytes or more at once


def idempotency_key(material: bytes) -> str:
    """SHA-256 of ``material``, fed in steps under 2 KiB. The writer thread computes it, and
    hashlib hands the interpreter lock to the event loop for a larger piece and then has to
    wait to get it back (up to the 5 ms switch interval while the loop is busy); a 15 KB list
    would cost the writer that wait once per message."""
    digest = hashlib.sha256()
    view = memoryview(material)
    for start in range(0, len(view), _HASH_STEP):
        digest.update(view[start : start + _HASH_STEP])
    return digest.hexdigest()


class InboxWriter(GroupCommitWriter):
    """Accepted messages into the inbox: ``ON CONFLICT DO NOTHING`` on the idempotency key; the
    result per message is True when new, False when the same message was stored before.

    A row may carry ``idempotency_material`` (bytes) instead of ``idempotency_key``: the key
    (its SHA-256) is then computed here, in the writer thread, not in the request handler. The
    batch is written through the driver directly, on a connection the thread keeps: this thread
    shares the interpreter lock with the request handlers, and the fewer Python steps it takes
    per batch the less it holds them up."""

    name = "inbox-writer"

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._statement = insert_statement(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._raw = None  # the driver connection of the writer thread (SQLite, PostgreSQL)
        self._pg = engine.dialect.name == "postgresql"
        self._inserts: dict[int, str] = {}  # SQLite: rows in the batch -> its INSERT
        self._pg_insert: str | None = None

    def _transaction(self, rows: list[Any]) -> list[Any]:
        """The batch goes through one driver connection this thread keeps, not a new SQLAlchemy
        transaction each time (pool checkout, events, commit and return: some 150 microseconds of
        this thread's time under the interpreter lock, for a batch of a few messages). A
        connection that failed is dropped; on PostgreSQL the batch is tried once more on a new
        one (a server restart breaks the kept connection; the insert is idempotent, so a batch
        whose commit went through before the break is found stored, not stored twice)."""
        if not (self._sqlite or self._pg):
            return super()._transaction(rows)  # pragma: no cover
        rows = self._prepared(rows)
        fresh = self._raw is None
        try:
            return self._raw_transaction(rows)
        except Exception:
            self._close_raw()
            if not self._pg or fresh:
                raise
        return self._raw_transaction(rows)

    def _raw_transaction(self, rows: list[dict[str, Any]]) -> list[bool]:
        if self._raw is None:
            self._raw = self._engine.raw_connection()
            if self._sqlite:  # this connection's statements never sleep in SQLite's busy handler (below)
                self._raw.driver_connection.execute("PRAGMA busy_timeout=0")
            else:  # each batch is one statement that commits itself (one round trip)
                self._raw.driver_connection.rollback()  # (nothing open: a no-op, but autocommit needs it so)
                self._raw.driver_connection.autocommit = True
        driver = self._raw.driver_connection
        if self._pg:
            return self._write_postgres(driver, rows)
        if len(rows) <= _SQLITE_ROWS_PER_STATEMENT:
            try:
                return self._write_sqlite(driver, rows)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            # another process holds the write lock: wait for it as every writer here does
        timeout, poll = sqlite_locking(self._engine)
        begin_immediate(driver, timeout, poll)
        try:
            results = [r for part in in_chunks(rows, _SQLITE_ROWS_PER_STATEMENT) for r in self._write_sqlite(driver, part)]
            driver.execute("COMMIT")
        except BaseException:
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            raise
        finally:
            driver.execute("PRAGMA busy_timeout=0")  # begin_immediate put the engine's back
        return results

    def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.invalidate()  # not back into the pool: its state is unknown

    def stop(self) -> None:
        super().stop()
        if self._raw is not None:
            raw, self._raw = self._raw, None
            with contextlib.suppress(Exception):
                raw.invalidate()  # its busy timeout or autocommit are this writer's own, not the pool's

    @staticmethod
    def _prepared(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            material = row.pop("idempotency_material", None)
            if material is not None:
                row["idempotency_key"] = idempotency_key(material)
        return rows

    def write_batch(self, conn, rows: list[dict[str, Any]]) -> list[bool]:  # pragma: no cover
        """Another database than SQLite or PostgreSQL: through SQLAlchemy (``_transaction``
        writes those two through the kept driver connection)."""
        rows = self._prepared(rows)
        inserted = {row.id for row in conn.execute(self._statement, rows)}
        return [row["id"] in inserted for row in rows]

    def _insert_sql(self, count: int) -> str:
        """SQLite: one INSERT of ``count`` rows (made once per size); ``ON CONFLICT DO NOTHING``
        also skips the second of the same message within the batch."""
        sql = self._inserts.get(count)
        if sql is None:
            one = f"({', '.join('?' for _ in _COLUMNS)})"
            sql = (
                f"INSERT INTO inbox_message ({', '.join(_COLUMNS)}) VALUES {', '.join(one for _ in range(count))} "
                "ON CONFLICT (idempotency_key) DO NOTHING"
            )
            self._inserts[count] = sql
        return sql

    def _write_postgres(self, driver, rows: list[dict[str, Any]]) -> list[bool]:
        """The batch is one statement in autocommit: a single round trip inserts and commits it,
        and ``RETURNING`` names the rows inserted. The rows go column by column as arrays in
        binary (``unnest``), so the statement is the same text for every batch (prepared once by
        psycopg) and no value is quoted or escaped; as a statement of one placeholder per value
        it was parsed anew for each size of batch and cost this thread half again as much of the
        interpreter lock. Through SQLAlchemy it had been three times as much."""
        if self._pg_insert is None:
            types = [InboxMessage.__table__.c[name].type.compile(dialect=self._engine.dialect) for name in _COLUMNS]
            self._pg_insert = (
                f"INSERT INTO inbox_message ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
                + ", ".join(f"%b::{t}[]" for t in types)
                + ") ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
            )
        columns = [[row.get(name, default) for row in rows] for name, default in _COLUMN_DEFAULTS]
        cursor = driver.cursor()
        try:
            cursor.execute(self._pg_insert, columns)
            inserted = {rid for (rid,) in cursor.fetchall()}
        finally:
            cursor.close()
        return [row["id"] in inserted for row in rows]

    def _write_sqlite(self, driver, rows: list[dict[str, Any]]) -> list[bool]:
        """The batch as one statement. Outside a transaction it is one of its own, committed (and
        synced) by the single call that runs it; SQLite releases the interpreter lock once for
        all of it, where a transaction of BEGIN, a look-up, an insert per row and COMMIT handed
        the lock to the event loop and waited for it back at each step. The rows inserted are
        counted; only when some were not (the same message stored before, or twice in the batch)
        do their ids, new for this attempt, say which."""
        params = [_sqlite_value(row.get(name, default)) for row in rows for name, default in _COLUMN_DEFAULTS]
        cursor = driver.cursor()
        try:
            cursor.execute(self._insert_sql(len(rows)), params)
            if cursor.rowcount == len(rows):
                return [True] * len(rows)
            ids = [row["id"] for row in rows]
            stored: set[str] = set()
            for part in in_chunks(ids):
                cursor.execute(f"SELECT id FROM inbox_message WHERE id IN ({', '.join('?' for _ in part)})", part)
                stored.update(i for (i,) in cursor.fetchall())
            return [i in stored for i in ids]
        finally:
            cursor.close()


def _sqlite_value(value: Any) -> Any:
    return sqlite_time(value) if isinstance(value, datetime) else value


def activity(session, *, service: str, school_oin: str, operations: tuple[str, ...], sender_oin: str | None = None):
    """What arrived for one flow: the last message processed, and messages accepted but not
    processed (failed) since. By school (indexed), then service, operation and sender."""
    from sqlalchemy import func, select

    from eduketen.core.activity import Activity, OpenError

    where = [InboxMessage.school_oin == school_oin, InboxMessage.service == service, InboxMessage.operation.in_(operations)]
    if sender_oin is not None:
        where.append(InboxMessage.sender_oin == sender_oin)
    last, count = session.execute(
        select(func.max(InboxMessage.received_at), func.count()).where(*where, InboxMessage.status == "done")
    ).one()
    result = Activity(last_ok=last, exchanges=count or 0)
    failed = [*where, InboxMessage.status == "failed"]
    if last is not None:  # a failure followed by a message processed in the same flow is settled
        failed.append(InboxMessage.received_at > last)
    for message in session.execute(
        select(InboxMessage.received_at, InboxMessage.operation, InboxMessage.last_error)
        .where(*failed)
        .order_by(InboxMessage.received_at)
        .limit(100)
    ):
        result.errors.append(OpenError("failed", message.received_at, f"{message.operation}: {message.last_error or 'failed'}"))
    return result
