"""Audit log of reads of pupil data: append-only, each entry chained to the previous by hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.core.logging import current_request_id
from eduketen.core.models import AuditEntry

GENESIS = "0" * 64


def _digest(prev: str, at: str, actor: str, action: str, subject_type: str, subject_id: str, purpose: str) -> str:
    material = "\x1f".join((prev, at, actor, action, subject_type, subject_id, purpose))
    return hashlib.sha256(material.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_ids: Iterable[str],
    purpose: str,
) -> int:
    """Append one entry per subject read. Runs in the caller's transaction."""
    if session.bind.dialect.name == "postgresql":
        # One chain: appenders queue behind each other for the tail.
        session.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1).with_for_update())
    last = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    now = utcnow()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    count = 0
    for subject_id in subject_ids:
        digest = _digest(prev, stamp, actor, action, subject_type, str(subject_id), purpose)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action=action,
                subject_type=subject_type,
                subject_id=str(subject_id),
                purpose=purpose,
                request_id=current_request_id(),
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
        count += 1
    session.flush()
    return count


def verify(session: Session) -> tuple[bool, int, int | None]:
    """Walk the chain: (intact, entries checked, id of the first broken entry)."""
    prev = GENESIS
    checked = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        stamp = entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expected = _digest(prev, stamp, entry.actor, entry.action, entry.subject_type, entry.subject_id, entry.purpose)
        if entry.prev_hash != prev or entry.hash != expected:
            return False, checked, entry.id
        prev = entry.hash
        checked += 1
    return True, checked, None
