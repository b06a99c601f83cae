"""Deliberately broken variants of eduketen, each a realistic bug, built as small ASGI wrappers
around the real app or as overrides of one function in the test process (never edits of the
production code). Each names the scenario that must catch it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest

from eduketen.doorstroomtoets import api as dt_api
from eduketen.doorstroomtoets import schemas as dt_schemas
from eduketen.register import repository as register_repo
from eduketen.register import service as register_service


# -- ASGI helpers ----------------------------------------------------------------------------------------


async def read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def respond(send, status: int, body: bytes, content_type: str = "application/json") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def rewriting(app, rewrite: Callable[[int, bytes], tuple[int, bytes]]):
    """The real app, with its (status, body) rewritten before it leaves."""

    async def wrapped(scope, receive, send):
        captured: dict = {"body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["start"] = message
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
                if not message.get("more_body"):
                    status, body = rewrite(captured["start"]["status"], captured["body"])
                    headers = [(k, v) for k, v in captured["start"].get("headers", []) if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(body)).encode()))
                    await send({**captured["start"], "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return wrapped


def query(scope) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)


@dataclass
class Variant:
    name: str
    bug: str  # what is wrong, in a sentence
    catcher: str  # the scenario that must catch it
    install: Callable  # (installation, app, monkeypatch) -> the ASGI app to serve (or None: the real app, patched)
    version: str = "1.1.0"
    role: str = "toetsaanbieder"
    service: str = "doorstroomtoets"


# -- toetsaanbieder variants ---------------------------------------------------------------------------------


def unknown_pupil_404(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["method"] == "POST" and scope["path"].endswith("/registreren-schooladviezen"):
            body = await read_body(receive)
            params = dict(query(scope))
            try:
                entries = orjson.loads(body)["voorlopigSchooladviezen"]
                with inst.platform.sessions() as session:
                    school = register_repo.school_by_oin(session, params.get("edu-to", ""))
                    refs = [dt_api.service.refs_of(e["deelnemerref"]) for e in entries]
                    found = register_service.find_pupils(session, school.id, refs) if school else []
                if school is not None and any(p is None for p in found):
                    return await respond(send, 404, orjson.dumps({"melding": "Leerling niet bekend bij de toetsaanbieder."}))
            except (ValueError, KeyError, TypeError):
                pass
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def _lenient_validator(mp, keep: Callable[[dict], bool]) -> None:
    """The body validator drops the errors ``keep`` rejects; what is left over is pruned and stored."""
    real = dt_schemas.BodySchema.check

    def check(self, body):
        errors, kept = real(self, body)
        errors = [e for e in errors if keep(e)]
        return errors, (kept if kept is not None or errors else dt_schemas.prune(body, self.shape))

    mp.setattr(dt_schemas.BodySchema, "check", check)


def required_optional(inst, app, mp):
    _lenient_validator(mp, lambda e: e["fout"] != "verplicht veld ontbreekt")
    return None


def enum_unchecked(inst, app, mp):
    _lenient_validator(mp, lambda e: "is not one of" not in e["fout"])
    return None


def broken_json_500(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["method"] in ("POST", "PUT") and not scope["path"].startswith("/oauth/"):
            body = await read_body(receive)
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError:
                return await respond(send, 500, b"Internal Server Error", "text/plain")
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def mandate_ignored(inst, app, mp):
    """Takes the sender from the administration named in edu-from instead of the certificate: any
    certificate of the CA may send on behalf of any school."""
    by_routing = {}
    for school in inst.region.schools:
        cert_path, _ = inst.certs[school.las.oin]
        by_routing[school.routing] = cert_path.read_text()

    async def wrapped(scope, receive, send):
        routing = dict(query(scope)).get("edu-from")
        chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
        if chain and routing in by_routing:
            scope = {**scope, "extensions": {**scope["extensions"], "tls": {"client_cert_chain": [by_routing[routing]], "tls_version": None}}}
        return await app(scope, receive, send)

    return wrapped


def wrong_melding(inst, app, mp):
    def rewrite(status, body):
        if 400 <= status < 500:
            try:
                doc = orjson.loads(body)
                if isinstance(doc, dict) and "melding" in doc:
                    doc["melding"] = "Bericht afgekeurd."
                    return status, orjson.dumps(doc)
            except orjson.JSONDecodeError:
                pass
        return status, body

    return rewriting(app, rewrite)


def stores_geslacht(inst, app, mp):
    real = dt_schemas.BodySchema.check

    def check(self, body):  # forgot to drop what the version does not define
        errors, _kept = real(self, body)
        return errors, (None if errors else body)

    mp.setattr(dt_schemas.BodySchema, "check", check)
    return None


def loses_corrected_list(inst, app, mp):
    """A replay cache keyed on the school and the operation, not on the content: a corrected list
    sent after a first one is answered 202 and dropped."""
    seen: set = set()

    async def wrapped(scope, receive, send):
        if scope["method"] == "POST" and scope["path"].endswith("/registreren"):
            params = dict(query(scope))
            key = (scope["path"], params.get("edu-to"), params.get("edu-from"))
            body = await read_body(receive)
            if key in seen and b'"deelnemers"' in body:
                return await respond(send, 202, orjson.dumps({"melding": "Bericht succesvol ontvangen en wordt asynchroon verwerkt."}))
            ok = {"status": 0}

            async def note(message):
                if message["type"] == "http.response.start":
                    ok["status"] = message["status"]
                await send(message)

            await app(scope, replay(body), note)
            if ok["status"] == 202:
                seen.add(key)
            return
        return await app(scope, receive, send)

    return wrapped


def duplicate_409(inst, app, mp):
    seen: set = set()

    async def wrapped(scope, receive, send):
        if scope["method"] == "POST":
            body = await read_body(receive)
            key = (scope["path"], scope.get("query_string"), body)
            if key in seen:
                return await respond(send, 409, orjson.dumps({"melding": "Dit bericht is al ontvangen."}))
            seen.add(key)
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def proxy_html_413(inst, app, mp):
    """A proxy in front with a 1 MB limit and its default HTML error page."""

    async def wrapped(scope, receive, send):
        length = dict(scope["headers"]).get(b"content-length")
        if length and int(length) > 1_000_000:
            return await respond(send, 413, b"<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>", "text/html")
        return await app(scope, receive, send)

    return wrapped


def content_type_ignored(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["path"].startswith("/oauth/"):  # the token endpoint takes a form
            return await app(scope, receive, send)
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"] + [(b"content-type", b"application/json")]
        return await app({**scope, "headers": headers}, receive, send)

    return wrapped


def lenient_identifiers(inst, app, mp):
    """Reads edu-to/edu-from as 'the first 20 characters', as the unanchored official pattern allows."""

    async def wrapped(scope, receive, send):
        params = [(k, v[:20] if k in ("edu-to", "edu-from") else v) for k, v in query(scope)]
        return await app({**scope, "query_string": urlencode(params).encode()}, receive, send)

    return wrapped


def unknown_school_404(inst, app, mp):
    return rewriting(app, lambda status, body: (404, body) if status == 405 else (status, body))


def window_ignored(inst, app, mp):
    mp.setattr(inst.platform.windows, "window", lambda schooljaar, soort: (date(2000, 1, 1), date(2100, 1, 1)))
    return None


def latin1_names(inst, app, mp):
    """Stores names in a Latin-1 column and refuses what does not fit (Ĳ, Ł, ő, ...)."""

    async def wrapped(scope, receive, send):
        if scope["method"] == "POST" and scope["path"].endswith("/registreren"):
            body = await read_body(receive)
            try:
                for pupil in orjson.loads(body).get("deelnemers", []):
                    for name in ("achternaam", "roepnaam", "voorvoegsel"):
                        (pupil.get(name) or "").encode("latin-1")
            except UnicodeEncodeError:
                return await respond(send, 422, orjson.dumps({"melding": "Bericht ontvangen maar heeft ongeldige berichtinhoud.", "toelichting": "ongeldig teken in naam"}))
            except (ValueError, AttributeError, TypeError):
                pass
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def batch_limit_250(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["method"] == "POST" and scope["path"].endswith("/registreren"):
            body = await read_body(receive)
            try:
                too_many = len(orjson.loads(body).get("deelnemers", [])) > 250
            except (ValueError, AttributeError, TypeError):
                too_many = False
            if too_many:
                return await respond(send, 422, orjson.dumps({"melding": "Bericht ontvangen maar heeft ongeldige berichtinhoud.", "toelichting": "maximaal 250 deelnemers per bericht"}))
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def geslacht_still_required(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["method"] == "POST" and scope["path"].endswith("/2026-2027/registreren"):
            body = await read_body(receive)
            try:
                missing = any("geslacht" not in p["extensie"] for p in orjson.loads(body)["deelnemers"])
            except (ValueError, KeyError, TypeError):
                missing = False
            if missing:
                return await respond(send, 422, orjson.dumps({"melding": "Bericht ontvangen maar heeft ongeldige berichtinhoud.", "fouten": [{"veld": "geslacht", "fout": "verplicht"}]}))
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


TOETSAANBIEDER_VARIANTS = [
    Variant("unknown-pupil-404", "answers 404 to advice naming a pupil it never received", "onbekende-leerling-advies", unknown_pupil_404),
    Variant("required-field-optional", "its validator treats required fields as optional", "verplicht-veld-ontbreekt", required_optional),
    Variant("enum-unchecked", "its validator does not check enumerations", "enum-fout", enum_unchecked),
    Variant("broken-json-500", "answers 500 to a body that is not JSON", "json-kapot", broken_json_500),
    Variant("mandate-ignored", "takes the sender from edu-from, not from the certificate: no mandate check", "afzender-zonder-mandaat", mandate_ignored),
    Variant("wrong-melding", "answers refusals with its own melding text instead of the specification's", "json-kapot", wrong_melding),
    Variant("stores-geslacht", "keeps every field it receives, so geslacht is stored in 2026-2027", "geslacht-niet-bewaard", stores_geslacht, version="2026-2027"),
    Variant("loses-corrected-list", "a replay cache keyed on the school, not the content: a second, corrected list is dropped", "dubbel-bericht", loses_corrected_list),
    Variant("duplicate-409", "answers 409 to the same message twice", "dubbel-bericht", duplicate_409),
    Variant("proxy-html-413", "a proxy refuses large bodies with an HTML page, no melding", "te-groot-bericht", proxy_html_413),
    Variant("content-type-ignored", "parses any body as JSON whatever its Content-Type", "content-type-fout", content_type_ignored),
    Variant("lenient-identifiers", "reads the first 20 characters of edu-to/edu-from", "identificatie-patroon", lenient_identifiers),
    Variant("unknown-school-404", "answers 404 instead of 405 for an unknown school", "school-onbekend", unknown_school_404),
    Variant("window-ignored", "never checks the registration window", "buiten-venster", window_ignored),
    Variant("latin1-names", "keeps names in Latin-1 and refuses Ĳ, Ł, ő and the like", "nen1888-namen", latin1_names),
    Variant("batch-limit-250", "refuses lists of more than 250 pupils", "grote-school", batch_limit_250),
    Variant("geslacht-still-required", "still requires geslacht in 2026-2027", "geslacht", geslacht_still_required, version="2026-2027"),
]


# -- LAS variants ---------------------------------------------------------------------------------------------


def las_unknown_routing_404(inst, app, mp):
    return rewriting(app, lambda status, body: (404, body) if status == 405 else (status, body))


def las_mandate_ignored(inst, app, mp):
    source = inst.platform.register_source
    real = source.mandated

    async def mandated(school, *, supplier_oin, kind, **kw):
        decision = await real(school, supplier_oin=supplier_oin, kind=kind, **kw)
        if kind == "toetssysteem" and not decision.allowed:  # only checks its own (receiver) mandate
            return type(decision)(True, decision.source)
        return decision

    mp.setattr(source, "mandated", mandated)
    return None


def las_gives_up_after_204(inst, app, mp):
    from eduketen.core.outbox import Verdict

    handlers = inst.platform.outbox._handlers
    real = handlers["las.rapport"]

    def on_report(session, message, response):
        if response.status == 204:
            return Verdict("done")  # "no report": never asks again
        return real(session, message, response)

    mp.setitem(handlers, "las.rapport", on_report)
    return None


def las_broken_json_500(inst, app, mp):
    return broken_json_500(inst, app, mp)


LAS_VARIANTS = [
    Variant("las-unknown-routing-404", "answers 404 instead of 405 for an administration it does not keep", "resultaat-school-onbekend", las_unknown_routing_404, role="las"),
    Variant("las-mandate-ignored", "accepts results from a test supplier the school did not mandate", "resultaat-zonder-mandaat", las_mandate_ignored, role="las"),
    Variant("las-gives-up-after-204", "takes 204 (report not ready) as final and never fetches the report", "rapport-ophalen", las_gives_up_after_204, role="las"),
    Variant("las-broken-json-500", "answers 500 to a result that is not JSON", "resultaat-ongeldig", las_broken_json_500, role="las"),
]


# -- Edu-V variants: the Results API and the Progress API (eduketen as the receiver) ----------------------


def without_header(app, name: bytes):
    """The real app, with one response header dropped (a proxy or a framework default that eats it)."""

    async def wrapped(scope, receive, send):
        async def strip(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(k, v) for k, v in message.get("headers", []) if k.lower() != name]}
            await send(message)

        await app(scope, receive, strip)

    return wrapped


def rewriting_json_body(app, methods: tuple[str, ...], prefix: str, change: Callable[[dict], None]):
    """The real app, with the JSON request body changed before it is read (unreadable bodies pass as they are)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["method"] in methods and scope["path"].startswith(prefix):
            body = await read_body(receive)
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                change(doc)
                body = orjson.dumps(doc)
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"] + [(b"content-length", str(len(body)).encode())]
                scope = {**scope, "headers": headers}
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def results_required_optional(inst, app, mp):
    """Its schema has defaults for assessmentDateTime and the definition's name."""

    def fill(doc):
        assessment = doc.get("assessment")
        if isinstance(assessment, dict):
            assessment.setdefault("assessmentDateTime", "2026-01-01T00:00:00Z")
            definition = assessment.get("assessmentDefinition")
            if isinstance(definition, dict):
                definition.setdefault("name", definition.get("id", "onbekend"))

    return rewriting_json_body(app, ("POST",), "/toetsresultaten/", fill)


