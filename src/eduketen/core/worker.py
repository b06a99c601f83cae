"""The worker: claims accepted messages, runs their handler, marks them done, all in one
transaction per message, so a crash anywhere leaves work that a restarted worker picks up and
no message has its effect twice.

Claiming is a lease: ``status='processing'`` with ``locked_until``. A message whose lease ran out
(its worker died) is claimed again. The claim bumps ``attempts``, which doubles as a fencing
token: a worker finishes a message only if ``attempts`` is still what it claimed.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import bind_time, in_chunks, utcnow
from eduketen.core.models import InboxMessage

log = logging.getLogger("eduketen.worker")

Handler = Callable[[Session, InboxMessage], dict[str, Any]]


class TwoPhase:
    """A handler whose slow, read-only part (``prepare``: e.g. making a PDF) runs outside the
    transaction, so the write lock is held only for ``apply``. Several worker processes can then
    prepare in parallel, even on SQLite."""

    def prepare(self, session_factory: sessionmaker[Session], message: InboxMessage) -> Any:  # pragma: no cover
        raise NotImplementedError

    def apply(self, session: Session, message: InboxMessage, prepared: Any) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    # A handler that is also ``Batched`` applies a group with ``apply_many(session, messages,
    # prepared values)`` (returning the outcome per message id) instead of ``handle_many``.


class Batched:
    """A handler that processes several claimed messages of its operation at once
    (``handle_many``: the messages in the order they arrived, returning the outcome per message
    id), e.g. with one statement per table for the lot instead of several per message. The group
    runs in one savepoint; if it raises, or any message of it was taken over by another worker,
    the savepoint is rolled back and each message is processed alone (``__call__``), so a bad
    message still fails alone and the effects are those of one message after the other."""

    def __call__(self, session: Session, message: InboxMessage) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def handle_many(self, session: Session, messages: list[InboxMessage]) -> dict[str, dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


class _GroupFailed(Exception):
    """Raised inside a group's savepoint: undo the group, then process its messages one by one."""


