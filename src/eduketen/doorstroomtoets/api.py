"""HTTP endpoints of the Doorstroomtoets chain, one router per spec version.

Test supplier role: ``POST /registreren`` and ``POST /registreren-schooladviezen`` (1.1.0 and
later). Order of checks: who is calling (401) -> edu-to/edu-from well formed (422) -> school
known (405) -> sender and receiver mandated by the school for this version today (401) ->
content type, JSON, schema and the spec's prose rules (422) -> window open (403) -> stored
durably -> 202. Every answer carries the spec's own ``melding`` text; ``toelichting`` and
``fouten`` say in plain words what was wrong."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_plus

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from eduketen.core import fastjson
from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.auth import CertificateProblem, caller_from_scope
from eduketen.core.db import utcnow
from eduketen.core.identifiers import edu_id_problem
from eduketen.core.inbox import InboxUnavailable, new_message_id
from eduketen.core.lane import Lane
from eduketen.core.logging import current_request_id
from eduketen.core.platform import Platform, today_nl
from eduketen.doorstroomtoets import repository, service
from eduketen.doorstroomtoets.schemas import (
    SERVICE,
    SpecVersion,
    WindowIn,
    body_schema,
    fast_decoder,
    versions,
)
from eduketen.doorstroomtoets.service import content_fine, content_problems
from eduketen.register.sources import RegisterUnavailable


def _json(status: int, body: dict) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _json_answer(status: int, body: dict) -> tuple[int, bytes]:
    return status, orjson.dumps(body)


_PLAIN: dict[tuple[str, str, int], bytes] = {}


def _plain_answer(spec: SpecVersion, path: str, status: int) -> bytes:
    """``{"melding": ...}`` with the spec's text for the status, made once per version, path and status."""
    key = (spec.key, path, status)
    body = _PLAIN.get(key)
    if body is None:
        body = _PLAIN[key] = orjson.dumps({"melding": spec.melding(path, "post", status)})
    return body


@dataclass(frozen=True)
class Refusal:
    status: int
    toelichting: str
    fouten: list | None = None


def _identify(request: Request, platform: Platform):
    """The caller from its certificate and well-formed edu-to/edu-from, or why not (a Refusal)."""
    try:
        caller = caller_from_scope(request.scope, platform.trusted)
    except CertificateProblem as exc:
        return Refusal(401, f"Het clientcertificaat is niet bruikbaar: {exc}.")
    if caller is None:
        return Refusal(401, "Geen clientcertificaat ontvangen: de verzender is niet te identificeren (Edukoppeling).")
    request.scope.setdefault("state", {})["caller_oin"] = caller.oin
    params = _query(request.scope)
    edu_to, problem_to = _query_value(params, "edu-to")
    edu_from, problem_from = _query_value(params, "edu-from")
    fouten = [{"veld": n, "fout": p} for n, p in (("edu-to", problem_to), ("edu-from", problem_from)) if p]
    if fouten:
        return Refusal(422, "De parameters edu-to en edu-from moeten elk precies 20 cijfers of letters zijn.", fouten)
    return caller, edu_to, edu_from


def _register_down_answer(exc: Exception) -> tuple[int, bytes]:
    return _json_answer(
        503,
        {
            "melding": "Mandaat kan nu niet worden gecontroleerd; probeer het later opnieuw.",
            "toelichting": f"Het register (OSR) is niet bereikbaar en er is geen recent antwoord bewaard: {exc}.",
        },
    )


def _register_down(exc: Exception) -> Response:
    status, body = _register_down_answer(exc)
    return Response(body, status_code=status, media_type="application/json")


def _query(scope) -> dict[str, list[str]]:
    """The query string's parameters, read as Starlette's ``query_params`` reads them (``&``
    separates, blank values kept, ``+`` and %-escapes decoded as UTF-8), without its multidict:
    the edu-to and edu-from of every inbound POST."""
    found: dict[str, list[str]] = {}
    for part in scope["query_string"].decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        found.setdefault(name, []).append(value)
    return found


