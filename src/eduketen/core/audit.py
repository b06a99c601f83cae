"""Audit log of reads of pupil data: append-only, each entry chained to the previous by hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.core.inbox import GroupCommitWriter
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


class AuditWriter(GroupCommitWriter):
    """Reads of pupil data audited through group commit: many requests share one transaction,
    the chain stays one chain (the tail is read, and on PostgreSQL locked, once per batch)."""

    name = "audit-writer"

    def write_batch(self, conn, rows: list[dict]) -> list[int]:
        table = AuditEntry.__table__
        tail = select(table.c.hash).order_by(table.c.id.desc()).limit(1)
        if conn.dialect.name == "postgresql":
            tail = tail.with_for_update()
        prev = conn.execute(tail).scalar() or GENESIS
        now = utcnow()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        values = []
        for row in rows:
            for subject_id in row["subject_ids"]:
                digest = _digest(prev, stamp, row["actor"], row["action"], row["subject_type"], str(subject_id), row["purpose"])
                values.append(
                    {
                        "at": now, "actor": row["actor"], "action": row["action"], "subject_type": row["subject_type"],
                        "subject_id": str(subject_id), "purpose": row["purpose"], "request_id": row.get("request_id"),
                        "prev_hash": prev, "hash": digest,
                    }
                )  # fmt: skip
                prev = digest
        if values:
            conn.execute(table.insert(), values)
        return [len(row["subject_ids"]) for row in rows]

    async def append(self, *, actor: str, action: str, subject_type: str, subject_ids: Iterable[str], purpose: str) -> int:
        """Record a read before its data is handed out; returns when the entry is committed."""
        return await self.submit(
            {
                "actor": actor, "action": action, "subject_type": subject_type, "subject_ids": [str(s) for s in subject_ids],
                "purpose": purpose, "request_id": current_request_id(),
            }
        )  # fmt: skip


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


def anchor(session: Session) -> dict:
    """The chain's head: keep it outside the database (a file elsewhere, a ticket, a mail). An
    entry removed from the end of the log, which the chain itself cannot show, shows against it."""
    from sqlalchemy import func

    last = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    count = session.scalar(select(func.count()).select_from(AuditEntry))
    return {
        "entries": count,
        "last_id": last.id if last else 0,
        "head": last.hash if last else GENESIS,
        "at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def verify_anchor(session: Session, anchored: dict) -> str | None:
    """None when the log still holds the anchored head with as many entries up to it; otherwise
    what is wrong. Run after ``verify`` (the chain itself)."""
    from sqlalchemy import func

    try:
        last_id, head, entries = int(anchored["last_id"]), str(anchored["head"]), int(anchored["entries"])
    except (KeyError, TypeError, ValueError):
        return "the anchor is not one written by `eduketen audit anchor`"
    if last_id == 0:
        return None
    entry = session.get(AuditEntry, last_id)
    if entry is None:
        return f"entry {last_id}, the head when the anchor was taken, is gone (entries removed from the end)"
    if entry.hash != head:
        return f"entry {last_id} no longer has the anchored hash (the log was rewritten)"
    upto = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.id <= last_id))
    if upto != entries:
        return f"{entries} entries up to {last_id} when anchored, {upto} now"
    return None
