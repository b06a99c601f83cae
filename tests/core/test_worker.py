"""The inbox and the worker on SQLite and PostgreSQL: every accepted message has its effect exactly
once, failures are retried with backoff and then parked with only the exception type as reason,
a crashed worker's lease runs out and the message is taken over, duplicates have one effect, and
two workers claiming at the same time never process a message twice."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, update

from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work, utcnow
from eduketen.core.inbox import InboxUnavailable, InboxWriter
from eduketen.core.models import InboxMessage
from eduketen.core.worker import Batched, PermanentError, Worker, pending_count

PERSONAL = "Zorgvuldignaam geboren 2014-10-01"

effects = Table(
    "test_effect",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("worker", String(20), nullable=False),
)


class Store:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = make_sessionmaker(self.engine)
        effects.create(self.engine)
        self.inbox = InboxWriter(self.engine)

    def close(self) -> None:
        self.inbox.stop()
        self.engine.dispose()

    def effects(self) -> Counter:
        with self.sessions() as s:
            return Counter(s.scalars(select(effects.c.message_id)))

    def message(self, message_id: str) -> InboxMessage:
        with self.sessions() as s:
            return s.get(InboxMessage, message_id)

    def messages(self) -> list[InboxMessage]:
        with self.sessions() as s:
            return list(s.scalars(select(InboxMessage)))

    def make_available(self, message_id: str) -> None:
        """Let time pass: the backoff of a retried message is over."""
        with unit_of_work(self.sessions) as s:
            s.execute(update(InboxMessage).where(InboxMessage.id == message_id).values(available_at=utcnow() - timedelta(seconds=1)))

    def expire_lease(self, message_id: str) -> None:
        with unit_of_work(self.sessions) as s:
            s.execute(update(InboxMessage).where(InboxMessage.id == message_id).values(locked_until=utcnow() - timedelta(seconds=1)))

    def worker(self, handlers=None, name: str = "w", **kw) -> Worker:
        return Worker(self.sessions, handlers or {"test.effect": recording(name)}, poll_seconds=0.01, **kw)


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    yield s
    s.close()


def recording(worker_name: str):
    def handler(session, message: InboxMessage) -> dict:
        session.execute(effects.insert().values(message_id=message.id, worker=worker_name))
        return {"effect": 1, "payload_bytes": len(message.payload or "")}

    return handler


def row(operation: str = "test.effect", key: str | None = None) -> dict:
    """The row the API hands to the inbox (see doorstroomtoets.api)."""
    now = utcnow()
    message_id = str(uuid.uuid4())
    return {
        "id": message_id,
        "service": "test",
        "version": "1.1.0",
        "operation": operation,
        "school_oin": "0000000700011BB00000",
        "routing": "0000000700011BB00001",
        "sender_oin": "00000003000000002000",
        "schooljaar": "2025-2026",
        "idempotency_key": key or hashlib.sha256(message_id.encode()).hexdigest(),
        "payload": json.dumps({"deelnemers": [{"roepnaam": "Zorgvuldignaam"}]}),
        "item_count": 1,
        "request_id": "req-" + message_id[:8],
        "status": "pending",
        "attempts": 0,
        "received_at": now,
        "available_at": now,
    }


# -- exactly once ----------------------------------------------------------------------------------


def test_stored_messages_are_processed_exactly_once(store):
    rows = [row() for _ in range(5)]
    assert all(store.inbox.submit_sync(r) for r in rows)
    with store.sessions() as s:
        assert pending_count(s) == 5
    worker = store.worker()
    assert worker.drain() == 5
    assert worker.drain() == 0  # nothing left, nothing done twice
    assert store.effects() == Counter({r["id"]: 1 for r in rows})
    for message in store.messages():
        assert message.status == "done"
        assert message.attempts == 1
        assert message.payload is None  # pupil data lives in the domain tables only
        assert message.locked_until is None and message.last_error is None
        assert json.loads(message.outcome)["effect"] == 1
        assert json.loads(message.outcome)["payload_bytes"] > 0  # the handler saw the payload
    with store.sessions() as s:
        assert pending_count(s) == 0
    assert worker.stats.processed == 5 and worker.stats.failed == 0


def test_a_background_worker_processes_what_arrives(store):
    worker = Worker(store.sessions, {"test.effect": recording("w")}, poll_seconds=30)  # only a wake-up gets it going
    inbox = InboxWriter(store.engine, on_commit=worker.wake)  # as Platform.build wires them
    worker.start()
    try:
        rows = [row() for _ in range(3)]
        for r in rows:
            inbox.submit_sync(r)
        deadline = utcnow() + timedelta(seconds=20)
        while sum(store.effects().values()) < 3 and utcnow() < deadline:
            threading.Event().wait(0.02)
    finally:
        worker.stop()
        inbox.stop()
    assert store.effects() == Counter({r["id"]: 1 for r in rows})


# -- failures ----------------------------------------------------------------------------------------


def test_failing_handler_is_retried_with_backoff_then_failed(store, caplog):
    calls = []

    def broken(session, message):
        calls.append(message.attempts)
        session.execute(effects.insert().values(message_id=message.id, worker="broken"))  # undone by the failure
        raise ValueError(PERSONAL)

    worker = store.worker({"test.effect": broken}, max_attempts=3)
    r = row()
    store.inbox.submit_sync(r)
    caplog.set_level(logging.WARNING)

    before = utcnow()
    assert worker.drain() == 1
    m = store.message(r["id"])
    assert (m.status, m.attempts, m.last_error) == ("pending", 1, "ValueError")
    assert m.locked_until is None
    wait = (m.available_at - before).total_seconds()
    assert 0.4 <= wait <= 2.5, wait  # 2**1 s, jittered between half and whole
    assert worker.drain() == 0  # not before the backoff is over

    store.make_available(r["id"])
    before = utcnow()
    assert worker.drain() == 1
    m = store.message(r["id"])
    assert (m.status, m.attempts, m.last_error) == ("pending", 2, "ValueError")
    wait = (m.available_at - before).total_seconds()
    assert 0.9 <= wait <= 4.5, wait  # 2**2 s, jittered: the backoff grows

    store.make_available(r["id"])
    assert worker.drain() == 1
    m = store.message(r["id"])
    assert (m.status, m.attempts, m.last_error) == ("failed", 3, "ValueError")
    assert PERSONAL not in m.last_error  # only the exception type: the text may hold pupil data

    store.make_available(r["id"])
    assert worker.drain() == 0  # failed is final
    assert calls == [1, 2, 3]
    assert store.effects() == Counter()  # the failed attempts left no effect
    assert worker.stats.retried == 2 and worker.stats.failed == 1
    assert "ValueError" in caplog.text and "Zorgvuldignaam" not in caplog.text


def test_a_handler_that_recovers_has_its_effect_once(store):
    attempts = []

    def flaky(session, message):
        attempts.append(message.attempts)
        session.execute(effects.insert().values(message_id=message.id, worker="flaky"))
        if message.attempts == 1:
            raise ConnectionError("peer away")
        return {"ok": True}

    worker = store.worker({"test.effect": flaky})
    r = row()
    store.inbox.submit_sync(r)
    worker.drain()
    store.make_available(r["id"])
    worker.drain()
    assert attempts == [1, 2]
    assert store.effects() == Counter({r["id"]: 1})
    assert store.message(r["id"]).status == "done"


def test_one_failing_message_does_not_undo_the_others_in_its_batch(store):
    good, bad = row(), row(operation="test.broken")

    def broken(session, message):
        raise RuntimeError(PERSONAL)

    worker = store.worker({"test.effect": recording("w"), "test.broken": broken})
    store.inbox.submit_sync(good)
    store.inbox.submit_sync(bad)
    assert worker.drain() == 2
    assert store.effects() == Counter({good["id"]: 1})
    assert store.message(good["id"]).status == "done"
    assert store.message(bad["id"]).status == "pending" and store.message(bad["id"]).last_error == "RuntimeError"


def test_permanent_error_and_unknown_operation_fail_at_once(store):
    def hopeless(session, message):
        raise PermanentError("schooljaar wordt niet ondersteund")

    worker = store.worker({"test.effect": recording("w"), "test.hopeless": hopeless}, max_attempts=5)
    unknown, permanent = row(operation="test.unknown"), row(operation="test.hopeless")
    store.inbox.submit_sync(unknown)
    store.inbox.submit_sync(permanent)
    worker.drain()
    m = store.message(unknown["id"])
    assert m.status == "failed" and m.attempts == 1
    assert m.last_error.startswith("PermanentError") and "test.unknown" in m.last_error
    m = store.message(permanent["id"])
    assert m.status == "failed" and m.last_error == "PermanentError: schooljaar wordt niet ondersteund"


# -- leases -----------------------------------------------------------------------------------------


def test_a_crashed_workers_lease_runs_out_and_the_message_is_processed_once(store):
    r = row()
    store.inbox.submit_sync(r)
    crashed = store.worker(name="crashed", lease_seconds=60)
    assert crashed.claim() == [(r["id"], 1)]  # ... and then the process died
    m = store.message(r["id"])
    assert m.status == "processing" and m.locked_until > utcnow()

    successor = store.worker(name="successor", lease_seconds=60)
    assert successor.drain() == 0  # the lease still holds
    assert store.effects() == Counter()

    store.expire_lease(r["id"])
    assert successor.drain() == 1
    assert successor.drain() == 0
    m = store.message(r["id"])
    assert (m.status, m.attempts) == ("done", 2)
    assert store.effects() == Counter({r["id"]: 1})
    with store.sessions() as s:
        assert s.scalar(select(effects.c.worker)) == "successor"
    assert crashed.claim() == []  # a restarted worker finds nothing to redo


# -- duplicates --------------------------------------------------------------------------------------


def test_duplicate_idempotency_key_is_refused_and_has_one_effect(store):
    first = row(key="same-message")
    again = row(key="same-message")  # the LAS retried: a new request, the same content
    assert store.inbox.submit_sync(first) is True
    assert store.inbox.submit_sync(again) is False
    store.worker().drain()
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 1
    assert store.effects() == Counter({first["id"]: 1})
    assert store.inbox.submit_sync(row(key="same-message")) is False  # also after processing


def test_duplicates_in_one_group_commit_batch(database_url):
    s = Store(database_url)
    s.inbox = InboxWriter(s.engine, wait_ms=200)  # both requests land in one transaction
    try:
        results = []
        rows = [row(key="twice-at-once") for _ in range(2)] + [row() for _ in range(3)]
        threads = [threading.Thread(target=lambda r=r: results.append(s.inbox.submit_sync(r))) for r in rows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False, True, True, True, True]
        assert s.inbox.batches == 1
        s.worker().drain()
        assert sum(s.effects().values()) == 4
    finally:
        s.close()


def test_a_batch_over_one_statement_is_one_transaction_of_several(database_url, monkeypatch):
    """SQLite writes a batch as one INSERT; a batch with more rows than one statement may bind
    goes in one transaction of several, and says just as exactly which messages were new."""
    from eduketen.core import inbox as inbox_module

    monkeypatch.setattr(inbox_module, "_SQLITE_ROWS_PER_STATEMENT", 2)
    s = Store(database_url)
    s.inbox = InboxWriter(s.engine, wait_ms=200)
    try:
        assert s.inbox.submit_sync(row(key="stored-before")) is True
        results: dict[str, bool] = {}
        rows = [row(key="stored-before"), row(key="twice-at-once"), row(), row(key="twice-at-once"), row()]
        threads = [threading.Thread(target=lambda r=r: results.__setitem__(r["id"], s.inbox.submit_sync(r))) for r in rows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert s.inbox.batches == 2
        assert sorted(results.values()) == [False, False, True, True, True]
        stored = {m.id for m in s.messages()}
        assert {i for i, new in results.items() if new} <= stored
        assert not {i for i, new in results.items() if not new} & stored
        assert len(stored) == 4
    finally:
        s.close()


def test_idempotency_key_is_sha256_of_the_material():
    """The key is fed to SHA-256 in steps (the interpreter lock stays with the writer); it is the
    same digest as in one piece, at every length around the step."""
    from eduketen.core.inbox import idempotency_key

    for size in (0, 1, 2046, 2047, 2048, 4094, 4095, 15_076, 100_000):
        material = bytes(i % 251 for i in range(size))
        assert idempotency_key(material) == hashlib.sha256(material).hexdigest()


def test_postgresql_compresses_the_inbox_payload_with_lz4(pg_server):
    """Migration 0013: the accepted message's payload is compressed with lz4 on PostgreSQL."""
    from sqlalchemy import create_engine, text

    from eduketen.migrations import upgrade

    name = f"lz4_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    upgrade(pg_server.url(name))
    s = Store(pg_server.url(name))
    try:
        first = row()
        first["payload"] = json.dumps({"deelnemers": [{"roepnaam": "Zorgvuldignaam", "n": n} for n in range(500)]})
        assert s.inbox.submit_sync(first) is True
        with s.engine.connect() as conn:
            method = conn.execute(text(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = 'inbox_message'::regclass AND attname = 'payload'"
            )).scalar()  # fmt: skip
            stored = conn.execute(text("SELECT pg_column_compression(payload) FROM inbox_message WHERE id = :i"), {"i": first["id"]})
            assert (method, stored.scalar()) == ("l", "lz4")
        assert s.message(first["id"]).payload == first["payload"]
    finally:
        s.close()


