"""core.cache.Refreshed: first read loads at once, a stale read answers from memory while one
background reload runs, invalidate makes the next read load at once, and a reload begun before an
invalidate does not overwrite the newer state."""

from __future__ import annotations

import threading
import time

from eduketen.core.cache import Refreshed


def wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_first_read_loads_and_later_reads_come_from_memory():
    calls = []
    view = Refreshed(lambda: calls.append(1) or len(calls), ttl=60)
    assert view.get() == 1 and view.get() == 1 and calls == [1]


def test_a_stale_view_answers_at_once_and_reloads_in_the_background():
    release = threading.Event()
    loads = []

    def load():
        loads.append(threading.current_thread().name)
        if len(loads) > 1:
            release.wait(5)
        return len(loads)

    view = Refreshed(load, ttl=0.0)
    assert view.get() == 1
    time.sleep(0.01)
    assert view.get() == 1  # stale: answered from memory, reload started
    assert view.get() == 1  # no second reload while one runs
    release.set()
    wait_until(lambda: view.get() >= 2)
    assert loads[1] == "view-refresh"


def test_invalidate_loads_at_once_and_an_older_reload_does_not_win():
    state = {"value": "old"}
    started, release = threading.Event(), threading.Event()

    def load():
        seen = state["value"]
        if threading.current_thread().name == "view-refresh":
            started.set()
            release.wait(5)
        return seen

    view = Refreshed(load, ttl=0.0)
    assert view.get() == "old"
    time.sleep(0.01)
    view.get()  # starts a background reload that read "old"
    assert started.wait(5)
    state["value"] = "new"
    view.invalidate()
    view._ttl = 60
    assert view.get() == "new"  # loaded at once after invalidate
    release.set()
    wait_until(lambda: not view._refreshing)
    assert view.get() == "new"  # the reload begun before invalidate was dropped


def test_a_failing_background_reload_keeps_the_last_value(caplog):
    fail = {"on": False}

    def load():
        if fail["on"]:
            raise RuntimeError("database gone")
        return "good"

    view = Refreshed(load, ttl=0.0)
    assert view.get() == "good"
    fail["on"] = True
    time.sleep(0.01)
    assert view.get() == "good"
    wait_until(lambda: not view._refreshing)
    assert view.get() == "good"
    assert "view reload failed" in caplog.text


def test_with_a_stamp_a_stale_view_is_loaded_again_only_when_the_stamp_changed():
    stamp = {"value": 1}
    loads = []
    view = Refreshed(lambda: loads.append(stamp["value"]) or len(loads), ttl=0.0, stamp=lambda: stamp["value"])
    assert view.get() == 1
    for _ in range(5):  # stale every time, but nothing changed: no load
        time.sleep(0.002)
        view.get()
        wait_until(lambda: not view._refreshing)
    assert loads == [1] and view.loads == 1
    stamp["value"] = 2
    time.sleep(0.002)
    view.get()
    wait_until(lambda: view.get() == 2)
    assert view.loads == 2


def test_an_unreadable_stamp_means_loading_in_full(caplog):
    loads = []

    def broken_stamp():
        raise RuntimeError("no such table: register_stamp")

    view = Refreshed(lambda: loads.append(1) or len(loads), ttl=0.0, stamp=broken_stamp)
    assert view.get() == 1
    time.sleep(0.002)
    view.get()
    wait_until(lambda: view.get() == 2)
    assert "view stamp unreadable" in caplog.text
