"""Rules of learning progress: records from the wire to rows (newer state wins), and the
group-context analytics behind the mentor's pages. No HTTP, no commit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from eduketen.config import Settings
from eduketen.core.db import utcnow
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang.schemas import Progress

# -- ingest ------------------------------------------------------------------------------------------


def to_row(record: Progress, *, record_id: str, school_id: int, source_system_id: int, received_at: datetime) -> dict:
    score = record.score
    judgement = record.judgement
    return {
        "id": record_id,
        "source_system_id": source_system_id,
        "school_id": school_id,
        "eck_id": record.student.eckId,
        "course_id": record.courseId,
        "unit_id": record.assignableUnitId,
        "subject": record.subject,
        "status": record.status,
        "state_at": record.statusChangedAt,
        "started_at": record.startedAt,
        "completed_at": record.completedAt,
        "score_raw": score.raw if score else None,
        "score_max": score.max if score else None,
        "score_pct": score.pct() if score else None,
        "judgement": judgement.text if judgement else None,
        "judgement_ordinal": judgement.ordinal if judgement else None,
        "judgement_ordinal_max": judgement.ordinalMax if judgement else None,
        "duration_seconds": record.accessDurationSeconds,
        "please_follow_up": record.pleaseFollowUp,
        "detail_url": record.detailUrl,
        "goals": orjson.dumps(record.learningGoals).decode() if record.learningGoals else None,
        "received_at": received_at,
    }


@dataclass
class Stored:
    received: int
    applied: int

    @property
    def stale(self) -> int:
        return self.received - self.applied


def store(session: Session, records: list[tuple[str, Progress, int]], *, source_system_id: int) -> Stored:
    """Store (record id, record, school id) triples in one statement. A record whose
    ``statusChangedAt`` is not newer than the stored state changes nothing (idempotent, and
    out-of-order delivery never goes back in time)."""
    now = utcnow()
    rows = [to_row(r, record_id=rid, school_id=sid, source_system_id=source_system_id, received_at=now) for rid, r, sid in records]
    # Within one request the newest state of an id wins too.
    newest: dict[str, dict] = {}
    for row in rows:
        seen = newest.get(row["id"])
        if seen is None or row["state_at"] > seen["state_at"]:
            newest[row["id"]] = row
    applied = repo.upsert(session, list(newest.values()))
    return Stored(received=len(rows), applied=applied)


def record_out(row) -> dict:
    return {
        "id": row.id, "subject": row.subject, "courseId": row.course_id, "assignableUnitId": row.unit_id, "status": row.status,
        "statusChangedAt": row.state_at.isoformat().replace("+00:00", "Z"),
        "score": row.score_pct, "judgement": row.judgement, "accessDurationSeconds": row.duration_seconds,
        "pleaseFollowUp": row.please_follow_up, "detailUrl": row.detail_url,
        "learningGoals": orjson.loads(row.goals) if row.goals else [],
    }  # fmt: skip
