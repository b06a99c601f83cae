"""The worker's periodic tasks: each runs with the clock's day in its own transaction; a failing
task is logged by type and rolled back, and does not stop the others."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from eduketen.core.db import make_engine, make_sessionmaker
from eduketen.core.periodic import Periodic


def test_tasks_run_with_the_clock_and_a_failure_stays_alone(database_url, caplog):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    seen = []

    def good(session, today):
        seen.append(today)
        session.execute(text("CREATE TABLE IF NOT EXISTS periodic_probe (day VARCHAR(10))"))
        session.execute(text("INSERT INTO periodic_probe (day) VALUES (:d)"), {"d": today.isoformat()})
        return 1

    def bad(session, today):
        session.execute(text("INSERT INTO periodic_probe (day) VALUES ('bad')"))
        raise RuntimeError("secret detail 123")

    clock = {"day": date(2027, 3, 1)}
    periodic = Periodic(sessions, {"good": good, "bad": bad}, clock=lambda: clock["day"], interval_seconds=3600)
    assert periodic.run_tasks() == {"good": 1, "bad": 0}
    clock["day"] = date(2027, 3, 2)
    assert periodic.run_once() == 0
    assert seen == [date(2027, 3, 1), date(2027, 3, 2)] and periodic.last_run["good"] == (date(2027, 3, 2), 1) and "bad" not in periodic.last_run
    with sessions() as s:
        assert sorted(s.execute(text("SELECT day FROM periodic_probe")).scalars()) == ["2027-03-01", "2027-03-02"]  # 'bad' rolled back
    assert "RuntimeError" in caplog.text and "secret detail" not in caplog.text
    engine.dispose()
