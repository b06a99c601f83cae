"""The running platform: settings, database, register view, inbox and worker, built once.

``create_app`` builds one and keeps it in ``app.state.platform``; the CLI builds its own.
Nothing here is created at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from eduketen.config import Settings
from eduketen.core.auth import TrustedProxies
from eduketen.core.db import make_engine, make_sessionmaker
from eduketen.core.inbox import InboxWriter
from eduketen.core.worker import Handler, Worker

NL = ZoneInfo("Europe/Amsterdam")


def today_nl() -> date:
    """Mandates and windows are dates in Dutch time."""
    return datetime.now(NL).date()


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    trusted: TrustedProxies
    inbox: InboxWriter
    worker: Worker
    views: dict[str, object] = field(default_factory=dict)
    register_source: object = None  # EmbeddedRegister | RemoteRegister (eduketen.register.sources)

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        from eduketen.doorstroomtoets.service import WindowView
        from eduketen.doorstroomtoets.tasks import HANDLERS as DOORSTROOMTOETS_HANDLERS
        from eduketen.register.service import RegisterView

        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        handlers: dict[str, Handler] = {**DOORSTROOMTOETS_HANDLERS}
        worker = Worker(
            sessions,
            handlers,
            batch=settings.worker_batch,
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
            max_attempts=settings.worker_max_attempts,
        )
        inbox = InboxWriter(
            engine,
            batch_max=settings.inbox_batch_max,
            wait_ms=settings.inbox_batch_wait_ms,
            on_commit=worker.wake,
        )
        platform = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            trusted=TrustedProxies(settings.trusted_proxies),
            inbox=inbox,
            worker=worker,
        )
        from eduketen.core.ratelimit import RateLimiter
        from eduketen.register.sources import build_source

        view = RegisterView(sessions, ttl=settings.register_cache_seconds)
        platform.views["register"] = view
        platform.views["vensters"] = WindowView(sessions, ttl=settings.register_cache_seconds)
        platform.views["osr_limiter"] = RateLimiter(settings.osr_read_rate, settings.osr_read_burst)
        platform.register_source = build_source(settings, view, sessions)
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
        self.worker.stop()
        self.inbox.stop()
        self.engine.dispose()
