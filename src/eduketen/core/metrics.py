"""Prometheus metrics: request latency per process, message and queue figures from the database.

Message counts (accepted, processed, retried, dead-lettered per service and version) and queue
figures (depth, age of the oldest waiting message) are read from the database at scrape time, so
every API process reports the same, true figures however many API and worker processes there are
and whichever of them did the work. They count the rows the database holds: a retention purge
lowers them, which Prometheus treats as a counter reset. Request latency is measured in the process
that answered; scrape each API process (each has its own loopback port).

Nothing here is created at import time: ``Metrics`` is built per application with its own registry.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import utcnow

log = logging.getLogger("eduketen.metrics")

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ServiceFigures:
    accepted: int = 0
    processed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    waiting: int = 0


@dataclass
class Figures:
    """What `eduketen status` shows and /metrics exposes, read in one go from the database."""

    services: dict[tuple[str, str], ServiceFigures] = field(default_factory=dict)
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> count
    outbox_retried: dict[str, int] = field(default_factory=dict)
    queue_depth: dict[str, int] = field(default_factory=dict)  # inbox | outbox
    oldest_age_seconds: dict[str, float] = field(default_factory=dict)
    audit_entries: int = 0

    def as_dict(self) -> dict:
        return {
            "services": [
                {"service": s, "version": v, **vars(f)} for (s, v), f in sorted(self.services.items())
            ],
            "outbox": [{"kind": k, "status": st, "count": n} for (k, st), n in sorted(self.outbox.items())],
            "outbox_retried": dict(sorted(self.outbox_retried.items())),
            "queue_depth": self.queue_depth,
            "oldest_age_seconds": {k: round(v, 3) for k, v in self.oldest_age_seconds.items()},
            "audit_entries": self.audit_entries,
        }


def _age(now, oldest) -> float:
    if oldest is None:
        return 0.0
    if isinstance(oldest, str):  # SQLite returns the stored text for an aggregate
        from datetime import UTC, datetime

        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    elif oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (now - oldest).total_seconds())


def read_figures(session: Session) -> Figures:
    """Counts per service and version, queue depth and the oldest waiting message's age."""
    figures = Figures()
    now = utcnow()
    rows = session.execute(
        text(
            "SELECT service, version, status, count(*), "
            "coalesce(sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) "
            "FROM inbox_message GROUP BY service, version, status"
        )
    ).all()
    for service, version, status, count, retried in rows:
        f = figures.services.setdefault((service, version), ServiceFigures())
        f.accepted += count
        f.retried += int(retried)
        if status == "done":
            f.processed += count
        elif status == "failed":
            f.dead_lettered += count
        else:
            f.waiting += count
    inbox_depth, inbox_oldest = session.execute(
        text("SELECT count(*), min(received_at) FROM inbox_message WHERE status IN ('pending', 'processing')")
    ).one()
    figures.queue_depth["inbox"] = inbox_depth
    figures.oldest_age_seconds["inbox"] = _age(now, inbox_oldest)
    for kind, status, count, retried in session.execute(
        text(
            "SELECT kind, status, count(*), coalesce(sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) "
            "FROM outbox_message GROUP BY kind, status"
        )
    ).all():
        figures.outbox[(kind, status)] = count
        figures.outbox_retried[kind] = figures.outbox_retried.get(kind, 0) + int(retried)
    outbox_depth, outbox_oldest = session.execute(
        text("SELECT count(*), min(created_at) FROM outbox_message WHERE status = 'pending'")
    ).one()
    figures.queue_depth["outbox"] = outbox_depth
    figures.oldest_age_seconds["outbox"] = _age(now, outbox_oldest)
    figures.audit_entries = session.execute(text("SELECT count(*) FROM audit_log")).scalar() or 0
    return figures