def test_the_writer_computes_the_key_from_the_material_and_stores_every_column(database_url):
    """Rows may carry the key's material instead of the key (the API does this); what is stored
    reads back the same through the ORM on both backends, times included."""
    from eduketen.core.inbox import idempotency_key

    s = Store(database_url)
    try:
        first = row()
        del first["idempotency_key"]
        first["idempotency_material"] = b"registreren|v1.1|same message"
        again = {**row(), "idempotency_material": b"registreren|v1.1|same message"}
        del again["idempotency_key"]
        assert s.inbox.submit_sync(dict(first)) is True
        assert s.inbox.submit_sync(again) is False  # the same material: the same message
        stored = s.message(first["id"])
        assert stored.idempotency_key == idempotency_key(b"registreren|v1.1|same message")
        assert stored.received_at == first["received_at"] and stored.available_at == first["available_at"]
        assert (stored.status, stored.attempts, stored.payload, stored.school_oin) == (
            "pending", 0, first["payload"], first["school_oin"],
        )
        assert s.message(again["id"]) is None
    finally:
        s.close()


# -- concurrent workers ----------------------------------------------------------------------------


def _race(store, workers) -> None:
    errors = []
    start = threading.Barrier(len(workers))

    def run(worker):
        try:
            start.wait()
            while True:
                worker.drain()
                with store.sessions() as s:
                    if not pending_count(s):
                        return
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


