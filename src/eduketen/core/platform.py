"""The running platform: settings, database, register view, inbox and worker, built once.

``create_app`` builds one and keeps it in ``app.state.platform``; the CLI builds its own.
Nothing here is created at import time."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from eduketen.config import Settings
from eduketen.core.auth import TrustedProxies
from eduketen.core.db import make_engine, make_sessionmaker, read_sessionmaker
from eduketen.core.inbox import InboxWriter
from eduketen.core.worker import Worker

NL = ZoneInfo("Europe/Amsterdam")


def today_nl() -> date:
    """Mandates and windows are dates in Dutch time."""
    return datetime.now(NL).date()


def peer_ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS towards peers: their server certificates checked against ``peer_ca`` (or the system
    store), and our client certificate presented when configured."""
    context = ssl.create_default_context(cafile=settings.peer_ca) if settings.peer_ca else ssl.create_default_context()
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    return context


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    trusted: TrustedProxies
    inbox: InboxWriter
    worker: Worker
    outbox: object = None  # OutboxDeliverer
    periodic: object = None  # Periodic (calendar-driven worker tasks)
    audit: object = None  # AuditWriter (group commit of audit entries)
    read_sessions: sessionmaker[Session] | None = None
    views: dict[str, object] = field(default_factory=dict)
    register_source: object = None  # EmbeddedRegister | RemoteRegister (eduketen.register.sources)
    writer_engine: Engine | None = None  # the group-commit writers' engine (SQLite: a separate one)
    loops: list = field(default_factory=list)  # further PollingLoops the worker process runs (domains' maintenance)
    background_engine: Engine | None = None  # the worker's and outbox's engine (SQLite: synchronous NORMAL)

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        from eduketen.core.audit import AuditWriter
        from eduketen.core.oauth.jwks import JwksFetcher
        from eduketen.core.oauth.keys import KeyStore
        from eduketen.core.outbox import OutboxDeliverer
        from eduketen.core.ratelimit import RateLimiter
        from eduketen.doorstroomtoets import tasks as doorstroomtoets_tasks
        from eduketen.doorstroomtoets.service import WindowView
        from eduketen.register.consent import SwitchedOffView
        from eduketen.register.service import RegisterView
        from eduketen.register.sources import build_source

        engine = make_engine(settings.database_url)
        # The group-commit writers (inbox, audit) wait for SQLite's write lock looking again every
        # half millisecond (db.begin_immediate), twice as often as the worker and the outbox, so
        # the API's 202s get the lock first. (A retry loop of their own began a new SQLAlchemy
        # transaction per look: ~150 us of CPU each, measured as a third of the API process's CPU
        # in the chain test.)
        writer_engine = (
            make_engine(settings.database_url, lock_poll_seconds=0.0005) if engine.dialect.name == "sqlite" else engine
        )
        sessions = make_sessionmaker(engine)
        # The worker and the outbox commit without syncing the WAL on SQLite (synchronous NORMAL):
        # what they commit was never acknowledged to anyone by that commit. A 202 comes from the
        # inbox writer and a report leaves only after its audit entry, both committed FULL, and
        # each FULL commit syncs the WAL with everything committed before it. After a power
        # failure the worker's or outbox's last commits may be gone; the messages are then
        # processed or sent again, and duplicates have one effect (idempotency keys, standlevering).
        # Measured in the chain test: a synced commit took 2.4-7.5 ms on this machine, held under
        # the write lock that the API, the workers and the outbox all wait for.
        background_engine = (
            make_engine(settings.database_url, synchronous="NORMAL") if engine.dialect.name == "sqlite" else engine
        )
        background = make_sessionmaker(background_engine)
        view = RegisterView(sessions, ttl=settings.register_cache_seconds)
        source = build_source(settings, view, sessions)
        handlers: dict = {**doorstroomtoets_tasks.handlers(settings, source)}
        worker = Worker(
            background,
            handlers,
            batch=settings.worker_batch,
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
            max_attempts=settings.worker_max_attempts,
            read_sessions=read_sessionmaker(engine),
            yield_seconds=settings.worker_yield_seconds,
            yield_arrivals=settings.worker_yield_arrivals,
            max_lag_seconds=settings.worker_max_lag_seconds,
        )
        inbox = InboxWriter(
            writer_engine,
            batch_max=settings.inbox_batch_max,
            wait_ms=settings.inbox_batch_wait_ms,
            on_commit=worker.wake,
        )
        deliverer = OutboxDeliverer(
            background,
            doorstroomtoets_tasks.outbox_handlers(settings),
            ssl_context=peer_ssl_context(settings),
            concurrency=settings.outbox_concurrency,
            timeout=settings.outbox_timeout_seconds,
            max_attempts=settings.outbox_max_attempts,
            backoff_base=settings.outbox_backoff_base_seconds,
            backoff_max=settings.outbox_backoff_max_seconds,
            lease_seconds=settings.outbox_lease_seconds,
        )
        platform = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            trusted=TrustedProxies(settings.trusted_proxies),
            inbox=inbox,
            worker=worker,
            outbox=deliverer,
            register_source=source,
            writer_engine=writer_engine,
            background_engine=background_engine,
            audit=AuditWriter(
                writer_engine, batch_max=settings.inbox_batch_max, wait_ms=settings.inbox_batch_wait_ms
            ),
            read_sessions=read_sessionmaker(engine),
        )
        from eduketen.core.periodic import Periodic
        from eduketen.keurmerk import tasks as keurmerk_tasks

        platform.periodic = Periodic(sessions, keurmerk_tasks.periodic_tasks(), clock=today_nl, interval_seconds=settings.periodic_seconds)
        from eduketen.leervoortgang.tasks import ProgressMaintenance

        platform.loops.append(ProgressMaintenance(sessions, poll_seconds=settings.progress_aggregate_poll_seconds,
                                                  batch=settings.progress_aggregate_batch,
                                                  partitions_ahead=settings.progress_partitions_ahead))  # fmt: skip
        platform.views["register"] = view
        platform.views["vensters"] = WindowView(sessions, ttl=settings.register_cache_seconds)
        platform.views["osr_limiter"] = RateLimiter(settings.osr_read_rate, settings.osr_read_burst)
        platform.views["doorstroomtoets_off"] = SwitchedOffView(read_sessionmaker(engine), "doorstroomtoets", ttl=settings.register_cache_seconds)
        platform.views["oauth_keys"] = KeyStore(
            sessions, token_seconds=settings.oauth_token_seconds, leeway=settings.oauth_leeway_seconds
        )
        platform.views["jwks_fetcher"] = JwksFetcher(
            cache_seconds=settings.oauth_jwks_cache_seconds,
            refetch_seconds=settings.oauth_jwks_refetch_seconds,
            timeout=settings.oauth_jwks_timeout_seconds,
            ca=settings.oauth_jwks_ca,
        )
        platform.views["login_limiter"] = RateLimiter(1.0, 10)
        return platform

    @property
    def register(self):
        return self.views["register"]

    @property
    def windows(self):
        return self.views["vensters"]

    def invalidate_views(self) -> None:
        for view in self.views.values():
            if hasattr(view, "invalidate"):
                view.invalidate()

    def close(self) -> None:
        self.audit.stop()
        if self.periodic is not None:
            self.periodic.stop()
        self.outbox.stop()
        self.worker.stop()
        self.inbox.stop()
        if self.writer_engine is not None and self.writer_engine is not self.engine:
            self.writer_engine.dispose()
        if self.background_engine is not None and self.background_engine is not self.engine:
            self.background_engine.dispose()
        self.engine.dispose()