def results_scale_unchecked(inst, app, mp):
    from eduketen.toetsresultaten import service as results_service

    mp.setattr(results_service, "value_problem", lambda scale, value: None)


def scope_ignored(inst, app, mp):
    """Any token of the authorization server will do, whatever its scope."""
    import dataclasses

    from eduketen.core.oauth import service as oauth

    real = oauth.principal_for
    mp.setattr(oauth, "principal_for", lambda session, claims: dataclasses.replace(real(session, claims), scopes=frozenset(oauth.SCOPES)))


def consent_ignored(inst, app, mp):
    from eduketen.register import consent

    mp.setattr(consent, "require_consent", lambda session, **kw: None)
    mp.setattr(consent, "require_consents", lambda session, school_ids, **kw: [])  # the bulk path's check of many schools


def results_first_write_wins(inst, app, mp):
    """Stores a student's first result and answers later ones as 'updated' without storing them."""
    from eduketen.toetsresultaten import repository as results_repo
    from eduketen.toetsresultaten import service as results_service

    real = results_service.store

    def store(session, bundle, *, school_id, source_system_id, api_version):
        row = results_repo.assessment(session, school_id, source_system_id, bundle.assessment.id)
        if row is not None:
            existing = {(r.student_key_type, r.student_key) for r in results_repo.student_rows(session, row.id)}
            fresh = [s for s in bundle.students if results_service.student_key(s.student) not in existing]
            if not fresh:
                return results_service.Stored(row.id, 0, len(bundle.students))
            bundle = bundle.model_copy(update={"students": fresh})
        return real(session, bundle, school_id=school_id, source_system_id=source_system_id, api_version=api_version)

    mp.setattr(results_service, "store", store)


