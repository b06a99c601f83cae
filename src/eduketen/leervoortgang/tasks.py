"""Worker side of learning progress: a loop in the worker process that keeps the pages'
aggregates up to date (drains ``progress_dirty``, recomputes those cells from the raw records)
and creates the coming months' partitions of ``progress_record`` on PostgreSQL."""

from __future__ import annotations

import logging
import time

from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import read_sessionmaker, unit_of_work, utcnow
from eduketen.core.worker import PollingLoop
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc

log = logging.getLogger("eduketen.progress")
PARTITION_CHECK_SECONDS = 3600.0


def maintain_partitions(sessions: sessionmaker[Session], *, ahead: int) -> list[str]:
    with unit_of_work(sessions) as session:
        created = repo.ensure_partitions(session, today=utcnow().date(), ahead=ahead)
    if created:
        log.info("progress partitions created: %s", ", ".join(created))
    return created


def refresh(sessions: sessionmaker[Session], *, batch: int) -> int:
    """One round: up to ``batch`` dirty cells, read and recomputed in a read transaction (no write
    lock on SQLite meanwhile), then written in one short write transaction."""
    with read_sessionmaker(sessions.kw["bind"])() as session:
        planned = svc.plan_round(session, limit=batch)
    if planned is None:
        return 0
    with unit_of_work(sessions) as session:
        return svc.apply_round(session, planned)


def drain(sessions: sessionmaker[Session], *, batch: int = 5_000) -> int:
    """Recompute until nothing is dirty (tests, the CLI, the demo)."""
    total = 0
    while done := refresh(sessions, batch=batch):
        total += done
    return total


class ProgressMaintenance(PollingLoop):
    thread_name = "progress-maintenance"

    def __init__(self, sessions: sessionmaker[Session], *, poll_seconds: float, batch: int, partitions_ahead: int) -> None:
        super().__init__(poll_seconds)
        self.sessions = sessions
        self.batch = batch
        self.ahead = partitions_ahead
        self._partitions_checked = 0.0

    def run_once(self) -> int:
        if time.monotonic() - self._partitions_checked > PARTITION_CHECK_SECONDS:
            maintain_partitions(self.sessions, ahead=self.ahead)
            self._partitions_checked = time.monotonic()
        return refresh(self.sessions, batch=self.batch)
