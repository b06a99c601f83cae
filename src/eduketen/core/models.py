"""Tables of the shared kernel: the inbox of accepted messages and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class InboxMessage(Base):
    """A message that got a 2xx. The row is the job: the worker claims it, processes it and
    marks it done in the same transaction as its domain effects. Once processed the payload
    (which holds pupil data) is cleared; the hash, counts and outcome stay."""

    __tablename__ = "inbox_message"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_inbox_message_idempotency_key"),
        Index("ix_inbox_message_claim", "status", "available_at"),
        Index("ix_inbox_message_school", "school_oin", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(60))
    school_oin: Mapped[str] = mapped_column(String(20))
    routing: Mapped[str] = mapped_column(String(20))  # edu-from of the sender
    sender_oin: Mapped[str] = mapped_column(String(20))
    schooljaar: Mapped[str | None] = mapped_column(String(9))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str | None] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|processing|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)  # JSON summary, no personal data
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only log of every read of pupil data: who read what, when and why.

    Each entry carries the hash of the previous one, so a removed or changed entry shows."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(400))  # e.g. "eckId:<ECK iD URI>"
    purpose: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(36))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """An HTTP request to a peer, written in the same transaction as the change that causes it,
    delivered by the outbox worker with retries; ``seq`` orders the messages of one
    ``ordering_key`` (for example one pupil's results): a message is sent only after every older
    one with the same key has been settled, and standlevering supersedes older pending ones."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_key", "ordering_key", "status"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(60))
    ordering_key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(6))
    url: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="{}")  # JSON, no personal data
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|delivered|dead|superseded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