def test_two_workers_claiming_concurrently_process_every_message_once(store):
    rows = [row() for _ in range(120)]
    for r in rows:
        store.inbox.submit_sync(r)
    workers = [store.worker(name=f"w{i}", batch=7) for i in range(2)]
    _race(store, workers)
    counted = store.effects()
    assert counted == Counter({r["id"]: 1 for r in rows})
    assert sum(w.stats.processed for w in workers) == 120
    assert all(m.status == "done" for m in store.messages())
    with store.sessions() as s:
        by_worker = Counter(s.scalars(select(effects.c.worker)))
    assert sum(by_worker.values()) == 120
    if store.engine.dialect.name == "postgresql":
        assert len(by_worker) == 2, by_worker  # SKIP LOCKED: both really worked side by side


def test_fencing_keeps_one_effect_even_when_leases_run_out_at_once(store):
    """Leases of zero seconds: a message can be claimed again while its first worker is still at
    it. The claim bumps ``attempts``; the first worker's result is undone, only one counts."""
    rows = [row() for _ in range(40)]
    for r in rows:
        store.inbox.submit_sync(r)
    workers = [store.worker(name=f"w{i}", batch=5, lease_seconds=0) for i in range(3)]
    _race(store, workers)
    assert store.effects() == Counter({r["id"]: 1 for r in rows})
    assert all(m.status == "done" for m in store.messages())


