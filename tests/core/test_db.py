"""SQLite's write lock: a writer waits for another process's lock by looking again every
millisecond, and gives up after its busy timeout."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from eduketen.core.db import begin_immediate


def _connect(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def test_writer_gets_the_lock_soon_after_it_is_released(tmp_path):
    path = tmp_path / "lock.db"
    holder, waiter = _connect(path), _connect(path)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    released = {}

    def release():
        time.sleep(0.2)
        holder.execute("INSERT INTO t VALUES (1)")
        holder.execute("COMMIT")
        released["at"] = time.monotonic()

    thread = threading.Thread(target=release)
    thread.start()
    begin_immediate(waiter, timeout=10)
    got = time.monotonic()
    thread.join()
    assert waiter.in_transaction
    assert got - released["at"] < 0.05  # not one of SQLite's busy-handler sleeps of up to 100 ms
    assert waiter.execute("SELECT count(*) FROM t").fetchone() == (1,)
    waiter.execute("COMMIT")
    # the connection's own busy timeout is back for later statements
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (10_000,)


def test_writer_gives_up_after_the_timeout(tmp_path):
    path = tmp_path / "lock.db"
    holder, waiter = _connect(path), _connect(path)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2
    assert not waiter.in_transaction
    holder.execute("ROLLBACK")