def results_repeat_new_revision(inst, app, mp):
    """Stamps each stored document with the time it came in, so every repeat looks changed."""
    import time

    from eduketen.toetsresultaten import service as results_service

    real = results_service._dumps
    mp.setattr(results_service, "_dumps", lambda obj: real({**obj, "receivedAt": time.time()}) if isinstance(obj, dict) else real(obj))


def any_major_version(inst, app, mp):
    """Routes /toetsresultaten/<anything>/ to the current major."""
    import re

    pattern = re.compile(r"^/toetsresultaten/v\d+/")

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and pattern.match(scope["path"]):
            path = pattern.sub("/toetsresultaten/v1/", scope["path"])
            scope = {**scope, "path": path, "raw_path": path.encode()}
        return await app(scope, receive, send)

    return wrapped


def signature_unchecked(inst, app, mp):
    """Reads the access token's claims without verifying its signature."""
    from eduketen.core.oauth import service as oauth

    mp.setattr(oauth, "_verify_signature", lambda token, keys, kid, algorithms: oauth._unverified(token)[1])


def expiry_unchecked(inst, app, mp):
    from eduketen.core.oauth import service as oauth

    mp.setattr(oauth, "_check_times", lambda claims, *, now, leeway, max_seconds: float(claims.get("exp") or now + 60))