def _query_value(params: dict[str, list[str]], name: str) -> tuple[str | None, str | None]:
    values = params.get(name, ())
    if len(values) > 1:
        return None, f"{name} komt {len(values)} keer voor; verwacht precies 1 keer."
    value = values[0] if values else None
    return value, edu_id_problem(value, name)


@dataclass(frozen=True)
class Inbound:
    """One inbound operation: which parameter names the school, who may send, what is checked."""

    operation: str
    path: str
    component: str
    school_param: str  # the parameter holding the school OIN
    routing_param: str  # the parameter holding the routeringskenmerk of the school administration
    sender_kind: str  # the kind of system the caller must have a mandate for
    receiver_kind: str  # the kind of system this installation must have a mandate for
    window: str | None  # registratie | schooladvies | None
    role: str


INBOUND = {
    "registreren": Inbound("registreren", "/registreren", "Deelnemerslijst", "edu-to", "edu-from", "las", "toetssysteem", "registratie", "toetsaanbieder"),
    "registreren-schooladviezen": Inbound(
        "registreren-schooladviezen", "/registreren-schooladviezen", "Schooladviezenlijst", "edu-to", "edu-from", "las", "toetssysteem", "schooladvies", "toetsaanbieder"
    ),
    "leerlingresultaat": Inbound(
        "leerlingresultaat", "/leerlingresultaat", "Leerlingresultaat", "edu-from", "edu-to", "toetssysteem", "las", None, "las"
    ),
}  # fmt: skip

KIND_WORDS = {"las": "Het LAS", "toetssysteem": "Het toetssysteem"}


