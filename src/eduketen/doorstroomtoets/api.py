"""HTTP endpoints of the Doorstroomtoets chain, one router per spec version.

Test supplier role: ``POST /registreren`` and ``POST /registreren-schooladviezen`` (1.1.0 and
later). Order of checks: who is calling (401) -> edu-to/edu-from well formed (422) -> school
known (405) -> sender and receiver mandated by the school for this version today (401) ->
content type, JSON, schema and the spec's prose rules (422) -> window open (403) -> stored
durably -> 202. Every answer carries the spec's own ``melding`` text; ``toelichting`` and
``fouten`` say in plain words what was wrong."""

from __future__ import annotations

import hashlib
import uuid

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.auth import CertificateProblem, caller_from_scope
from eduketen.core.db import utcnow
from eduketen.core.identifiers import edu_id_problem
from eduketen.core.inbox import InboxUnavailable
from eduketen.core.logging import current_request_id
from eduketen.core.platform import Platform, today_nl
from eduketen.register.sources import RegisterUnavailable
from eduketen.doorstroomtoets.schemas import (
    INBOUND_TOETSAANBIEDER,
    SERVICE,
    SpecVersion,
    WindowIn,
    body_schema,
    prune,
    schema_errors,
    versions,
)
from eduketen.doorstroomtoets import repository, service
from eduketen.doorstroomtoets.service import WINDOW_KINDS, content_problems


def _json(status: int, body: dict) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _register_down(exc: Exception) -> Response:
    return _json(
        503,
        {
            "melding": "Mandaat kan nu niet worden gecontroleerd; probeer het later opnieuw.",
            "toelichting": f"Het register (OSR) is niet bereikbaar en er is geen recent antwoord bewaard: {exc}.",
        },
    )


def _query_value(request: Request, name: str) -> tuple[str | None, str | None]:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        return None, f"{name} komt {len(values)} keer voor; verwacht precies 1 keer."
    value = values[0] if values else None
    return value, edu_id_problem(value, name)