def progress_older_overwrites(inst, app, mp):
    from eduketen.leervoortgang import repository as progress_repo

    mp.setattr(progress_repo, "_UPSERT_KEY", progress_repo._UPSERT_KEY.replace("progress_key.state_at < excluded.state_at AND ", ""))


def progress_repeat_applies(inst, app, mp):
    from eduketen.leervoortgang import repository as progress_repo

    mp.setattr(progress_repo, "_UPSERT_KEY", progress_repo._UPSERT_KEY.replace("progress_key.state_at < excluded", "progress_key.state_at <= excluded"))


def progress_path_id_wins(inst, app, mp):
    return rewriting_json_body(app, ("PUT",), "/leervoortgang/", lambda doc: doc.pop("id", None))


def progress_status_lenient(inst, app, mp):
    """Reads the status case-insensitively and takes anything it does not know for 'started'."""

    def lenient(doc):
        status = doc.get("status")
        if isinstance(status, str):
            status = status.lower()
            doc["status"] = status if status in ("not-started", "started", "completed", "abandoned") else "started"

    return rewriting_json_body(app, ("PUT",), "/leervoortgang/", lenient)


def progress_bulk_limit_1000(inst, app, mp):
    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/leervoortgang/v1/progress":
            body = await read_body(receive)
            try:
                too_many = len(orjson.loads(body).get("records", [])) > 1000
            except (ValueError, AttributeError, TypeError):
                too_many = False
            if too_many:
                return await respond(send, 413, orjson.dumps({"status": 413, "title": "Too many records", "detail": "at most 1000 records per request"}))
            return await app(scope, replay(body), send)
        return await app(scope, receive, send)

    return wrapped


