"""Where every role asks "is this school known", "did it mandate this supplier" and "where does
this administration receive": one port, two adapters chosen in the settings.

- ``EmbeddedRegister`` (default): this installation's own register, through its in-memory view.
- ``RemoteRegister``: an OSR-compatible API elsewhere (the national OSR, or another eduketen
  playing the register), over HTTPS with our client certificate. Answers are cached for
  ``register_cache_seconds``. When the register cannot be reached, a cached answer is used for
  ``register_grace_seconds`` more, and that decision is logged with its source; after that the
  caller gets ``RegisterUnavailable`` (the API answers 503 with a clear message), never a
  silent refusal.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from eduketen.config import Settings
from eduketen.core.db import unit_of_work
from eduketen.core.platform import today_nl
from eduketen.register import repository as repo
from eduketen.register import service as svc
from eduketen.register.service import RegisterView, SchoolInfo

log = logging.getLogger("eduketen.register.source")


class RegisterUnavailable(RuntimeError):
    """The register could not answer and no cached answer is young enough."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    source: str  # embedded | remote | cache
    reason: str | None = None


class EmbeddedRegister:
    name = "embedded"

    def __init__(self, view: RegisterView) -> None:
        self._view = view

    def endpoint_url(self, namespace: str, routing_id: str, session) -> str | None:
        """Where messages for this administration go (the caller's session: no second
        connection, which on SQLite would wait for the caller's own write lock)."""
        try:
            found = svc.current_endpoints(session, namespace=namespace, school=None, routing_id=routing_id, day=today_nl())
        except svc.RegisterError:
            return None
        return found[-1].url if found else None

    async def school(self, oin: str) -> SchoolInfo | None:
        return self._view.current().schools.get(oin)

    def routing(self, routing_id: str) -> tuple[int, int | None, str | None] | None:
        return self._view.current().routing.get(routing_id)

    async def mandated(
        self, school: SchoolInfo, *, supplier_oin: str, kind: str | None, service: str, version: str, namespace: str, day: date
    ) -> Decision:
        ok = self._view.current().mandated(
            school.id, supplier_oin=supplier_oin, kind=kind, service=service, version=version, day=day
        )
        return Decision(ok, self.name)


class RemoteRegister:
    name = "remote"

    def __init__(self, settings: Settings, view: RegisterView, sessions) -> None:
        if not settings.register_url:
            raise ValueError("EDUKETEN_REGISTER_URL is required when EDUKETEN_REGISTER_SOURCE=remote")
        self._base = settings.register_url.rstrip("/")
        self._ttl = settings.register_cache_seconds
        self._grace = settings.register_grace_seconds
        self._timeout = settings.register_timeout_seconds
        self._view = view
        self._sessions = sessions
        context = ssl.create_default_context(cafile=settings.register_ca) if settings.register_ca else ssl.create_default_context()
        if settings.register_client_cert:
            context.load_cert_chain(settings.register_client_cert, settings.register_client_key)
        self._context = context
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[tuple, tuple[Any, float]] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._context, timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _ask(self, path: str, params: dict[str, str]) -> tuple[Any, str]:
        """(answer, source). 200 and 404 are answers; anything else is the register failing."""
        key = (path, tuple(sorted(params.items())))
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] <= self._ttl:
            return cached[0], "cache"
        try:
            response = await self._http().get(self._base + path, params=params)
            if response.status_code == 200:
                answer: Any = response.json()
                if not isinstance(answer, dict):
                    raise ValueError("register answered something other than a JSON object")
            elif response.status_code == 404:
                answer = None
            elif response.status_code in (400, 410):
                answer = {"refused": response.json().get("detail", response.text)}
            else:
                raise httpx.HTTPStatusError(f"register answered {response.status_code}", request=response.request, response=response)
        except (httpx.HTTPError, ValueError) as exc:
            if cached is not None and now - cached[1] <= self._ttl + self._grace:
                log.warning(
                    "register unreachable (%s); using the cached answer from %.0f s ago", type(exc).__name__, now - cached[1],
                    extra={"source": "cache", "path": path},
                )
                return cached[0], "cache"
            log.error("register unreachable (%s) and no usable cached answer", type(exc).__name__, extra={"path": path})
            raise RegisterUnavailable(f"the register at {self._base} cannot be reached") from exc
        self._cache[key] = (answer, now)
        return answer, self.name

    def routing(self, routing_id: str) -> tuple[int, int | None, str | None] | None:
        return self._view.current().routing.get(routing_id)

    def endpoint_url(self, namespace: str, routing_id: str, session=None) -> str | None:
        """Sync look-up for the worker: ``GET /endpoints?routing_id=``, cached like the rest."""
        key = ("/endpoints", (("routing_id", routing_id), ("service_version_namespace", namespace)))
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is None or now - cached[1] > self._ttl:
            try:
                with httpx.Client(verify=self._context, timeout=self._timeout) as client:
                    response = client.get(
                        self._base + "/endpoints", params={"service_version_namespace": namespace, "routing_id": routing_id}
                    )
                response.raise_for_status()
                cached = (response.json(), now)
                self._cache[key] = cached
            except (httpx.HTTPError, ValueError) as exc:
                if cached is None or now - cached[1] > self._ttl + self._grace:
                    raise RegisterUnavailable(f"the register at {self._base} cannot be reached") from exc
                log.warning("register unreachable (%s); using the cached endpoint", type(exc).__name__, extra={"source": "cache"})
        endpoints = (cached[0] or {}).get("endpoints") or []
        return endpoints[-1]["url"] if endpoints else None

    async def school(self, oin: str) -> SchoolInfo | None:
        known = self._view.current().schools.get(oin)
        if known is not None:
            return known
        answer, _source = await self._ask("/schools", {"oin": oin})
        schools = (answer or {}).get("schools") or []
        if not schools:
            return None
        remote = schools[0]
        await run_in_threadpool(self._remember_school, remote)
        self._view.invalidate()
        return self._view.current().schools.get(oin)

    def _remember_school(self, remote: dict) -> None:
        """Keep a school the register knows, so pupils and results can attach to it here."""
        with unit_of_work(self._sessions) as session:
            if repo.school_by_oin(session, remote["oin"]) is None:
                svc.add_school(session, name=remote.get("name") or remote["oin"], brin=remote["brin"])

    async def mandated(
        self, school: SchoolInfo, *, supplier_oin: str, kind: str | None, service: str, version: str, namespace: str, day: date
    ) -> Decision:
        answer, source = await self._ask(
            "/mandates",
            {"supplier_oin": supplier_oin, "school_oin": school.oin, "service_version_namespace": namespace, "reference_date": day.isoformat()},
        )
        if answer is None:
            return Decision(False, source, "mandate not found")
        if "refused" in answer:
            return Decision(False, source, str(answer["refused"]))
        ok = answer.get("result") == "OK" or bool(answer.get("mandates"))
        return Decision(ok, source)


def build_source(settings: Settings, view: RegisterView, sessions):
    if settings.register_source == "remote":
        return RemoteRegister(settings, view, sessions)
    return EmbeddedRegister(view)