async def receive_message(request: Request, spec: SpecVersion, operation: str) -> Response:
    platform: Platform = request.app.state.platform
    path, component = INBOUND_TOETSAANBIEDER[operation]

    def answer(status: int, toelichting: str | None = None, fouten: list | None = None) -> Response:
        body: dict = {"melding": spec.melding(path, "post", status)}
        if toelichting:
            body["toelichting"] = toelichting
        if fouten:
            body["fouten"] = fouten
        return _json(status, body)

    # 1. who is calling
    try:
        caller = caller_from_scope(request.scope, platform.trusted)
    except CertificateProblem as exc:
        return answer(401, f"Het clientcertificaat is niet bruikbaar: {exc}.")
    if caller is None:
        return answer(401, "Geen clientcertificaat ontvangen: de verzender is niet te identificeren (Edukoppeling).")
    request.scope.setdefault("state", {})["caller_oin"] = caller.oin

    # 2. edu-to / edu-from
    edu_to, problem_to = _query_value(request, "edu-to")
    edu_from, problem_from = _query_value(request, "edu-from")
    fouten = [{"veld": n, "fout": p} for n, p in (("edu-to", problem_to), ("edu-from", problem_from)) if p]
    if fouten:
        return answer(422, "De parameters edu-to en edu-from moeten elk precies 20 cijfers of letters zijn.", fouten)

    # 3. school known (the register may be this installation's own or a remote OSR)
    source = platform.register_source
    try:
        school = await source.school(edu_to)
    except RegisterUnavailable as exc:
        return _register_down(exc)
    if school is None:
        return answer(405, f"Geen school met OIN {edu_to} in het register van deze toetsaanbieder.")

    # 4. mandates
    routing = source.routing(edu_from)
    if routing is not None and routing[0] != school.id:
        return answer(401, f"Routeringskenmerk {edu_from} (edu-from) hoort niet bij de school van edu-to.")
    if routing is not None and routing[2] is not None and routing[2] != caller.oin:
        return answer(401, f"De administratie {edu_from} wordt gevoerd in het LAS van een andere leverancier.")
    day = today_nl()
    own = platform.settings.own_oin
    try:
        sender = await source.mandated(
            school, supplier_oin=caller.oin, kind="las", service=SERVICE, version=spec.version, namespace=spec.namespace, day=day
        )
        receiver = (
            await source.mandated(
                school, supplier_oin=own, kind="toetssysteem", service=SERVICE, version=spec.version, namespace=spec.namespace, day=day
            )
            if own
            else None
        )
    except RegisterUnavailable as exc:
        return _register_down(exc)
    if not sender.allowed:
        return answer(
            401,
            f"Het LAS van de verzender (OIN {caller.oin}) heeft vandaag geen geldig mandaat van deze school "
            f"voor de dienst {SERVICE} {spec.version}.",
        )
    if receiver is None or not receiver.allowed:
        return answer(
            401,
            f"Het toetssysteem van deze toetsaanbieder heeft vandaag geen geldig mandaat van deze school "
            f"voor de dienst {SERVICE} {spec.version}.",
        )

    # 5. well formed
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return answer(422, f"Content-Type moet application/json zijn, niet {content_type or '(leeg)'!r}.")
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return answer(422, f"Het bericht is geen geldige JSON (positie {exc.pos}).")
    if not isinstance(body, dict):
        return answer(422, "Het bericht moet een JSON-object zijn.")
    schema = body_schema(spec.key, component)
    fouten = schema_errors(schema, body)
    if fouten:
        return answer(422, f"Het bericht voldoet niet aan {component} van versie {spec.version}.", fouten)
    fouten = content_problems(spec, operation, body, school)
    if fouten:
        return answer(422, f"Het bericht voldoet niet aan de regels van {component}.", fouten)

    # 6. window
    soort = WINDOW_KINDS[operation]
    schooljaar = body["schooljaar"]
    window = platform.windows.window(schooljaar, soort)
    if window is None or not (window[0] <= day <= window[1]):
        reason = (
            f"voor schooljaar {schooljaar} is geen periode ingesteld"
            if window is None
            else f"de periode voor schooljaar {schooljaar} loopt van {window[0]} tot en met {window[1]}"
        )
        return answer(403, f"Aanlevering is nu niet mogelijk: {reason}.")

    # 7. stored durably, then 202
    kept = prune(body, schema.shape)
    canonical = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
    key = hashlib.sha256(
        b"|".join((operation.encode(), spec.key.encode(), edu_to.encode(), edu_from.encode(), canonical))
    ).hexdigest()
    now = utcnow()
    items = body.get("deelnemers") or body.get("voorlopigSchooladviezen") or []
    row = {
        "id": str(uuid.uuid4()),
        "service": SERVICE,
        "version": spec.version,
        "operation": f"{SERVICE}.{operation}",
        "school_oin": edu_to,
        "routing": edu_from,
        "sender_oin": caller.oin,
        "schooljaar": schooljaar,
        "idempotency_key": key,
        "payload": canonical.decode(),
        "item_count": len(items),
        "request_id": current_request_id(),
        "status": "pending",
        "attempts": 0,
        "received_at": now,
        "available_at": now,
    }
    try:
        await platform.inbox.submit(row)
    except InboxUnavailable:
        return _json(503, {"melding": "Bericht niet opgeslagen; probeer het later opnieuw.", "toelichting": "De opslag is tijdelijk niet bereikbaar."})
    return answer(202)


def build_router(spec: SpecVersion) -> APIRouter:
    router = APIRouter(prefix=spec.base_path, include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi_document() -> Response:
        return _json(200, spec.document)

    for operation, (path, _component) in INBOUND_TOETSAANBIEDER.items():
        if not spec.has(path):
            continue

        router.add_api_route(path, _endpoint(spec, operation), methods=["POST"], name=f"{spec.key}:{operation}")
    return router


def _endpoint(spec: SpecVersion, operation: str):
    async def endpoint(request: Request) -> Response:
        return await receive_message(request, spec, operation)

    return endpoint


def routers(roles: list[str]) -> list[APIRouter]:
    if "toetsaanbieder" not in roles:
        return []
    return [build_router(spec) for spec in versions().values()]


# -- staff and admin ---------------------------------------------------------------------------

admin_router = APIRouter(prefix="/admin/doorstroomtoets", tags=["admin: doorstroomtoets"])


@admin_router.put("/vensters")
def set_window(body: WindowIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        w = service.set_window(session, schooljaar=body.schooljaar, soort=body.soort, opens=body.opens, closes=body.closes)
        return {"schooljaar": w.schooljaar, "soort": w.soort, "opens": w.opens.isoformat(), "closes": w.closes.isoformat()}


@admin_router.get("/vensters")
def list_windows(platform: AdminPlatform) -> dict:
    with platform.sessions() as session:
        return {
            "vensters": [
                {"schooljaar": w.schooljaar, "soort": w.soort, "opens": w.opens.isoformat(), "closes": w.closes.isoformat()}
                for w in repository.vensters(session)
            ]
        }


@admin_router.get("/overzicht")
def overview(platform: AdminPlatform, schooljaar: str | None = None, school: str | None = None) -> dict:
    """The staff view: per school and school year, counts and the last message. No pupil data."""
    with platform.sessions() as session:
        return {"scholen": repository.overview(session, schooljaar=schooljaar, school_oin=school)}