# -- the API before the worker -----------------------------------------------------------------------


def _arrived(store, seconds_ago: float) -> str:
    r = row()
    store.inbox.submit_sync(r)
    when = utcnow() - timedelta(seconds=seconds_ago)
    with unit_of_work(store.sessions) as s:
        s.execute(update(InboxMessage).where(InboxMessage.id == r["id"]).values(received_at=when, available_at=when))
    return r["id"]


def test_worker_waits_while_the_api_is_busy_and_processes_when_quiet(store):
    worker = store.worker(yield_seconds=0.5, yield_arrivals=3, max_lag_seconds=60)
    assert worker.should_yield() == 0  # nothing waiting
    for _ in range(5):
        _arrived(store, 5)
    assert worker.should_yield() == 0  # the last messages came 5 s ago: quiet, process
    _arrived(store, 0)
    _arrived(store, 0.1)
    assert worker.should_yield() == 0  # a trickle (2 in the last 0.5 s) is not busy
    _arrived(store, 0.2)
    assert worker.should_yield() == 0.5  # 3 in the last 0.5 s: keep out of the API's way
    assert worker.drain() == 8  # an explicit drain does not wait


def test_worker_catches_up_once_a_message_waited_too_long(store):
    # a 5 s window for "messages keep coming": a slow (loaded) machine still sees them as recent
    worker = store.worker(yield_seconds=5, yield_arrivals=2, max_lag_seconds=10)
    old = _arrived(store, 11)  # waited longer than the lag allows
    _arrived(store, 0)  # and messages keep coming
    _arrived(store, 0)
    assert [worker.should_yield() for _ in range(3)] == [0.0, 0.0, 0.0]  # process round after round
    with unit_of_work(store.sessions) as s:  # the backlog shrinks: the oldest now waited 6 s
        s.execute(update(InboxMessage).where(InboxMessage.id == old).values(available_at=utcnow() - timedelta(seconds=6)))
    assert worker.should_yield() == 0.0  # still more than half the lag: go on
    with unit_of_work(store.sessions) as s:  # caught up: the oldest waited 1 s
        s.execute(update(InboxMessage).where(InboxMessage.id == old).values(available_at=utcnow() - timedelta(seconds=1)))
    assert worker.should_yield() == 5  # busy again, nothing waited too long: keep out of the API's way
    assert worker.should_yield() == 5


