"""Worker tasks of the keurmerk: the daily reminders before chain-test periods open."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from eduketen.keurmerk import service


def reminders(session: Session, today: date) -> int:
    return len(service.send_reminders(session, today))


def periodic_tasks() -> dict:
    return {"keurmerk.herinneringen": reminders}