class DatabaseCollector:
    """A Prometheus collector that reads the figures from the database at each scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self):  # no read at registration time
        return []

    def collect(self):
        up = GaugeMetricFamily("eduketen_database_up", "1 when the database answered this scrape")
        try:
            with self._sessions() as session:
                figures = read_figures(session)
        except Exception as exc:  # the scrape still answers, saying the database is down
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        labels = ["service", "version"]
        families = {
            "accepted": CounterMetricFamily("eduketen_messages_accepted", "Messages acknowledged (stored, then 2xx)", labels=labels),
            "processed": CounterMetricFamily("eduketen_messages_processed", "Messages processed by a worker", labels=labels),
            "retried": CounterMetricFamily("eduketen_messages_retried", "Extra processing attempts after a failure or lost lease", labels=labels),
            "dead_lettered": CounterMetricFamily("eduketen_messages_dead_lettered", "Messages given up on (status failed)", labels=labels),
        }
        for (service, version), f in sorted(figures.services.items()):
            for name, family in families.items():
                family.add_metric([service, version], getattr(f, name))
        yield from families.values()
        outbox = CounterMetricFamily("eduketen_outbox_messages", "Outgoing messages by kind and status", labels=["kind", "status"])
        for (kind, status), n in sorted(figures.outbox.items()):
            outbox.add_metric([kind, status], n)
        yield outbox
        outbox_retried = CounterMetricFamily("eduketen_outbox_retried", "Extra delivery attempts of outgoing messages", labels=["kind"])
        for kind, n in sorted(figures.outbox_retried.items()):
            outbox_retried.add_metric([kind], n)
        yield outbox_retried
        depth = GaugeMetricFamily("eduketen_queue_depth", "Messages waiting (inbox: pending or processing; outbox: pending)", labels=["queue"])
        age = GaugeMetricFamily("eduketen_queue_oldest_age_seconds", "Age of the oldest waiting message (0 when none)", labels=["queue"])
        for queue in ("inbox", "outbox"):
            depth.add_metric([queue], figures.queue_depth[queue])
            age.add_metric([queue], figures.oldest_age_seconds[queue])
        yield depth
        yield age
        audit = CounterMetricFamily("eduketen_audit_entries", "Entries in the audit log of reads of pupil data")
        audit.add_metric([], figures.audit_entries)
        yield audit


class Metrics:
    """Per-application registry: the latency histogram of this process plus the database figures."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "eduketen_http_request_duration_seconds",
            "Time from request to the end of the response, in this process",
            labelnames=["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector(sessions))
        self._children: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, template: str, status: int, seconds: float) -> None:
        """One request's duration; the histogram's child per label set is looked up once."""
        key = (method, template, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.latency.labels(method, template, str(status))
        child.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI: observes each request's duration under its route template (never the raw path,
    which may carry identifiers: the label set stays small and free of personal data)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [0]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            if template != "/metrics":
                self.metrics.observe(scope["method"], template, status[0] or 500, time.perf_counter() - started)


def allowed_scraper(scope, token: str | None, allow: list[str]) -> bool:
    """The metrics token when one is set; otherwise a direct (not proxied) caller from ``allow``."""
    headers = dict(scope.get("headers") or ())
    if token:
        import hmac

        given = headers.get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if b"client-cert" in headers or b"x-forwarded-for" in headers:
        return False  # came through a proxy: not a scraper on this machine
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in allow)


def scrape_latency(url: str, token: str | None = None) -> list[dict]:
    """Request counts and latency per route from one process's /metrics (for `eduketen status`)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=5)
    response.raise_for_status()
    per_route: dict[tuple[str, str], dict] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != "eduketen_http_request_duration_seconds":
            continue
        for sample in family.samples:
            key = (sample.labels.get("method", ""), sample.labels.get("route", ""))
            row = per_route.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
            if sample.name.endswith("_count"):
                row["count"] += sample.value
            elif sample.name.endswith("_sum"):
                row["sum"] += sample.value
            elif sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                row["buckets"][le] = row["buckets"].get(le, 0.0) + sample.value
    result = []
    for (method, route), row in sorted(per_route.items()):
        if not row["count"]:
            continue
        p95 = next((le for le, n in sorted(row["buckets"].items()) if n >= 0.95 * row["count"]), float("inf"))
        result.append(
            {
                "url": url, "method": method, "route": route, "count": int(row["count"]),
                "mean_ms": 1000 * row["sum"] / row["count"], "p95_le_ms": "inf" if p95 == float("inf") else f"<= {p95 * 1000:g}",
            }
        )  # fmt: skip
    return result