def test_yielding_is_off_when_configured_so(store):
    worker = store.worker(yield_seconds=0)
    _arrived(store, 0)
    assert worker.should_yield() == 0


def test_a_waiting_worker_still_processes_everything_in_the_background(store):
    worker = store.worker(yield_seconds=0.2, yield_arrivals=2, max_lag_seconds=60)
    worker.start()
    try:
        rows = [row() for _ in range(4)]
        for r in rows:
            store.inbox.submit_sync(r)
        deadline = utcnow() + timedelta(seconds=30)
        while sum(store.effects().values()) < 4 and utcnow() < deadline:
            threading.Event().wait(0.05)
    finally:
        worker.stop()
    assert store.effects() == Counter({r["id"]: 1 for r in rows})


def test_group_commit_on_sqlite_takes_the_lock_as_soon_as_another_writer_lets_go(tmp_path):
    """The writers' engine looks for a held lock again every half millisecond (db.begin_immediate)
    and stores once it is free; a lock held longer than the engine may wait is a clear
    InboxUnavailable, nothing stored, and the next message is stored once the lock is free."""
    url = f"sqlite:///{tmp_path}/lock.db"
    main = make_engine(url)
    InboxMessage.__table__.create(main)
    quick = make_engine(url, lock_poll_seconds=0.0005)  # as Platform.build makes the writers' engine
    impatient_engine = make_engine(url, busy_timeout_ms=100, lock_poll_seconds=0.0005)
    released = threading.Event()

    def hold(seconds: float) -> None:
        with main.begin() as conn:  # BEGIN IMMEDIATE: the write lock
            conn.exec_driver_sql("SELECT 1")
            threading.Event().wait(seconds)
        released.set()

    writer = InboxWriter(quick)
    holder = threading.Thread(target=hold, args=(0.3,))
    holder.start()
    threading.Event().wait(0.05)
    r = row()
    assert writer.submit_sync(r) is True  # waited for the lock, then stored
    assert released.is_set()
    holder.join()
    writer.stop()

    impatient = InboxWriter(impatient_engine)
    holder = threading.Thread(target=hold, args=(1.0,))
    holder.start()
    threading.Event().wait(0.05)
    with pytest.raises(InboxUnavailable):
        impatient.submit_sync(row())
    holder.join()
    assert impatient.submit_sync(row()) is True  # the writer goes on (with a new connection) once the lock is free
    impatient.stop()
    with main.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM inbox_message").scalar() == 2
    quick.dispose()
    impatient_engine.dispose()
    main.dispose()