def results_enum_case_insensitive(inst, app, mp):
    """Reads idType and scale types whatever their case."""

    def fold(doc):
        school = doc.get("school")
        if isinstance(school, dict) and isinstance(school.get("idType"), str):
            school["idType"] = school["idType"].upper()
        for scale in doc.get("scoreScales") or []:
            if isinstance(scale, dict) and isinstance(scale.get("type"), str):
                scale["type"] = {t.lower(): t for t in ("numeric", "grade", "referenceLevel", "percentile", "passFail", "ordinal")}.get(
                    scale["type"].lower(), scale["type"])

    return rewriting_json_body(app, ("POST",), "/toetsresultaten/", fold)


def no_bearer_challenge(inst, app, mp):
    return without_header(app, b"www-authenticate")


def anonymous_as_default_client(inst, app, mp):
    """A development shortcut left on: a request without Authorization runs as the default client."""
    token = inst.signed_token("conformance-suite", "eduv.result eduv.progress", 3600)

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and not any(k == b"authorization" for k, _ in scope["headers"]):
            scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]}
        return await app(scope, receive, send)

    return wrapped


def _eduv(name, bug, catcher, install, service, version="1.0.0"):
    return Variant(name, bug, catcher, install, version=version, role="ontvanger", service=service)


R, P = "toetsresultaten", "leervoortgang"
EDUV_VARIANTS = [
    _eduv("results-required-optional", "fills in a missing assessmentDateTime and definition name instead of refusing", "results-missing-field", results_required_optional, R),
    _eduv("results-broken-json-500", "answers 500 to a body that is not JSON", "results-broken-json", broken_json_500, R),
    _eduv("results-scale-unchecked", "never checks a value against the kind of its scale", "results-scale-kind", results_scale_unchecked, R),
    _eduv("results-scope-ignored", "accepts any token of the authorization server, whatever its scope", "results-wrong-scope", scope_ignored, R),
    _eduv("results-consent-ignored", "never checks the school's consent", "results-no-consent", consent_ignored, R),
    _eduv("results-no-api-version", "answers without the API-Version header", "results-valid", lambda i, a, m: without_header(a, b"api-version"), R),
    _eduv("results-first-write-wins", "keeps a student's first result and drops later states", "results-update-latest", results_first_write_wins, R),
    _eduv("results-repeat-new-revision", "stamps each stored document with its arrival time: every repeat is a new revision", "results-duplicate", results_repeat_new_revision, R),
    _eduv("results-duplicate-409", "answers 409 to the same bundle twice", "results-duplicate", duplicate_409, R),
    _eduv("results-proxy-html-413", "a proxy refuses large bodies with an HTML page", "results-oversized", proxy_html_413, R),
    _eduv("results-content-type-ignored", "parses any body as JSON whatever its Content-Type", "results-content-type", content_type_ignored, R),
    _eduv("results-any-version", "serves the current major under any /vN/ path", "results-unknown-version", any_major_version, R),
    _eduv("results-enum-case-insensitive", "reads idType and scale types whatever their case", "results-enum", results_enum_case_insensitive, R),
    _eduv("results-no-challenge", "answers 401 without a WWW-Authenticate Bearer challenge", "results-no-token", no_bearer_challenge, R),
    _eduv("results-signature-unchecked", "reads the token's claims without verifying its signature", "results-bad-token", signature_unchecked, R),
    _eduv("results-expiry-unchecked", "never looks at the token's exp", "results-bad-token", expiry_unchecked, R),
    _eduv("results-v0-no-api-version", "the previous major (v0) answers without API-Version", "results-valid", lambda i, a, m: without_header(a, b"api-version"), R, "0.9.0"),
    _eduv("progress-older-overwrites", "an older state arriving late overwrites the newer one", "progress-out-of-order", progress_older_overwrites, P),
    _eduv("progress-repeat-applies", "an equal state is written again (not idempotent)", "progress-repeat", progress_repeat_applies, P),
    _eduv("progress-scope-ignored", "accepts any token of the authorization server, whatever its scope", "progress-wrong-scope", scope_ignored, P),
    _eduv("progress-consent-ignored", "never checks the school's consent", "progress-no-consent", consent_ignored, P),
    _eduv("progress-no-api-version", "answers without the API-Version header", "progress-valid", lambda i, a, m: without_header(a, b"api-version"), P),
    _eduv("progress-path-id-wins", "ignores the id in the body and stores under the path's id", "progress-id-mismatch", progress_path_id_wins, P),
    _eduv("progress-status-lenient", "takes an unknown or mis-cased status for 'started'", "progress-invalid", progress_status_lenient, P),
    _eduv("progress-bulk-limit-1000", "refuses bulk requests of more than 1000 records", "progress-bulk", progress_bulk_limit_1000, P),
    _eduv("progress-broken-json-500", "answers 500 to a body that is not JSON", "progress-broken-body", broken_json_500, P),
    _eduv("progress-anonymous-accepted", "a request without a token runs as a default client", "progress-no-token", anonymous_as_default_client, P),
    _eduv("progress-signature-unchecked", "reads the token's claims without verifying its signature", "progress-bad-token", signature_unchecked, P),
]  # fmt: skip


def activate(variant: Variant, inst, mp: pytest.MonkeyPatch) -> None:
    wrapped = variant.install(inst, inst.switch.app, mp)
    inst.switch.variant = wrapped