class PollingLoop:
    """A background thread that calls ``run_once`` until stopped, sleeping ``poll`` seconds
    (or until ``wake``) whenever a round found nothing to do. A failing round (the database
    restarting, say) is logged and tried again."""

    thread_name = "loop"

    def __init__(self, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_exit(self) -> None:
        """Called in the loop's thread when it stops."""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run_forever, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def should_yield(self) -> float:
        """Seconds to stay out of the way before the next round (0: go on). The worker uses it
        to give the API priority while messages are arriving."""
        return 0.0

    def on_start(self) -> None:
        """Called in the loop's thread before its first round."""

    def run_forever(self) -> None:
        try:
            self.on_start()
        except Exception:
            log.exception("%s start failed", self.thread_name)
        while not self._stop.is_set():
            try:
                pause = self.should_yield()
            except Exception:
                log.exception("%s yield check failed", self.thread_name)
                pause = 0.0
            if pause > 0:
                self._stop.wait(pause)
                continue
            try:
                worked = self.run_once()
            except Exception:
                log.exception("%s round failed", self.thread_name)
                worked = 0
            if not worked:
                self._wake.wait(self._poll)
                self._wake.clear()
        self.on_exit()

    def drain(self, max_rounds: int = 1_000_000) -> int:
        """Run rounds until one finds nothing to do (tests and the CLI)."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if not done:
                break
        return total


class _LostLease(Exception):
    """Raised inside a savepoint to undo the effects of a message another worker took over."""


class PermanentError(Exception):
    """A message that can never be processed (retrying will not help)."""


@dataclass
class WorkerStats:
    processed: int = 0
    failed: int = 0
    retried: int = 0
    lost_lease: int = 0


class Worker(PollingLoop):
    thread_name = "worker"
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        handlers: dict[str, Handler],
        *,
        batch: int = 50,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.2,
        max_attempts: int = 5,
        read_sessions: sessionmaker[Session] | None = None,
        txn_seconds: float = 0.05,
        yield_seconds: float = 0.0,
        yield_arrivals: int = 10,
        max_lag_seconds: float = 30.0,
    ) -> None:
        self._yield_arrivals = max(1, yield_arrivals)
        self._txn_seconds = txn_seconds
        self._yield_seconds = yield_seconds
        self._max_lag = timedelta(seconds=max_lag_seconds)
        self._lagging = False
        self._sessions = session_factory
        self._read_sessions = read_sessions or session_factory
        self._handlers = handlers
        self._batch = batch
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        super().__init__(poll_seconds)
        self.stats = WorkerStats()
        engine = session_factory.kw["bind"]
        self._skip_locked = engine.dialect.name == "postgresql"

    def on_start(self) -> None:
        """Let handlers load what they need once per process (fonts, specifications) before
        the first message, not while the first messages wait."""
        for handler in {id(h): h for h in self._handlers.values()}.values():
            warm = getattr(handler, "warm", None)
            if callable(warm):
                warm()

    # -- giving the API priority --------------------------------------------------------------
    def should_yield(self) -> float:
        """While the API is busy (at least ``yield_arrivals`` messages arrived within the last
        ``yield_seconds``), stay out of its way: it answers its 202s without waiting for the
        write lock (SQLite) or for CPU taken by processing. A trickle of messages does not count
        as busy. Once the oldest waiting message is ``max_lag_seconds`` old, process anyway, round
        after round (each transaction is short, and the API's writers look for the write lock
        more often than the worker), until the oldest waiting message is younger than half of
        that: a long burst delays processing by about that much and never stops it, and a steady
        flow (a LAS receiving results all day) is processed as fast as it comes. Taking turns
        (one round, one pause) instead kept the backlog of such a flow growing: measured in the
        chain test, a LAS worker then stored ~60 results a second of the ~100 that arrived.
        ``yield_seconds`` 0 turns this off."""
        if self._yield_seconds <= 0:
            return 0.0
        now = utcnow()
        since = now - timedelta(seconds=self._yield_seconds)
        waiting = (InboxMessage.status == "pending", InboxMessage.available_at <= now)
        with self._read_sessions() as session:  # range lookups on the claim index
            recent = session.scalar(
                select(func.count()).select_from(InboxMessage).where(*waiting, InboxMessage.available_at > since)
            )
            oldest = (
                session.scalar(select(func.min(InboxMessage.available_at)).where(*waiting))
                if recent >= self._yield_arrivals
                else None
            )
        if oldest is None:
            self._lagging = False
            return 0.0  # not busy: process
        lag = now - oldest
        if lag >= self._max_lag or (self._lagging and lag >= self._max_lag / 2):
            self._lagging = True  # busy and lagging: catch up
            return 0.0
        self._lagging = False
        return self._yield_seconds  # busy, and nothing has waited too long: wait

    # -- one round ----------------------------------------------------------------------
    def claim(self) -> list[tuple[str, int]]:
        now = utcnow()
        lock = " FOR UPDATE SKIP LOCKED" if self._skip_locked else ""
        sql = text(
            "UPDATE inbox_message SET status='processing', locked_until=:lease, attempts=attempts+1 "
            "WHERE id IN (SELECT id FROM inbox_message "
            "WHERE (status='pending' AND available_at <= :now) "
            "OR (status='processing' AND locked_until < :now) "
            f"ORDER BY received_at LIMIT :n{lock}) RETURNING id, attempts, received_at, operation"
        ).bindparams(
            lease=bind_time(self._sessions.kw["bind"], now + self._lease),
            now=bind_time(self._sessions.kw["bind"], now),
            n=self._batch,
        )
        # A read first (on SQLite it takes no write lock and never waits): an idle worker does
        # not queue for the write lock that the API's inbox writer needs.
        due = text(
            "SELECT 1 FROM inbox_message WHERE (status='pending' AND available_at <= :now) "
            "OR (status='processing' AND locked_until < :now) LIMIT 1"
        ).bindparams(now=bind_time(self._sessions.kw["bind"], now))
        with self._read_sessions() as session:
            if session.execute(due).first() is None:
                self._operations, self._messages = {}, {}
                return []
        table = InboxMessage.__table__
        with self._sessions() as session, session.begin():
            rows = session.execute(sql).all()
            # The claimed messages, read once in the claiming transaction (one statement for the
            # batch, no ORM identity map): handlers get them as plain (transient) objects.
            messages: dict[str, InboxMessage] = {}
            ids = [row.id for row in rows]
            for part in in_chunks(ids):
                for full in session.execute(select(table).where(table.c.id.in_(part))):
                    messages[full.id] = InboxMessage(**full._mapping)
        rows.sort(key=lambda r: str(r.received_at))
        self._operations = {row.id: row.operation for row in rows}
        self._messages = messages
        return [(row.id, row.attempts) for row in rows]

    def run_once(self) -> int:
        """Claim a batch and process it in few transactions, each message in its own savepoint:
        one commit (one fsync) per chunk instead of per message, and a message that fails rolls
        back only its own effects. A transaction is committed once it has run ``txn_seconds``,
        so the write lock (SQLite) is never held long enough to keep the API waiting."""
        claimed = self.claim()
        if not claimed:
            return 0
        prepared = self._prepare_all(claimed)
        failures: list[tuple[str, int, Exception]] = []
        pending = list(claimed)
        while pending:
            chunk_done: list[tuple[str, int]] = []
            done = 0
            session = self._sessions()
            try:
                with session.begin():
                    started = time.monotonic()
                    while pending:
                        group = self._group(pending)
                        if group:
                            del pending[: len(group)]
                            chunk_done += group
                            grouped = self._process_group(session, group, prepared)
                            if grouped is not None:
                                done += grouped
                                if time.monotonic() - started > self._txn_seconds:
                                    break
                                continue
                            alone = group  # the group's savepoint was rolled back: one by one
                        else:
                            alone = [pending.pop(0)]
                            chunk_done += alone
                        for message_id, attempts in alone:
                            try:
                                with session.begin_nested():
                                    done += self._process(session, message_id, attempts, prepared[message_id])
                            except Exception as exc:  # noqa: BLE001 - the message fails alone (its savepoint)
                                failures.append((message_id, attempts, exc))
                        if time.monotonic() - started > self._txn_seconds:
                            break
            except Exception as exc:  # noqa: BLE001 - the commit itself failed: nothing of the chunk happened
                session.rollback()
                failures += [(message_id, attempts, exc) for message_id, attempts in chunk_done]
                done = 0
            finally:
                session.close()
            self.stats.processed += done
        for message_id, attempts, exc in failures:
            self._failed(message_id, attempts, exc)
        return len(claimed)

    GROUP_SIZE = 100

    def _group(self, pending: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """The messages at the head of ``pending`` that one ``Batched`` handler can take at once
        (at least two, same operation, still claimed by this worker); empty otherwise."""
        first = self._message(*pending[0])
        handler = self._handlers.get(first.operation) if first is not None else None
        if not isinstance(handler, Batched):
            return []
        group = []
        for message_id, attempts in pending[: self.GROUP_SIZE]:
            message = self._message(message_id, attempts)
            if message is None or message.operation != first.operation:
                break
            group.append((message_id, attempts))
        return group if len(group) > 1 else []

    def _process_group(self, session: Session, group: list[tuple[str, int]], prepared: dict[str, tuple[bool, Any]]) -> int | None:
        """A group in one savepoint: the handler's ``handle_many`` (a two-phase handler's
        ``apply_many``, with what ``prepare`` made), then each message marked done (fenced as in
        ``_process``). None when the savepoint was rolled back."""
        messages = [self._message(message_id, attempts) for message_id, attempts in group]
        handler = self._handlers[messages[0].operation]
        try:
            with session.begin_nested():
                if isinstance(handler, TwoPhase):
                    values = [prepared[m.id][1] for m in messages]
                    if not all(prepared[m.id][0] for m in messages) or any(isinstance(v, Exception) for v in values):
                        raise _GroupFailed()  # a job whose prepare failed fails alone
                    outcomes = handler.apply_many(session, messages, values)
                else:
                    outcomes = handler.handle_many(session, messages)
                conn = session.connection()
                statement = _done_statement()
                now = utcnow()
                rows = [
                    {"b_id": message.id, "b_attempts": message.attempts, "processed_at": now,
                     "outcome": json.dumps(outcomes[message.id], sort_keys=True)}
                    for message in messages
                ]  # fmt: skip
                if conn.dialect.supports_sane_multi_rowcount:
                    # one executemany; each row matches at most one message (its id), so the
                    # total is the group's size exactly when every claim still holds
                    if conn.execute(statement, rows).rowcount != len(rows):
                        raise _GroupFailed()
                else:  # pragma: no cover - a driver that cannot count an executemany's rows
                    for row in rows:
                        if conn.execute(statement, row).rowcount != 1:
                            raise _GroupFailed()
        except Exception:  # noqa: BLE001 - each message is processed alone next, and fails alone if it must
            return None
        return len(messages)

    def _message(self, message_id: str, attempts: int) -> InboxMessage | None:
        message = getattr(self, "_messages", {}).get(message_id)
        return message if message is not None and message.attempts == attempts else None

    def _prepare_all(self, claimed: list[tuple[str, int]]) -> dict[str, tuple[bool, Any]]:
        """The slow read-only part of two-phase handlers, outside any write transaction. A
        handler with ``prepare_many`` gets all its messages of the batch at once (one read for
        them all); otherwise ``prepare`` per message."""
        prepared: dict[str, tuple[bool, Any]] = {message_id: (False, None) for message_id, _ in claimed}
        groups: dict[str, list[InboxMessage]] = {}
        for message_id, attempts in claimed:
            message = self._message(message_id, attempts)
            if message is not None and isinstance(self._handlers.get(message.operation), TwoPhase):
                groups.setdefault(message.operation, []).append(message)
        for operation, messages in groups.items():
            handler = self._handlers[operation]
            many = getattr(handler, "prepare_many", None)
            if many is not None:
                try:
                    values = many(self._read_sessions, messages)
                except Exception as exc:  # noqa: BLE001 - reported when each message is processed
                    values = {m.id: exc for m in messages}
                for m in messages:
                    prepared[m.id] = (True, values.get(m.id))
                continue
            for m in messages:
                try:
                    prepared[m.id] = (True, handler.prepare(self._read_sessions, m))
                except Exception as exc:  # noqa: BLE001 - reported when the message is processed
                    prepared[m.id] = (True, exc)
        return prepared

    def _process(self, session: Session, message_id: str, attempts: int, prepared: tuple[bool, Any]) -> int:
        message = self._message(message_id, attempts)
        if message is None:
            self.stats.lost_lease += 1
            return 0
        handler = self._handlers.get(message.operation)
        if handler is None:
            raise PermanentError(f"no handler for operation {message.operation!r}")
        two_phase, value = prepared
        if isinstance(value, Exception):
            raise value
        outcome = handler.apply(session, message, value) if two_phase and isinstance(handler, TwoPhase) else handler(session, message)
        # Fenced: only while this claim still holds (status and attempts as claimed). Otherwise
        # another worker took the message over: undo our effects (the savepoint).
        result = session.connection().execute(
            _done_statement(),
            {
                "b_id": message_id,
                "b_attempts": attempts,
                "processed_at": utcnow(),
                "outcome": json.dumps(outcome, sort_keys=True),
            },
        )
        if result.rowcount != 1:
            self.stats.lost_lease += 1
            raise _LostLease()
        return 1

    def _failed(self, message_id: str, attempts: int, exc: Exception) -> None:
        if isinstance(exc, _LostLease):
            return
        # Only the exception type and our own text: an arbitrary message may hold pupil data.
        reason = type(exc).__name__
        if isinstance(exc, PermanentError):
            reason = f"{reason}: {exc}"
        permanent = isinstance(exc, PermanentError) or attempts >= self._max_attempts
        log.warning("message %s failed (attempt %d): %s", message_id, attempts, reason)
        backoff = min(300.0, 2.0**attempts) * (0.5 + random.random() / 2)
        values: dict[str, Any] = {"last_error": reason, "locked_until": None}
        if permanent:
            values["status"] = "failed"
            self.stats.failed += 1
        else:
            values["status"] = "pending"
            values["available_at"] = utcnow() + timedelta(seconds=backoff)
            self.stats.retried += 1
        with self._sessions() as session, session.begin():
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.id == message_id, InboxMessage.attempts == attempts)
                .values(**values)
            )


@functools.cache
def _done_statement():
    """A message marked done, fenced on the claim (built once; see ``_process``)."""
    table = InboxMessage.__table__
    return (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.attempts == bindparam("b_attempts"), table.c.status == "processing")
        .values(
            status="done",
            processed_at=bindparam("processed_at"),
            payload=None,  # the pupil data now lives in the domain tables only
            outcome=bindparam("outcome"),
            locked_until=None,
            last_error=None,
        )
    )


def pending_count(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(InboxMessage).where(InboxMessage.status.in_(("pending", "processing")))
    )