def test_the_inbox_writer_goes_on_when_its_connection_is_dropped(store):
    """The writer keeps one driver connection; when the server drops it (PostgreSQL restarted,
    the backend terminated) the next message is still stored: on PostgreSQL the batch is tried
    once more on a new connection, on SQLite a closed connection is replaced for the next one."""
    first = row()
    assert store.inbox.submit_sync(first) is True
    kept = store.inbox._raw.driver_connection
    if store.engine.dialect.name == "postgresql":
        pid = kept.info.backend_pid
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        assert store.inbox.submit_sync(second := row()) is True
    else:
        kept.close()
        with pytest.raises(InboxUnavailable):
            store.inbox.submit_sync(row())  # a closed SQLite connection fails this batch (a 503)
        assert store.inbox.submit_sync(second := row()) is True
    assert store.inbox._raw.driver_connection is not kept
    ids = {m.id for m in store.messages()}
    assert {first["id"], second["id"]} <= ids


# -- batched handlers ----------------------------------------------------------------------------------


class BatchedRecorder(Batched):
    """Records effects for a whole group in one statement; a message whose payload names a
    'poison' pupil makes the whole group raise (then each is processed alone)."""

    def __init__(self) -> None:
        self.groups: list[int] = []

    def __call__(self, session, message):
        if "poison" in (message.payload or ""):
            raise RuntimeError(PERSONAL)
        session.execute(effects.insert().values(message_id=message.id, worker="alone"))
        return {"effect": 1, "alone": 1}

    def handle_many(self, session, messages):
        if any("poison" in (m.payload or "") for m in messages):
            raise RuntimeError(PERSONAL)
        session.execute(effects.insert(), [{"message_id": m.id, "worker": "group"} for m in messages])
        self.groups.append(len(messages))
        return {m.id: {"effect": 1, "grouped": len(messages)} for m in messages}


def test_a_batched_handler_takes_the_claimed_messages_at_once(store):
    handler = BatchedRecorder()
    rows = [row() for _ in range(7)]
    for r in rows:
        store.inbox.submit_sync(r)
    worker = store.worker({"test.effect": handler}, batch=50)
    assert worker.drain() == 7
    assert handler.groups == [7]
    assert store.effects() == Counter({r["id"]: 1 for r in rows})
    for message in store.messages():
        assert message.status == "done" and message.payload is None and json.loads(message.outcome) == {"effect": 1, "grouped": 7}
    assert worker.stats.processed == 7


def test_a_bad_message_in_a_group_fails_alone(store):
    handler = BatchedRecorder()
    good = [row() for _ in range(3)]
    bad = row()
    bad["payload"] = json.dumps({"deelnemers": [{"roepnaam": "poison"}]})
    for r in (good[0], bad, good[1], good[2]):
        store.inbox.submit_sync(r)
    worker = store.worker({"test.effect": handler})
    assert worker.drain() == 4
    assert handler.groups == []  # the group was undone, then each message went alone
    assert store.effects() == Counter({r["id"]: 1 for r in good})
    assert {store.message(r["id"]).status for r in good} == {"done"}
    assert store.message(bad["id"]).status == "pending" and store.message(bad["id"]).last_error == "RuntimeError"


def test_a_group_with_a_message_taken_over_is_undone_and_fenced_one_by_one(store):
    handler = BatchedRecorder()
    rows = [row() for _ in range(3)]
    for r in rows:
        store.inbox.submit_sync(r)
    worker = store.worker({"test.effect": handler})
    claimed = worker.claim()
    # another worker takes the second message over (its lease ran out): attempts moved on
    with unit_of_work(store.sessions) as s:
        s.execute(update(InboxMessage).where(InboxMessage.id == claimed[1][0]).values(attempts=InboxMessage.attempts + 1))
    worker.claim = lambda: claimed  # run_once with this claim
    assert worker.run_once() == 3
    assert store.effects() == Counter({claimed[0][0]: 1, claimed[2][0]: 1})  # the group's own effects were undone
    with store.sessions() as s:
        assert set(s.scalars(select(effects.c.worker))) == {"alone"}
    assert worker.stats.lost_lease == 1
    assert store.message(claimed[1][0]).status == "processing"  # left to the worker that holds it
