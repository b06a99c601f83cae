"""create_app(settings): the ASGI application. No import-time globals."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from sqlalchemy import text
from starlette.responses import Response

from eduketen import __version__
from eduketen.config import Settings
from eduketen.core.errors import BodyLimitMiddleware, install_handlers, json_response
from eduketen.core.lane import Lane
from eduketen.core.logging import RequestContextMiddleware
from eduketen.core.metrics import Metrics, MetricsMiddleware, allowed_scraper
from eduketen.core.platform import Platform
from eduketen.core.ratelimit import RateLimiter
from eduketen.core.security import AuthFailureLimitMiddleware, SecurityHeadersMiddleware
from eduketen.core.worker import pending_count


class EduketenApp(FastAPI):
    """FastAPI, with the express lane (core/lane.py) in front: a POST to one of its paths (or a
    GET to one of its GET routes) is answered there, everything else by the application as usual."""

    lane: Lane | None = None

    async def __call__(self, scope, receive, send) -> None:
        lane = self.lane
        if lane is not None and scope["type"] == "http":
            route = lane.route(scope)
            if route is not None:
                scope["app"] = self
                await lane.answer(scope, receive, send, route)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None, run_worker: bool | None = None) -> FastAPI:
    settings = settings or (platform.settings if platform else Settings())
    platform = platform or Platform.build(settings)
    embedded = settings.embedded_worker if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        platform.inbox.start()
        if embedded:
            platform.worker.start()
            platform.outbox.start()
            platform.periodic.start()
            for loop in platform.loops:
                loop.start()
        try:
            yield
        finally:
            for loop in platform.loops:
                loop.stop()
            platform.periodic.stop()
            platform.outbox.stop()
            platform.worker.stop()
            platform.inbox.stop()
            platform.audit.stop()
            aclose = getattr(platform.register_source, "aclose", None)
            if aclose is not None:
                await aclose()

    app = EduketenApp(
        title="eduketen",
        version=__version__,
        description="Open platform for the Dutch education data chain.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks: nothing here configures OpenTelemetry, and asking
        # on every request whether something did cost the busiest requests a few percent.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    install_handlers(app)

    from eduketen.doorstroomtoets import api as doorstroomtoets_api
    from eduketen.keurmerk import api as keurmerk_api
    from eduketen.register import api as register_api
    from eduketen.register import osr as register_osr

    for router in doorstroomtoets_api.routers(settings.roles):
        app.include_router(router)
    app.include_router(doorstroomtoets_api.admin_router)
    app.include_router(register_api.router)
    app.include_router(keurmerk_api.admin_router)
    app.include_router(keurmerk_api.public_router)
    app.include_router(keurmerk_api.supplier_router)
    if "register" in settings.roles:
        app.include_router(register_osr.router)

    from eduketen.core.oauth import api as oauth_api
    from eduketen.register import consent_api
    from eduketen.toetsresultaten import api as results_api

    app.include_router(oauth_api.router)
    app.include_router(oauth_api.admin_router)
    app.include_router(consent_api.router)
    app.include_router(consent_api.admin_router)
    app.include_router(results_api.v1)
    app.include_router(results_api.v0)
    app.include_router(results_api.spec_router)
    app.include_router(results_api.admin_router)

    from eduketen.leervoortgang import api as progress_api

    app.include_router(progress_api.router)

    from eduketen.insight import api as insight_api
    from eduketen.insight.pages import PageHeadersMiddleware

    app.include_router(insight_api.router)
    from eduketen.insight import progress_pages

    app.include_router(progress_pages.router)
    from eduketen.insight import keurmerk_pages

    app.include_router(keurmerk_pages.router)
    from eduketen.insight import register_pages

    app.include_router(register_pages.router)
    app.mount("/insight/static", insight_api.static_files(), name="insight-static")

    @app.get("/health", tags=["operations"])
    async def health() -> dict:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["operations"])
    def ready(request: Request) -> Response:
        """The database answers and the schema is migrated; reports the queue depth. A read-only
        session: on SQLite it never waits for the write lock the worker may hold."""
        p: Platform = request.app.state.platform
        try:
            with p.read_sessions() as session:
                session.execute(text("SELECT 1"))
                depth = pending_count(session)
                revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception as exc:
            return json_response(503, {"status": "unavailable", "reason": type(exc).__name__})
        return json_response(200, {"status": "ready", "queue_depth": depth, "schema_revision": revision})

    metrics = Metrics(platform.read_sessions or platform.sessions)
    app.state.metrics = metrics

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:
        """Prometheus text exposition (see docs/deployment.md for who may scrape)."""
        if not allowed_scraper(request.scope, settings.metrics_token, settings.metrics_allow):
            return json_response(404, {"status": 404, "title": "Not found"})
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    # The Doorstroomtoets inbound POSTs take the express lane (core/lane.py), which does what the
    # stack below does in one pass. Outermost first: request id on every line, security headers,
    # latency, the limit on failed authentication (its buckets shared with the lane), the body
    # limit, then the pages' headers and the results API's version.
    limiter = RateLimiter(settings.auth_failure_rate, settings.auth_failure_burst)
    app.lane = Lane(metrics=metrics, limiter=limiter, trusted=platform.trusted, max_body_bytes=settings.max_body_bytes,
                    handlers=app.exception_handlers)
    doorstroomtoets_api.add_to_lane(app.lane, settings.roles)
    app.add_middleware(results_api.ApiVersionMiddleware)
    app.add_middleware(PageHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       larger={progress_api.BULK_PATH: settings.progress_bulk_max_bytes})
    app.add_middleware(
        AuthFailureLimitMiddleware, trusted=platform.trusted, limiter=limiter
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