async def receive_message(request: Request, spec: SpecVersion, inbound: Inbound, raw: bytes | None = None) -> tuple[int, bytes]:
    """The answer (status, JSON body) to one inbound POST; ``raw`` is its body when already read
    (the express lane reads it), else it is read here."""
    platform: Platform = request.app.state.platform

    def answer(status: int, toelichting: str | None = None, fouten: list | None = None) -> tuple[int, bytes]:
        if not toelichting and not fouten:
            return status, _plain_answer(spec, inbound.path, status)
        body: dict = {"melding": spec.melding(inbound.path, "post", status)}
        if toelichting:
            body["toelichting"] = toelichting
        if fouten:
            body["fouten"] = fouten
        return status, orjson.dumps(body)

    # 1. who is calling, 2. edu-to / edu-from
    identified = _identify(request, platform)
    if isinstance(identified, Refusal):
        return answer(identified.status, identified.toelichting, identified.fouten)
    caller, edu_to, edu_from = identified
    school_oin = edu_to if inbound.school_param == "edu-to" else edu_from
    routing_id = edu_from if inbound.routing_param == "edu-from" else edu_to

    # 3. school known (the register may be this installation's own or a remote OSR)
    source = platform.register_source
    try:
        school = await source.school(school_oin)
    except RegisterUnavailable as exc:
        return _register_down_answer(exc)
    if school is None:
        return answer(405, f"Geen school met OIN {school_oin} ({inbound.school_param}) in het register van deze ontvanger.")
    routing = source.routing(routing_id)
    if inbound.role == "las" and routing is None:
        return answer(405, f"Routeringskenmerk {routing_id} ({inbound.routing_param}) is geen administratie van dit LAS.")

    # 4. mandates
    if routing is not None and routing[0] != school.id:
        return answer(401, f"Routeringskenmerk {routing_id} ({inbound.routing_param}) hoort niet bij de school {school_oin}.")
    if inbound.role == "toetsaanbieder" and routing is not None and routing[2] is not None and routing[2] != caller.oin:
        return answer(401, f"De administratie {routing_id} wordt gevoerd in het LAS van een andere leverancier.")
    day = today_nl()
    own = platform.settings.own_oin
    try:
        sender = await source.mandated(
            school, supplier_oin=caller.oin, kind=inbound.sender_kind, service=SERVICE, version=spec.version, namespace=spec.namespace, day=day
        )
        receiver = (
            await source.mandated(
                school, supplier_oin=own, kind=inbound.receiver_kind, service=SERVICE, version=spec.version, namespace=spec.namespace, day=day
            )
            if own
            else None
        )
    except RegisterUnavailable as exc:
        return _register_down_answer(exc)
    if not sender.allowed:
        return answer(
            401,
            f"{KIND_WORDS[inbound.sender_kind]} van de verzender (OIN {caller.oin}) heeft vandaag geen geldig mandaat van deze school "
            f"voor de dienst {SERVICE} {spec.version}.",
        )
    if receiver is None or not receiver.allowed:
        return answer(
            401,
            f"{KIND_WORDS[inbound.receiver_kind]} van deze ontvanger heeft vandaag geen geldig mandaat van deze school "
            f"voor de dienst {SERVICE} {spec.version}.",
        )
    # regie op gegevens: the school may switch this flow off (a revoked consent relation)
    if platform.views["doorstroomtoets_off"].is_off(school.oin, caller.oin, own):
        return _json_answer(
            403,
            {
                "melding": _melding(spec, inbound.path, 403),
                "toelichting": "De school heeft deze gegevensstroom (Doorstroomtoets PO) tussen uw systeem en dit systeem "
                "uitgezet (regie op gegevens); vraag de school om hem weer aan te zetten.",
            },
        )

    # 5. well formed
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return answer(422, f"Content-Type moet application/json zijn, niet {content_type or '(leeg)'!r}.")
    if raw is None:
        raw = await request.body()
    accepted = _accept_fast(spec, inbound, raw, school) or _accept_full(spec, inbound, raw, school)
    if isinstance(accepted, Refusal):
        return answer(accepted.status, accepted.toelichting, accepted.fouten)
    schooljaar, canonical, items = accepted

    # 6. window
    if inbound.window is not None:
        window = platform.windows.window(schooljaar, inbound.window)
        if window is None or not (window[0] <= day <= window[1]):
            reason = (
                f"voor schooljaar {schooljaar} is geen periode ingesteld"
                if window is None
                else f"de periode voor schooljaar {schooljaar} loopt van {window[0]} tot en met {window[1]}"
            )
            return answer(403, f"Aanlevering is nu niet mogelijk: {reason}.")

    # 7. stored durably, then 202
    # the idempotency key is the SHA-256 of this, computed by the inbox writer thread
    material = b"|".join((inbound.operation.encode(), spec.key.encode(), edu_to.encode(), edu_from.encode(), canonical))
    now = utcnow()
    row = {
        "id": new_message_id(),
        "service": SERVICE,
        "version": spec.version,
        "operation": f"{SERVICE}.{inbound.operation}",
        "school_oin": school_oin,
        "routing": routing_id,
        "sender_oin": caller.oin,
        "schooljaar": schooljaar,
        "idempotency_material": material,
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
        return _json_answer(503, {"melding": "Bericht niet opgeslagen; probeer het later opnieuw.", "toelichting": "De opslag is tijdelijk niet bereikbaar."})
    return answer(202)


def _accept_full(spec: SpecVersion, inbound: Inbound, raw: bytes, school) -> tuple[str, bytes, list] | Refusal:
    """The body checked the full way: JSON (orjson), the version's schema naming every offending
    field, the spec's rules (``content_problems``); its school year, canonical form (what the
    spec defines, keys sorted) and items, or the 422 that says what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Refusal(422, f"Het bericht is geen geldige JSON (positie {exc.pos}).")
    if not isinstance(body, dict):
        return Refusal(422, "Het bericht moet een JSON-object zijn.")
    fouten, kept = body_schema(spec.key, inbound.component).check(body)
    if fouten:
        return Refusal(422, f"Het bericht voldoet niet aan {inbound.component} van versie {spec.version}.", fouten)
    fouten = content_problems(spec, inbound.operation, body, school, raw)
    if fouten:
        return Refusal(422, f"Het bericht voldoet niet aan de regels van {inbound.component}.", fouten)
    items = body.get("deelnemers") or body.get("voorlopigSchooladviezen") or [1]
    return body["schooljaar"], orjson.dumps(kept, option=orjson.OPT_SORT_KEYS), items


_FAST_ITEMS = {"registreren": "deelnemers", "registreren-schooladviezen": "voorlopigSchooladviezen"}


def _accept_fast(spec: SpecVersion, inbound: Inbound, raw: bytes, school) -> tuple[str, bytes, list] | None:
    """The usual pupil or advice list in one pass (msgspec, ``schemas.fast_decoder``): its school
    year, canonical form and items when it is certainly fine, else None and the caller takes the
    full way (orjson, the JSON Schema, ``content_problems``), which answers as it always did. The
    fast decoder accepts a subset of what the schema accepts and only bodies without fields beyond
    the spec, so what it decodes is what the full way would keep, and its canonical form is the
    same bytes (``core/fastjson.canonical``): the same message has the same idempotency key
    whichever way it came in."""
    items_field = _FAST_ITEMS.get(inbound.operation)
    if items_field is None or b"\\u0000" in raw:  # an escaped NUL: content_problems names the field
        return None
    decoder = fast_decoder(spec.key, inbound.component)
    if decoder is None:
        return None
    try:
        message = decoder.decode(raw)
    except Exception:  # noqa: BLE001 - anything the fast path does not take goes the full way
        return None
    if not content_fine(spec, inbound.operation, message, school):
        return None
    return message.schooljaar, fastjson.canonical(message), getattr(message, items_field)


def _melding(spec: SpecVersion, path: str, status: int, method: str = "post") -> str:
    """The spec's text for a status; for a status the file does not list on this path, the text
    it gives that status on POST /registreren."""
    responses = spec.document["paths"][path][method]["responses"]
    return spec.melding(path, method, status) if str(status) in responses else spec.melding("/registreren", "post", status)


REPORT_PATH = "/leerlingrapport/{rapportid}"


async def serve_report(request: Request, spec: SpecVersion, rapportid: str) -> Response:
    """``GET /leerlingrapport/{rapportid}``: 200 with the PDF, 204 while it is not yet made, 404
    when unknown; only to the LAS that the pupil's school mandated. The official file documents
    no 401 for this call; a caller without certificate or mandate gets one anyway (README)."""
    platform: Platform = request.app.state.platform

    def answer(status: int, toelichting: str | None = None) -> Response:
        if status == 204:  # HTTP forbids a body on 204, whatever the official file shows
            return Response(status_code=204)
        melding = _melding(spec, REPORT_PATH, status, "get")
        body = {"melding": melding}
        if toelichting:
            body["toelichting"] = toelichting
        return _json(status, body)

    identified = _identify(request, platform)
    if isinstance(identified, Refusal):
        if identified.status == 401:
            return answer(401, identified.toelichting)
        return _json(422, {"melding": "Verzoek heeft ongeldige parameters.", "fouten": identified.fouten})
    caller, edu_to, _edu_from = identified
    source = platform.register_source
    try:
        school = await source.school(edu_to)
    except RegisterUnavailable as exc:
        return _register_down(exc)
    # The report and its PDF in one read. On SQLite it is a read of a local file that never
    # waits for a lock (WAL readers do not), ~0.1 ms: done here, as a thread-pool hop cost more
    # CPU than the read (the hop, and with 16 LAS fetches at once the pool's connections beyond
    # its 5 opened and closed again for each). On PostgreSQL it is a round trip: in the pool.
    engine = platform.read_sessions.kw["bind"]
    if engine.dialect.name == "sqlite":
        lookup = service.report_lookup(engine, rapportid)
    else:
        lookup = await run_in_threadpool(service.report_lookup, engine, rapportid)
    found, pdf = lookup if lookup is not None else (None, None)
    if found is None or school is None or found.school_id != school.id:
        return answer(404, "Geen leerlingrapport met dit id voor deze school.")
    try:
        decision = await source.mandated(
            school, supplier_oin=caller.oin, kind="las", service=SERVICE, version=spec.version, namespace=spec.namespace, day=today_nl()
        )
    except RegisterUnavailable as exc:
        return _register_down(exc)
    if not decision.allowed:
        return answer(401, f"Het LAS van de vrager (OIN {caller.oin}) heeft vandaag geen geldig mandaat van deze school.")
    if pdf is None:
        return answer(204)
    try:
        await platform.audit.append(  # audited (and committed) before the data leaves
            actor=f"oin:{caller.oin}",
            action="read",
            subject_type="leerlingrapport",
            subject_ids=[str(found.pupil_id)],
            purpose="LAS haalt leerlingrapport op (GET /leerlingrapport)",
        )
    except InboxUnavailable:
        return _json(503, {"melding": "Leerlingrapport nu niet beschikbaar; probeer het later opnieuw."})
    return Response(pdf, status_code=200, media_type="application/pdf")


def _report_endpoint(spec: SpecVersion):
    async def endpoint(request: Request, rapportid: str) -> Response:
        return await serve_report(request, spec, rapportid)

    return endpoint


def _lane_report_handler(spec: SpecVersion):
    async def handler(request: Request, _body: bytes) -> Response:
        return await serve_report(request, spec, request.path_params["rapportid"])

    return handler


def build_router(spec: SpecVersion, roles: list[str]) -> APIRouter:
    router = APIRouter(prefix=spec.base_path, include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi_document() -> Response:
        return _json(200, spec.document)

    for inbound in INBOUND.values():
        if inbound.role in roles and spec.has(inbound.path):
            router.add_api_route(inbound.path, _endpoint(spec, inbound), methods=["POST"], name=f"{spec.key}:{inbound.operation}")
    if "toetsaanbieder" in roles:
        router.add_api_route(REPORT_PATH, _report_endpoint(spec), methods=["GET"], name=f"{spec.key}:leerlingrapport")
    return router


def _endpoint(spec: SpecVersion, inbound: Inbound):
    async def endpoint(request: Request) -> Response:
        status, body = await receive_message(request, spec, inbound)
        return Response(body, status_code=status, media_type="application/json")

    return endpoint


def add_to_lane(lane: Lane, roles: list[str]) -> None:
    """The inbound POSTs of every version take the express lane (core/lane.py): they are the
    busiest requests of a season (a whole region's LAS systems posting their lists in the same
    days) and need nothing of the router (no dependencies); so does ``GET
    /leerlingrapport/{rapportid}`` (every LAS fetching every pupil's report). The routers keep
    the same routes, for every other method (405) and for the route listing."""
    if not {"toetsaanbieder", "las"} & set(roles):
        return
    for spec in versions().values():
        for inbound in INBOUND.values():
            if inbound.role in roles and spec.has(inbound.path):
                lane.add(spec.base_path + inbound.path, _lane_handler(spec, inbound))
        if "toetsaanbieder" in roles:
            lane.add_get(spec.base_path + REPORT_PATH, _lane_report_handler(spec))


def _lane_handler(spec: SpecVersion, inbound: Inbound):
    async def handler(request: Request, body: bytes) -> tuple[int, bytes]:
        return await receive_message(request, spec, inbound, body)

    return handler


def routers(roles: list[str]) -> list[APIRouter]:
    if not {"toetsaanbieder", "las"} & set(roles):
        return []
    return [build_router(spec, roles) for spec in versions().values()]


# -- staff and admin ---------------------------------------------------------------------------

admin_router = APIRouter(prefix="/admin/doorstroomtoets", tags=["admin: doorstroomtoets"])


@admin_router.put("/vensters")
def set_window(body: WindowIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        w = service.set_window(session, schooljaar=body.schooljaar, soort=body.soort, opens=body.opens, closes=body.closes)
        return {"schooljaar": w.schooljaar, "soort": w.soort, "opens": w.opens.isoformat(), "closes": w.closes.isoformat()}


@admin_router.get("/vensters")
def list_windows(platform: AdminPlatform) -> dict:
    with platform.read_sessions() as session:
        return {
            "vensters": [
                {"schooljaar": w.schooljaar, "soort": w.soort, "opens": w.opens.isoformat(), "closes": w.closes.isoformat()}
                for w in repository.vensters(session)
            ]
        }


@admin_router.get("/overzicht")
def overview(platform: AdminPlatform, schooljaar: str | None = None, school: str | None = None) -> dict:
    """The staff view: per school and school year, counts and the last message. No pupil data."""
    with platform.read_sessions() as session:
        return {"scholen": repository.overview(session, schooljaar=schooljaar, school_oin=school)}
