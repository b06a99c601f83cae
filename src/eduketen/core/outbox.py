"""The outbox: requests to peers, written in the same transaction as their cause, delivered with
retries.

Rules:
- 2xx: delivered. A response handler per ``kind`` may look at the answer (store a fetched PDF,
  turn a status into a message for school staff) and may ask for a retry (e.g. 204 "not yet").
- 5xx, 408, 429, timeouts and network errors: retried with exponential backoff and jitter, until
  ``max_attempts``; then dead.
- Any other answer (401, 403, 404, 405, 422, ...): no blind retry. Dead at once, with the reason.
- Ordering: a message is claimed only when no older message with the same ``ordering_key`` is
  still pending or in flight. ``supersede=True`` (standlevering: the latest delivery is the
  complete current set) settles older pending messages of the key as ``superseded``, so an older
  retry can never overwrite a newer state.
- Dead letters can be listed and redelivered (``eduketen outbox ...``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import bind_time, in_chunks, utcnow
from eduketen.core.models import OutboxMessage
from eduketen.core.peerhttp import PeerClient, PeerHttpError
from eduketen.core.worker import PollingLoop

log = logging.getLogger("eduketen.outbox")

RETRY_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class PeerResponse:
    status: int | None  # None: no answer (timeout, refused connection, TLS failure)
    body: bytes = b""
    content_type: str = ""
    error: str | None = None  # the exception type when there was no answer

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Verdict:
    outcome: str  # done | retry | dead
    reason: str | None = None


ResponseHandler = Callable[[Session, OutboxMessage, PeerResponse], Verdict | None]


def default_verdict(response: PeerResponse) -> Verdict:
    if response.status is None:
        return Verdict("retry", f"no answer ({response.error})")
    if 200 <= response.status < 300:
        return Verdict("done")
    if response.status >= 500 or response.status in RETRY_STATUSES:
        return Verdict("retry", f"HTTP {response.status}")
    return Verdict("dead", f"HTTP {response.status}: {_short(response)}")


def _short(response: PeerResponse) -> str:
    data = response.json()
    if isinstance(data, dict):
        parts = [str(data.get(k)) for k in ("melding", "toelichting", "detail") if data.get(k)]
        if parts:
            return " ".join(parts)[:300]
    return response.body[:200].decode("utf-8", "replace")


def enqueue(
    session: Session,
    *,
    kind: str,
    ordering_key: str,
    method: str,
    url: str,
    body: str | None = None,
    context: dict | None = None,
    supersede: bool = False,
) -> OutboxMessage:
    """Queue one message and return it as a mapped object (``enqueue_row`` does the writing)."""
    seq = enqueue_row(session, kind=kind, ordering_key=ordering_key, method=method, url=url, body=body, context=context,
                      supersede=supersede)  # fmt: skip
    return session.get(OutboxMessage, seq)


def enqueue_row(
    session: Session,
    *,
    kind: str,
    ordering_key: str,
    method: str,
    url: str,
    body: str | None = None,
    context: dict | None = None,
    supersede: bool = False,
    status: str = "pending",
    last_error: str | None = None,
) -> int:
    """Queue one message in Core statements (the per-pupil paths call this directly: no ORM
    object and no flush). Returns the new message's ``seq``. ``status`` other than pending
    records a message that is settled at once (e.g. dead: no address known)."""
    now = utcnow()
    conn = session.connection()
    supersede_statement, insert_statement = _enqueue_statements()
    if supersede:
        conn.execute(supersede_statement, {"key": ordering_key, "now": now})
    values = _row_values(now, kind, ordering_key, method, url, body, context, status, last_error)
    return conn.execute(insert_statement, values).scalar_one()


def _row_values(now, kind: str, ordering_key: str, method: str, url: str, body: str | None, context: dict | None,
                status: str = "pending", last_error: str | None = None) -> dict:  # fmt: skip
    """The columns of a new outbox row (one place for ``enqueue_row`` and ``enqueue_rows``)."""
    return {
        "kind": kind, "ordering_key": ordering_key, "method": method, "url": url, "body": body,
        "context": json.dumps(context or {}, sort_keys=True), "status": status, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "settled_at": None if status == "pending" else now, "last_error": last_error,
    }  # fmt: skip


def enqueue_rows(session: Session, rows: list[dict], *, supersede: bool = False) -> None:
    """``enqueue_row`` for many pending messages at once (dicts with kind, ordering_key, method,
    url and optionally body and context): one ``executemany`` to supersede and one to insert.
    At most one message per ordering key (the caller keeps the latest)."""
    if not rows:
        return
    now = utcnow()
    conn = session.connection()
    supersede_statement, _ = _enqueue_statements()
    if supersede:
        conn.execute(supersede_statement, [{"key": r["ordering_key"], "now": now} for r in rows])
    conn.execute(
        OutboxMessage.__table__.insert(),
        [_row_values(now, r["kind"], r["ordering_key"], r["method"], r["url"], r.get("body"), r.get("context")) for r in rows],
    )


@functools.cache
def _enqueue_statements():
    """Built once: a statement built per call costs more CPU (coercion, cache key) than running it."""
    table = OutboxMessage.__table__
    supersede = (
        table.update()
        .where(table.c.ordering_key == bindparam("key"), table.c.status == "pending")
        .values(status="superseded", settled_at=bindparam("now", type_=table.c.settled_at.type))
    )
    insert = table.insert().returning(table.c.seq)
    return supersede, insert


def dead_letters(session: Session, limit: int = 1000) -> list[OutboxMessage]:
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.seq).limit(limit))
    )


def redeliver(session: Session, seq: int | None = None) -> int:
    """Put dead letters (one, or all) back in the queue."""
    statement = update(OutboxMessage).where(OutboxMessage.status == "dead")
    if seq is not None:
        statement = statement.where(OutboxMessage.seq == seq)
    result = session.execute(
        statement.values(status="pending", attempts=0, next_attempt_at=utcnow(), settled_at=None, locked_until=None)
    )
    return result.rowcount


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(text("SELECT status, count(*) FROM outbox_message GROUP BY status")).all()
    return {status: n for status, n in rows}


class OutboxDeliverer(PollingLoop):
    thread_name = "outbox"
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        handlers: dict[str, ResponseHandler],
        *,
        ssl_context: ssl.SSLContext | None = None,
        concurrency: int = 16,
        timeout: float = 10.0,
        max_attempts: int = 12,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        lease_seconds: float = 120.0,
        poll_seconds: float = 0.2,
    ) -> None:
        self._sessions = session_factory
        self._engine = session_factory.kw["bind"]
        self._read_engine = self._engine.execution_options(readonly=True)
        self._handlers = handlers
        self._ssl = ssl_context
        self._concurrency = concurrency
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._lease = timedelta(seconds=lease_seconds)
        super().__init__(poll_seconds)
        self._settle_wait = 0.02  # answers that come in within this long are settled together
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: PeerClient | None = None
        self.delivered = self.retried = self.dead = 0

    def on_exit(self) -> None:
        self._close_loop()

    def _close_loop(self) -> None:
        if self._loop is not None:
            if self._client is not None:
                self._loop.run_until_complete(self._client.aclose())
                self._client = None
            self._loop.close()
            self._loop = None

    def close(self) -> None:
        self._close_loop()

    # -- one round -----------------------------------------------------------------------------
    def claim(self) -> list[OutboxMessage]:
        now = utcnow()
        e = self._engine
        lock = " FOR UPDATE SKIP LOCKED" if e.dialect.name == "postgresql" else ""
        # Due, not in flight, and no older message of the same key pending or in flight.
        sql = text(
            "UPDATE outbox_message SET locked_until=:lease, attempts=attempts+1 WHERE seq IN ("
            " SELECT o.seq FROM outbox_message o WHERE o.status='pending' AND o.next_attempt_at <= :now"
            " AND (o.locked_until IS NULL OR o.locked_until < :now)"
            " AND NOT EXISTS (SELECT 1 FROM outbox_message p WHERE p.ordering_key = o.ordering_key AND p.seq < o.seq"
            "   AND (p.status = 'pending' OR (p.locked_until IS NOT NULL AND p.locked_until >= :now)))"
            f" ORDER BY o.seq LIMIT :n{lock}) RETURNING seq, attempts"
        ).bindparams(lease=bind_time(e, now + self._lease), now=bind_time(e, now), n=self._concurrency * 4)
        if not self._anything_due(now):
            return []
        with self._sessions() as session, session.begin():
            claimed = {row.seq: row.attempts for row in session.execute(sql)}
            if not claimed:
                return []
            # read as plain rows (no identity map, no ORM loading) and handed on as transient objects
            table = OutboxMessage.__table__
            messages = [OutboxMessage(**row._mapping) for row in session.execute(select(table).where(table.c.seq.in_(list(claimed))))]
        # keys can repeat within one claim only for older-settled keys; keep the oldest per key
        messages.sort(key=lambda m: m.seq)
        seen: set[str] = set()
        batch = []
        for m in messages:
            if m.ordering_key in seen:
                self._release(m)
                continue
            seen.add(m.ordering_key)
            batch.append(m)
        return batch

    def _anything_due(self, now) -> bool:
        """A read first (on SQLite it takes no write lock and never waits): a deliverer with
        nothing to do does not queue for the lock that the API and the workers need."""
        e = self._engine
        check = text(
            "SELECT 1 FROM outbox_message WHERE status='pending' AND next_attempt_at <= :now"
            " AND (locked_until IS NULL OR locked_until < :now) LIMIT 1"
        ).bindparams(now=bind_time(e, now))
        with self._read_engine.connect() as conn:
            return conn.execute(check).first() is not None

    def _release(self, message: OutboxMessage) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.seq == message.seq, OutboxMessage.attempts == message.attempts)
                .values(locked_until=None, attempts=message.attempts - 1)
            )

    def run_once(self) -> int:
        """Deliver what is due, as a pipeline: the answers that came in are settled (a few
        milliseconds' worth in one transaction) and more messages claimed while the rest are still
        on their way, so a slow answer holds up nothing but itself. Returns when nothing is in
        flight and nothing more is due."""
        batch = self.claim()
        if not batch:
            return 0
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._pipeline(batch))

    async def _pipeline(self, first: list[OutboxMessage]) -> int:
        self._ensure_client()
        in_flight = {asyncio.ensure_future(self._one(m)): m for m in first}
        handled = 0
        more_due = True
        last_claim = time.monotonic()
        while in_flight:
            done, _ = await asyncio.wait(in_flight, timeout=self._settle_wait, return_when=asyncio.ALL_COMPLETED)
            if not done:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            finished = [(in_flight.pop(task), task.result()) for task in done]
            self.settle([m for m, _ in finished], [r for _, r in finished])
            handled += len(finished)
            # keep the pipe full: claim more once fewer than two rounds' worth are on their way
            # (a claim that found nothing is tried again only after the poll interval)
            if self._stop.is_set():
                continue  # stopping: finish what is on its way, claim nothing more
            if len(in_flight) < 2 * self._concurrency and (more_due or time.monotonic() - last_claim >= self._poll):
                last_claim = time.monotonic()
                more = self.claim()
                more_due = bool(more)
                for m in more:
                    in_flight[asyncio.ensure_future(self._one(m))] = m
        return handled

    def settle(self, batch: list[OutboxMessage], responses: list[PeerResponse]) -> None:
        """Record the answers of a claimed round. A message whose claim another deliverer took
        over meanwhile (its lease ran out: ``attempts`` moved on) is left alone."""
        # One transaction for the round (one fsync); what each message looks like now is read for
        # the whole round in one statement. The round is settled at once in one savepoint (the
        # handlers' ``many`` where they have one, the fenced UPDATEs as one ``executemany`` per
        # set of columns); if that raises, each message is settled alone in its own savepoint,
        # so a message whose handler fails fails alone.
        table = OutboxMessage.__table__
        with self._sessions() as session, session.begin():
            seqs = [m.seq for m in batch]
            now_rows = {row.seq: row for row in session.execute(select(table.c.seq, table.c.status, table.c.attempts).where(table.c.seq.in_(seqs)))}
            live = [(m, r, now_rows.get(m.seq)) for m, r in zip(batch, responses, strict=True)]
            live = [(m, r, c) for m, r, c in live if c is not None and c.attempts == m.attempts]  # else taken over
            try:
                with session.begin_nested():
                    counts = self._settle_round(session, live)
            except Exception:  # noqa: BLE001 - settled one by one next, each failing alone if it must
                counts = None
            if counts is not None:
                self.delivered += counts["delivered"]
                self.retried += counts["retried"]
                self.dead += counts["dead"]
                return
            for message, response, current in live:
                try:
                    with session.begin_nested():
                        self._settle(session, message, response, current)
                except Exception:
                    log.exception("settling outbox message %s failed; it will be retried", message.seq)

    def _settle_round(self, session: Session, live: list) -> dict[str, int]:
        """Settle ``(message, response, current)`` of a round at once; the counts of what became
        of them (added to the deliverer's counters only when the round stands)."""
        by_kind: dict[str, list[int]] = {}
        for index, (message, _response, current) in enumerate(live):
            message.status = current.status  # e.g. superseded while it was in flight
            by_kind.setdefault(message.kind, []).append(index)
        verdicts: list[Verdict | None] = [None] * len(live)
        for kind, indexes in by_kind.items():
            handler = self._handlers.get(kind)
            if handler is None:
                continue
            many = getattr(handler, "many", None)
            if many is not None:
                found = many(session, [(live[i][0], live[i][1]) for i in indexes])
            else:
                found = [handler(session, live[i][0], live[i][1]) for i in indexes]
            for i, verdict in zip(indexes, found, strict=True):
                verdicts[i] = verdict
        counts = {"delivered": 0, "retried": 0, "dead": 0}
        updates: dict[tuple[str, ...], list[dict]] = {}
        for (message, response, current), verdict in zip(live, verdicts, strict=True):
            values, counted = self._values(message, response, current, verdict or default_verdict(response))
            if counted:
                counts[counted] += 1
            updates.setdefault(tuple(sorted(values)), []).append({**values, "b_seq": message.seq, "b_attempts": message.attempts})
        conn = session.connection()
        for columns, rows in updates.items():
            conn.execute(_settle_statement(columns), rows)
        return counts

    def _values(self, message: OutboxMessage, response: PeerResponse, current, verdict: Verdict) -> tuple[dict[str, Any], str | None]:
        """The columns to write for a settled message, and what became of it (delivered,
        retried, dead, or None: nothing, it was no longer pending)."""
        now = utcnow()
        values: dict[str, Any] = {"last_status": response.status, "locked_until": None}
        pending = current.status == "pending"
        if verdict.outcome == "done":
            if pending:
                values["status"] = "delivered"
            values.update(settled_at=now, last_error=None)
            return values, "delivered"
        if verdict.outcome == "retry" and message.attempts < self._max_attempts and pending:
            delay = min(self._backoff_max, self._backoff_base * 2 ** (message.attempts - 1))
            values.update(next_attempt_at=now + timedelta(seconds=delay * (0.5 + random.random() / 2)), last_error=verdict.reason)
            return values, "retried"
        if pending:
            reason = verdict.reason or "gave up"
            if verdict.outcome == "retry":
                reason = f"gave up after {message.attempts} attempts: {reason}"
            values.update(status="dead", settled_at=now, last_error=reason)
            log.warning("outbox message %s dead: %s", message.seq, reason, extra={"kind": message.kind})
            return values, "dead"
        return values, None  # no longer pending (superseded while in flight): only the answer noted

    def _ensure_client(self) -> None:
        if self._client is None:
            self._client = PeerClient(self._ssl, timeout=self._timeout, per_origin=self._concurrency)

    async def _one(self, message: OutboxMessage) -> PeerResponse:
        try:
            answer = await self._client.request(
                message.method,
                message.url,
                message.body.encode() if message.body is not None else None,
                {"Content-Type": "application/json"} if message.body is not None else None,
            )
        except (TimeoutError, PeerHttpError, ssl.SSLError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return PeerResponse(None, error=type(exc).__name__)
        return PeerResponse(answer.status, answer.body, answer.content_type)

    async def _send_all(self, batch: list[OutboxMessage]) -> list[PeerResponse]:
        """Send a claimed round and wait for every answer (no settling)."""
        self._ensure_client()
        return await asyncio.gather(*(self._one(m) for m in batch))

    def _settle(self, session: Session, message: OutboxMessage, response: PeerResponse, current) -> None:
        """One message alone: ``current`` is its (seq, status, attempts) as stored now (``settle``
        leaves out the messages another deliverer took over). Written with one fenced Core UPDATE
        (seq and attempts as claimed)."""
        message.status = current.status  # e.g. superseded while it was in flight
        handler = self._handlers.get(message.kind)
        verdict = handler(session, message, response) if handler else None
        values, counted = self._values(message, response, current, verdict or default_verdict(response))
        if counted:
            setattr(self, counted, getattr(self, counted) + 1)
        session.connection().execute(_settle_statement(tuple(sorted(values))), {**values, "b_seq": message.seq, "b_attempts": message.attempts})


@functools.cache
def _settle_statement(columns: tuple[str, ...]):
    """The fenced UPDATE of a settled message for one set of columns, built once (building it per
    message cost more CPU than running it)."""
    table = OutboxMessage.__table__
    return (
        table.update()
        .where(table.c.seq == bindparam("b_seq"), table.c.attempts == bindparam("b_attempts"))
        .values({c: bindparam(c, type_=table.c[c].type) for c in columns})
    )


def activity(session: Session, *, kinds: tuple[str, ...], keys: list[str] | None = None, key_prefix: str | None = None,
             url_prefix: str | None = None):  # fmt: skip
    """What the outbox did for one flow: the last delivery, and the messages that are dead (and
    not followed by a later delivery of the same key) or failing and being retried. The flow is
    given as ordering keys (``keys``) or a key prefix, and where it goes as a URL prefix."""
    from eduketen.core.activity import Activity, OpenError

    columns = (OutboxMessage.seq, OutboxMessage.ordering_key, OutboxMessage.status, OutboxMessage.settled_at,
               OutboxMessage.created_at, OutboxMessage.last_status, OutboxMessage.last_error, OutboxMessage.attempts,
               OutboxMessage.url)  # fmt: skip
    rows = []
    if keys is not None:
        for part in in_chunks(keys):
            rows += session.execute(select(*columns).where(OutboxMessage.kind.in_(kinds), OutboxMessage.ordering_key.in_(part))).all()
    elif key_prefix is not None:
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = session.execute(
            select(*columns).where(OutboxMessage.kind.in_(kinds), OutboxMessage.ordering_key.like(f"{escaped}%", escape="\\"))
        ).all()
    if url_prefix is not None:
        rows = [r for r in rows if r.url.startswith(url_prefix)]
    result = Activity()
    delivered_after: dict[str, int] = {}
    for row in rows:
        if row.status == "delivered":
            result.exchanges += 1
            if result.last_ok is None or (row.settled_at and row.settled_at > result.last_ok):
                result.last_ok = row.settled_at
            delivered_after[row.ordering_key] = max(delivered_after.get(row.ordering_key, 0), row.seq)
    for row in sorted(rows, key=lambda r: r.seq):
        if row.status == "dead" and delivered_after.get(row.ordering_key, 0) < row.seq:
            reason = row.last_error or (f"HTTP {row.last_status}" if row.last_status else "gave up")
            result.errors.append(OpenError("dead", row.settled_at or row.created_at, reason))
        elif row.status == "pending" and row.attempts > 0 and row.last_error:
            result.errors.append(OpenError("retrying", row.created_at, f"{row.last_error} ({row.attempts}x geprobeerd)"))
    return result
