"""Periodic tasks of the worker: jobs that are due by the calendar rather than by an arriving message
(e.g. the keurmerk's reminders two weeks before a chain-test period opens).

Every ``interval`` seconds each task runs once with the business day of the clock, in its own
transaction. Tasks must be idempotent: running one twice on a day, or in two worker processes at
once, has the effect of running it once. The clock is a parameter, so tests can move time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import unit_of_work
from eduketen.core.worker import PollingLoop

log = logging.getLogger("eduketen.periodic")

Task = Callable[[Session, date], int]  # returns how much it did


class Periodic(PollingLoop):
    thread_name = "periodic"

    def __init__(self, session_factory: sessionmaker[Session], tasks: dict[str, Task], *, clock: Callable[[], date],
                 interval_seconds: float = 3600.0) -> None:  # fmt: skip
        super().__init__(interval_seconds)
        self._sessions = session_factory
        self.tasks = tasks
        self.clock = clock
        self.last_run: dict[str, tuple[date, int]] = {}

    def run_tasks(self, today: date | None = None) -> dict[str, int]:
        """Run every task once for ``today`` (default: the clock's day)."""
        today = today or self.clock()
        done = {}
        for name, task in self.tasks.items():
            try:
                with unit_of_work(self._sessions) as session:
                    done[name] = task(session, today)
            except Exception as exc:  # noqa: BLE001 - one failing task must not stop the others; the next round retries
                # the type only, as the API's error handler does: an exception's text may carry data
                log.error("periodic task %s failed: %s", name, type(exc).__name__, extra={"task": name})
                done[name] = 0
                continue
            self.last_run[name] = (today, done[name])
            if done[name]:
                log.info("periodic task %s did %d item(s)", name, done[name], extra={"task": name})
        return done

    def run_once(self) -> int:
        self.run_tasks()
        return 0  # then sleep a whole interval
