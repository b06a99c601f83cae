"""The register's change stamp (migration 0011): triggers raise it on every insert, update and
delete of the tables the in-memory register view is built from, also when the change comes from
another process (here: another engine writing plain SQL), and the view is loaded again only then."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.register import repository as repo
from eduketen.register import service as register
from eduketen.register.service import RegisterView
from eduketen.simulate.region import generate_region, install_region


def _stamp(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT generation FROM register_stamp WHERE id = 1")).scalar_one()
    finally:
        engine.dispose()


def _other_process(url: str, sql: str, **params) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


@pytest.fixture
def installed(database_url):
    sessions = make_sessionmaker(make_engine(database_url))
    with unit_of_work(sessions) as session:
        install_region(session, generate_region(n_schools=2, pupils_per_school=1, seed=11))
    return database_url, sessions


def test_every_watched_table_raises_the_stamp(installed):
    url, sessions = installed
    changes = [
        "UPDATE school SET name = name || ' ' WHERE id = (SELECT min(id) FROM school)",
        "UPDATE supplier SET name = name || ' ' WHERE id = (SELECT min(id) FROM supplier)",
        "UPDATE system SET name = name || ' ' WHERE id = (SELECT min(id) FROM system)",
        "UPDATE administratie SET routeringskenmerk = routeringskenmerk WHERE id = (SELECT min(id) FROM administratie)",
        "UPDATE service SET name = name WHERE id = (SELECT min(id) FROM service)",
        "UPDATE service_version SET version = version WHERE id = (SELECT min(id) FROM service_version)",
        "UPDATE mandate SET end_date = NULL WHERE id = (SELECT min(id) FROM mandate)",
        "DELETE FROM mandate WHERE id = (SELECT max(id) FROM mandate)",
    ]
    for sql in changes:
        before = _stamp(url)
        _other_process(url, sql)
        assert _stamp(url) > before, sql
    before = _stamp(url)
    with unit_of_work(sessions) as session:  # an insert through the service layer
        register.add_supplier(session, name="Nieuwe leverancier", oin="00000001999999999000")
    assert _stamp(url) > before
    before = _stamp(url)
    _other_process(url, "UPDATE pupil SET las_key = las_key")  # not a table of the view
    assert _stamp(url) == before


def test_the_view_loads_again_only_after_a_change(installed):
    url, sessions = installed
    view = RegisterView(sessions, ttl=0.0)
    snap = view.current()
    school = next(iter(snap.schools.values()))
    assert view.loads == 1

    def settle():
        deadline = time.monotonic() + 5
        while view._view._refreshing:
            assert time.monotonic() < deadline
            time.sleep(0.005)

    for _ in range(5):  # stale at every read (ttl 0), nothing changed: answered, never loaded again
        time.sleep(0.002)
        view.current()
        settle()
    assert view.loads == 1

    # another process ends every mandate of the school yesterday: the next reads see it
    _other_process(url, "UPDATE mandate SET end_date = :day WHERE school_id = :id", day=date(2000, 1, 1), id=school.id)
    deadline = time.monotonic() + 5
    while any(m.end is None or m.end > date(2000, 1, 1) for m in view.current().mandates.get(school.id, [])):
        assert time.monotonic() < deadline, "the view never saw the change"
        time.sleep(0.005)
    settle()
    assert view.loads == 2
    with sessions() as session:
        assert repo.stamp(session) == view._view._stamp
