"""The named scenarios of the Doorstroomtoets chain, per role of the implementation under test.

Toetsaanbieder role: the suite plays the school's LAS and sends ``Deelnemerslijst`` and
``Schooladviezenlijst``. LAS role: the suite plays the test supplier, sends ``Leerlingresultaat``
and, when it may listen, serves the pupil report the LAS must come and fetch.

Every refusal is checked for its status and the specification's own ``melding``, byte for byte.
Effects (how many pupils were registered, whether ``geslacht`` was stored) are checked only where
the implementation can be observed (an admin API); otherwise those checks are skipped."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

from eduketen.conformance import nen1888
from eduketen.conformance.observe import wait_until
from eduketen.conformance.runner import Context, scenario
from eduketen.conformance.target import unknown_school
from eduketen.simulate.region import ADVIEZEN, PupilSpec, SchoolSpec, SupplierSpec, deelnemerslijst, schooladviezenlijst
from eduketen.simulate.results import leerlingresultaat

TA = "toetsaanbieder"
LAS = "las"
REG = "/registreren"
ADV = "/registreren-schooladviezen"
RES = "/leerlingresultaat"
WITH_ADVICE = ("1.1.0", "2026-2027")
OVERSIZE_BYTES = 10_000_000  # a 300-pupil list is about 110 KB


# -- messages ------------------------------------------------------------------------------------------


def _school(ctx: Context) -> SchoolSpec:
    suite = SupplierSpec("eduketen conformance suite", "0" * 20, "LAS", "las")
    return SchoolSpec("Conformance", ctx.target.brin, ctx.target.routing, suite)


def make_pupils(ctx: Context, count: int, *, names: list[tuple[str, str]] | None = None) -> list[PupilSpec]:
    rng = random.Random(f"{ctx.tag}-{ctx._counter}")
    group = ctx.unique("grp")
    pupils = []
    for i in range(count):
        key = ctx.unique("ll")
        roepnaam, achternaam = names[i % len(names)] if names else (rng.choice(["Daan", "Mila", "Noë", "Çağan"]), rng.choice(["Jansen", "Bakker", "Yılmaz"]))
        eck = None
        if i % 3:
            eck = "https://ketenid.nl/201703/" + key.encode().hex().ljust(64, "0")
        pupils.append(
            PupilSpec(
                eck_id=eck,
                las_key=key,
                roepnaam=roepnaam,
                voorvoegsel="van 't" if i % 5 == 0 else "",
                achternaam=achternaam,
                voorletters="ĲÉ" if names else "AB",
                geboortedatum=(date(2014, 10, 1) + timedelta(days=rng.randrange(365))).isoformat(),
                geslacht=rng.choice([1, 2, 9]),
                groep=group,
                jaargroep="8",
                advies=rng.choice(ADVIEZEN),
            )
        )
    return pupils


def lijst(ctx: Context, pupils: list[PupilSpec]) -> dict:
    return deelnemerslijst(_school(ctx), ctx.spec.key, ctx.schooljaar, pupils)


def adviezen(ctx: Context, pupils: list[PupilSpec]) -> dict:
    return schooladviezenlijst(_school(ctx), ctx.spec.key, ctx.schooljaar, pupils)


def resultaat(ctx: Context, ref: tuple[str, str] | None = None, rapport_url: str | None = None) -> dict:
    label, ident = ref or ctx.target.pupil_ref or ("LAS-key", ctx.unique("ll"))
    url = rapport_url or f"https://toetsaanbieder.invalid/doorstroomtoets/{ctx.spec.key}/leerlingrapport/{ctx.unique('rapport')}"
    return leerlingresultaat(
        refs=[{"label": label, "onderwijsdeelnemerID": ident}], schooljaar=ctx.schooljaar, spec_key=ctx.spec.key, rapport_url=url, seed=ident
    )


# -- observation helpers ---------------------------------------------------------------------------------


def _counts(ctx: Context, *, settle: bool = False) -> dict | None:
    """The implementation's counts for the school and year; ``settle``: wait until they stop
    moving (messages of an earlier scenario still being processed), at most a few seconds."""
    if ctx.admin is None:
        return None
    read = lambda: ctx.admin.counts(ctx.target.school_oin, ctx.schooljaar)  # noqa: E731
    current = read()
    if settle:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = read()
            if again == current:
                break
            current = again
    return current


def _registered(ctx: Context, before: dict | None, expected: int, what: str, *, field: str = "leerlingen") -> dict | None:
    """Wait until ``expected`` more are counted than ``before``; check exactly that many."""
    if ctx.admin is None or before is None:
        return None
    done, after = wait_until(lambda: _counts(ctx), lambda c: c[field] - before[field] >= expected, ctx.target.timeout)
    delta = after[field] - before[field]
    ctx.check(what, done and delta == expected, f"expected {expected} more {field}, observed {delta} (waited up to {ctx.target.timeout:.0f}s)")
    return after


def _register_and_wait(ctx: Context, pupils: list[PupilSpec], what: str) -> bool:
    before = _counts(ctx, settle=True)
    ok = ctx.expect(ctx.post(REG, lijst(ctx, pupils)), 202, what, path=REG)
    if ok:
        _registered(ctx, before, len(pupils), f"{what}: all pupils registered")
    return ok


# -- toetsaanbieder role: valid messages ---------------------------------------------------------------


@scenario("deelnemerslijst-geldig", TA, "A valid Deelnemerslijst of 30 pupils is accepted (202, the spec's melding) and, where observable, registers 30 pupils.")
def valid_list(ctx: Context) -> None:
    before = _counts(ctx, settle=True)
    if ctx.expect(ctx.post(REG, lijst(ctx, make_pupils(ctx, 30))), 202, "valid Deelnemerslijst accepted", path=REG):
        _registered(ctx, before, 30, "30 pupils registered")


@scenario("schooladviezen-geldig", TA, "A valid Schooladviezenlijst for registered pupils is accepted (202) and, where observable, stores their advice.", versions=WITH_ADVICE)
def valid_advice(ctx: Context) -> None:
    pupils = make_pupils(ctx, 10)
    _register_and_wait(ctx, pupils, "pupils registered first")
    before = _counts(ctx, settle=True)
    if ctx.expect(ctx.post(ADV, adviezen(ctx, pupils)), 202, "valid Schooladviezenlijst accepted", path=ADV):
        _registered(ctx, before, 10, "10 advices stored", field="adviezen")


@scenario(
    "onbekende-leerling-advies",
    TA,
    "Advice naming pupils the test supplier never received is accepted with 202, never 404 or 422 (decision of 8 January 2026); known pupils' advice is stored.",
    versions=WITH_ADVICE,
)
def unknown_pupils(ctx: Context) -> None:
    known = make_pupils(ctx, 5)
    _register_and_wait(ctx, known, "known pupils registered first")
    strangers = make_pupils(ctx, 3)
    before = _counts(ctx, settle=True)
    answer = ctx.post(ADV, adviezen(ctx, known + strangers))
    if not ctx.expect(answer, 202, "advice with 3 unknown pupils accepted (202)", path=ADV):
        return
    after = _registered(ctx, before, 5, "advice of the 5 known pupils stored", field="adviezen")
    if after is not None:
        _registered(ctx, before, 3, "the 3 unknown pupils ignored (counted, not fed back)", field="onbekend")


@scenario("dubbel-bericht", TA, "The same Deelnemerslijst twice gets 202 both times and has one effect; a corrected list after it is not lost.")
def duplicate(ctx: Context) -> None:
    pupils = make_pupils(ctx, 8)
    body = lijst(ctx, pupils)
    before = _counts(ctx, settle=True)
    first = ctx.expect(ctx.post(REG, body), 202, "first delivery accepted", path=REG)
    ctx.expect(ctx.post(REG, body), 202, "identical second delivery accepted too", path=REG)
    after = _registered(ctx, before, 8, "one effect: 8 pupils, not 16") if first else None
    if after is not None:
        time.sleep(1.0)  # let a second processing, if any, show
        again = _counts(ctx)
        ctx.check("still one effect a moment later", again["leerlingen"] - before["leerlingen"] == 8, f"observed {again['leerlingen'] - before['leerlingen']} pupils")
    corrected = lijst(ctx, pupils + make_pupils(ctx, 1))
    ctx.expect(ctx.post(REG, corrected), 202, "corrected list (one pupil more) accepted", path=REG)
    if after is not None:
        _registered(ctx, before, 9, "the corrected list took effect (9 pupils)")


@scenario("grote-school", TA, "A school of 300 pupils in one Deelnemerslijst (about 110 KB) is accepted and, where observable, all 300 are registered.")
def large_school(ctx: Context) -> None:
    before = _counts(ctx, settle=True)
    if ctx.expect(ctx.post(REG, lijst(ctx, make_pupils(ctx, 300))), 202, "300-pupil list accepted", path=REG):
        _registered(ctx, before, 300, "300 pupils registered")


@scenario("nen1888-namen", TA, "Names using every character NEN 1888 allows (letters with diacritics, Ĳ, space, hyphen, apostrophe) are accepted and, where observable, registered.")
def nen1888_names(ctx: Context) -> None:
    pairs = nen1888.names()
    missing = set(nen1888.ALL) - nen1888.covered(pairs)
    assert not missing, missing
    pupils = make_pupils(ctx, len(pairs), names=pairs)
    before = _counts(ctx, settle=True)
    if ctx.expect(ctx.post(REG, lijst(ctx, pupils)), 202, f"{len(nen1888.ALL)} characters in {len(pairs)} names accepted", path=REG):
        _registered(ctx, before, len(pairs), "every pupil with such a name registered")


@scenario(
    "geslacht",
    TA,
    "geslacht is required up to 1.1.0 (a pupil without it: 422) and no longer exchanged from 2026-2027 (a list without it: 202).",
)
def gender_by_version(ctx: Context) -> None:
    body = lijst(ctx, make_pupils(ctx, 3))
    for pupil in body["deelnemers"]:
        pupil["extensie"].pop("geslacht", None)
    before = _counts(ctx, settle=True)
    answer = ctx.post(REG, body)
    if ctx.spec.exchanges_geslacht:
        ctx.expect(answer, 422, f"{ctx.target.version}: a pupil without geslacht is refused", path=REG)
    elif ctx.expect(answer, 202, f"{ctx.target.version}: a list without geslacht is accepted", path=REG):
        _registered(ctx, before, 3, "3 pupils registered")


@scenario(
    "geslacht-niet-bewaard",
    TA,
    "2026-2027: a LAS that still sends geslacht is accepted (202), and where observable the value is not stored.",
    versions=("2026-2027",),
)
def gender_not_stored(ctx: Context) -> None:
    pupils = make_pupils(ctx, 4)
    body = lijst(ctx, pupils)
    for pupil, spec in zip(body["deelnemers"], pupils, strict=True):
        pupil["extensie"]["geslacht"] = spec.geslacht
    before = _counts(ctx, settle=True)
    if not ctx.expect(ctx.post(REG, body), 202, "a list that still carries geslacht is accepted", path=REG):
        return
    after = _registered(ctx, before, 4, "4 pupils registered")
    if after is not None:
        if after.get("geslacht") is None:
            ctx.skip("the implementation does not report whether geslacht is stored")
        ctx.check("geslacht not stored", after["geslacht"] == (before.get("geslacht") or 0), f"pupils with geslacht stored: {before.get('geslacht')} -> {after['geslacht']}")


# -- toetsaanbieder role: refusals -------------------------------------------------------------------------


def _paths(ctx: Context) -> list[str]:
    return [p for p in (REG, ADV) if ctx.spec.has(p)]


def _body_for(ctx: Context, path: str) -> dict:
    pupils = make_pupils(ctx, 2)
    return lijst(ctx, pupils) if path == REG else adviezen(ctx, pupils)


@scenario("json-kapot", TA, "Broken JSON (a truncated message, a JSON array, an empty body) is refused with 422 and the spec's melding, never a 5xx.")
def broken_json(ctx: Context) -> None:
    for path in _paths(ctx):
        import orjson

        text = orjson.dumps(_body_for(ctx, path))
        for label, raw in (("truncated", text[: len(text) // 2]), ("a JSON array", b"[1, 2, 3]"), ("empty", b""), ("not JSON at all", b"deelnemers=1")):
            ctx.expect(ctx.post(path, raw=raw), 422, f"{path}: {label} body refused", path=path)


@scenario("content-type-fout", TA, "A valid message with Content-Type text/plain or application/xml, or none, is refused with 422 and the spec's melding.")
def wrong_content_type(ctx: Context) -> None:
    import orjson

    for path in _paths(ctx):
        raw = orjson.dumps(_body_for(ctx, path))
        for content_type in ("text/plain", "application/xml", None):
            ctx.expect(ctx.post(path, raw=raw, content_type=content_type), 422, f"{path}: Content-Type {content_type or '(none)'} refused", path=path)


@scenario("verplicht-veld-ontbreekt", TA, "A message missing a required field (a pupil's achternaam, deelnemersgroep, groepen, an advice) is refused with 422 and the spec's melding.")
def missing_required(ctx: Context) -> None:
    cases = []
    body = _body_for(ctx, REG)
    del body["deelnemers"][0]["achternaam"]
    cases.append((REG, "deelnemers/0/achternaam", body))
    body = _body_for(ctx, REG)
    del body["deelnemersgroep"]
    cases.append((REG, "deelnemersgroep", body))
    body = _body_for(ctx, REG)
    del body["groepen"]
    cases.append((REG, "groepen", body))
    body = _body_for(ctx, REG)
    del body["deelnemers"][1]["extensie"]["geboortedatum"]
    cases.append((REG, "deelnemers/1/extensie/geboortedatum", body))
    if ctx.spec.has(ADV):
        body = _body_for(ctx, ADV)
        del body["voorlopigSchooladviezen"][0]["advies"]
        cases.append((ADV, "voorlopigSchooladviezen/0/advies", body))
    for path, field, body in cases:
        ctx.expect(ctx.post(path, body), 422, f"{path}: without {field} refused", path=path)


@scenario("enum-fout", TA, "A value outside its enumeration (profiel, a pupil's jaargroep, geslacht where exchanged, an advice, an id label) is refused with 422.")
def wrong_enum(ctx: Context) -> None:
    cases = []
    body = _body_for(ctx, REG)
    body["profiel"] = "Toetsdeelnemerz"
    cases.append((REG, "profiel Toetsdeelnemerz", body))
    body = _body_for(ctx, REG)
    body["deelnemers"][0]["niveau"]["niveau"] = "9"
    cases.append((REG, "jaargroep 9", body))
    body = _body_for(ctx, REG)
    body["deelnemers"][0]["deelnemerref"][0]["label"] = "BSN"
    cases.append((REG, "identity label BSN", body))
    if ctx.spec.exchanges_geslacht:
        body = _body_for(ctx, REG)
        body["deelnemers"][0]["extensie"]["geslacht"] = 3
        cases.append((REG, "geslacht 3", body))
    if ctx.spec.has(ADV):
        body = _body_for(ctx, ADV)
        body["voorlopigSchooladviezen"][0]["advies"] = "GYMNASIUM"
        cases.append((ADV, "advies GYMNASIUM", body))
    for path, label, body in cases:
        ctx.expect(ctx.post(path, body), 422, f"{path}: {label} refused", path=path)


@scenario(
    "identificatie-patroon",
    TA,
    "edu-to/edu-from that are not exactly 20 letters or digits (19, 21, with a hyphen, missing, twice) are refused with 422.",
)
def wrong_identifiers(ctx: Context) -> None:
    t = ctx.target
    body = _body_for(ctx, REG)
    cases = [
        ("edu-to of 19 characters", [("edu-to", t.school_oin[:19]), ("edu-from", t.routing)]),
        ("edu-to of 21 characters", [("edu-to", t.school_oin + "0"), ("edu-from", t.routing)]),
        ("edu-to with a hyphen", [("edu-to", t.school_oin[:19] + "-"), ("edu-from", t.routing)]),
        ("edu-from of 21 characters", [("edu-to", t.school_oin), ("edu-from", t.routing + "0")]),
        ("edu-to missing", [("edu-from", t.routing)]),
        ("edu-from missing", [("edu-to", t.school_oin)]),
        ("edu-to twice", [("edu-to", t.school_oin), ("edu-to", unknown_school(t)), ("edu-from", t.routing)]),
    ]
    for label, params in cases:
        ctx.expect(ctx.post(REG, body, params=params), 422, f"{label} refused", path=REG)


@scenario("te-groot-bericht", TA, "A body of 10 MB (a real list is at most a few hundred KB) is refused with 413 and a JSON melding, not a 5xx.")
def oversized(ctx: Context) -> None:
    import orjson

    size = int(ctx.target.extra.get("oversize_bytes", OVERSIZE_BYTES))
    body = _body_for(ctx, REG)
    body["opmerking"] = "x" * size  # unknown fields are allowed by the schema: only the size is wrong
    ctx.expect(ctx.post(REG, raw=orjson.dumps(body)), 413, f"a {size // 1_000_000} MB Deelnemerslijst refused", path=REG)


@scenario("school-onbekend", TA, "A message for a well-formed school OIN the test supplier does not know is refused with 405 and the spec's melding.")
def unknown_school_405(ctx: Context) -> None:
    oin = unknown_school(ctx.target)
    for path in _paths(ctx):
        answer = ctx.post(path, _body_for(ctx, path), params=[("edu-to", oin), ("edu-from", ctx.target.routing)])
        ctx.expect(answer, 405, f"{path}: school {oin} unknown", path=path)


@scenario("afzender-zonder-mandaat", TA, "A sender with a valid certificate but no mandate from the school is refused with 401 and the spec's melding.")
def unauthorised_sender(ctx: Context) -> None:
    if ctx.target.other is None:
        ctx.skip("needs a second certificate without mandate (--other-cert, --other-key)")
    for path in _paths(ctx):
        ctx.expect(ctx.post(path, _body_for(ctx, path), identity="other"), 401, f"{path}: sender without mandate refused", path=path)


@scenario("zonder-certificaat", TA, "A caller without client certificate is refused: the TLS handshake fails, or the answer is 401 with the spec's melding.")
def no_certificate(ctx: Context) -> None:
    answer = ctx.post(REG, _body_for(ctx, REG), identity=None)
    if answer.error:
        ctx.check("no certificate: handshake refused", True, answer.error, answer)
    else:
        ctx.expect(answer, 401, "no certificate: 401", path=REG)


@scenario("buiten-venster", TA, "Outside the registration and advice windows a valid message is refused with 403 and the spec's melding (needs a way to close the window).")
def outside_window(ctx: Context) -> None:
    admin = ctx.need_admin("closing a window")
    saved = {(w["schooljaar"], w["soort"]): w for w in admin.windows()}
    kinds = [(REG, "registratie")] + ([(ADV, "schooladvies")] if ctx.spec.has(ADV) else [])
    for path, soort in kinds:
        old = saved.get((ctx.schooljaar, soort))
        if old is None:
            ctx.skip(f"no {soort} window set for {ctx.schooljaar}; cannot restore it afterwards")
        admin.set_window(ctx.schooljaar, soort, "2001-01-01", "2001-01-31")
        try:
            answer = ctx.post(path, _body_for(ctx, path))
            # a multi-process implementation may cache windows briefly
            deadline = time.monotonic() + float(ctx.target.extra.get("window_settle", 6))
            while answer.status == 202 and time.monotonic() < deadline:
                time.sleep(1)
                answer = ctx.post(path, _body_for(ctx, path))
            ctx.expect(answer, 403, f"{path}: window {soort} closed", path=path)
        finally:
            admin.set_window(ctx.schooljaar, soort, old["opens"], old["closes"])


# -- LAS role ----------------------------------------------------------------------------------------------------


def _unknown_routing(ctx: Context) -> str:
    return ctx.target.extra.get("unknown_routing") or "0000000700099ZZ00999"


@scenario("resultaat-geldig", LAS, "A valid Leerlingresultaat is accepted with 202 and the spec's melding.")
def result_valid(ctx: Context) -> None:
    ctx.expect(ctx.post(RES, resultaat(ctx)), 202, "valid Leerlingresultaat accepted", path=RES)


@scenario("resultaat-dubbel", LAS, "The same Leerlingresultaat twice is accepted twice (202): standlevering, a repeat is harmless.")
def result_twice(ctx: Context) -> None:
    body = resultaat(ctx)
    ctx.expect(ctx.post(RES, body), 202, "first delivery accepted", path=RES)
    ctx.expect(ctx.post(RES, body), 202, "identical second delivery accepted", path=RES)


@scenario("resultaat-ongeldig", LAS, "Broken JSON, a wrong Content-Type, a missing required field and a wrong enum value are each refused with 422 and the spec's melding.")
def result_invalid(ctx: Context) -> None:
    import orjson

    raw = orjson.dumps(resultaat(ctx))
    ctx.expect(ctx.post(RES, raw=raw[: len(raw) // 2]), 422, "truncated JSON refused", path=RES)
    ctx.expect(ctx.post(RES, raw=b""), 422, "empty body refused", path=RES)
    ctx.expect(ctx.post(RES, raw=raw, content_type="text/plain"), 422, "Content-Type text/plain refused", path=RES)
    body = resultaat(ctx)
    del body["resultatenscores"]["resultaten"]
    ctx.expect(ctx.post(RES, body), 422, "without resultatenscores/resultaten refused", path=RES)
    body = resultaat(ctx)
    del body["toets"]
    ctx.expect(ctx.post(RES, body), 422, "without toets refused", path=RES)
    body = resultaat(ctx)
    body["toets"]["id"] = "CITO_OUD"
    ctx.expect(ctx.post(RES, body), 422, "toets/id CITO_OUD refused", path=RES)
    body = resultaat(ctx)
    body["resultatenscores"]["resultaten"]["resultaten"][0]["label"] = "Cijfer"
    ctx.expect(ctx.post(RES, body), 422, "resultaat label Cijfer refused", path=RES)


@scenario("resultaat-identificatie", LAS, "edu-to/edu-from that are not exactly 20 letters or digits, or missing, are refused with 422.")
def result_identifiers(ctx: Context) -> None:
    t = ctx.target
    body = resultaat(ctx)
    for label, params in (
        ("edu-to of 19 characters", [("edu-to", t.routing[:19]), ("edu-from", t.school_oin)]),
        ("edu-to of 21 characters", [("edu-to", t.routing + "1"), ("edu-from", t.school_oin)]),
        ("edu-from with a hyphen", [("edu-to", t.routing), ("edu-from", t.school_oin[:19] + "-")]),
        ("edu-to missing", [("edu-from", t.school_oin)]),
    ):
        ctx.expect(ctx.post(RES, body, params=params), 422, f"{label} refused", path=RES)


@scenario("resultaat-school-onbekend", LAS, "A result for a routeringskenmerk that is no administration of this LAS is refused with 405 and the spec's melding.")
def result_unknown_school(ctx: Context) -> None:
    answer = ctx.post(RES, resultaat(ctx), params=[("edu-to", _unknown_routing(ctx)), ("edu-from", ctx.target.school_oin)])
    ctx.expect(answer, 405, "unknown administration refused", path=RES)


@scenario("resultaat-zonder-mandaat", LAS, "A test supplier with a valid certificate but no mandate from the school is refused with 401 and the spec's melding.")
def result_unauthorised(ctx: Context) -> None:
    if ctx.target.other is None:
        ctx.skip("needs a second certificate without mandate (--other-cert, --other-key)")
    ctx.expect(ctx.post(RES, resultaat(ctx), identity="other"), 401, "sender without mandate refused", path=RES)
    answer = ctx.post(RES, resultaat(ctx), identity=None)
    if answer.error:
        ctx.check("no certificate: handshake refused", True, answer.error, answer)
    else:
        ctx.expect(answer, 401, "no certificate: 401", path=RES)


@scenario("resultaat-te-groot", LAS, "A Leerlingresultaat of 10 MB is refused with 413 and a JSON melding, not a 5xx.")
def result_oversized(ctx: Context) -> None:
    import orjson

    size = int(ctx.target.extra.get("oversize_bytes", OVERSIZE_BYTES))
    body = resultaat(ctx)
    body["opmerking"] = "x" * size
    ctx.expect(ctx.post(RES, raw=orjson.dumps(body)), 413, f"a {size // 1_000_000} MB result refused", path=RES)


@scenario(
    "rapport-ophalen",
    LAS,
    "The LAS fetches the pupil report named in aanvullendeinfo from the suite (playing the test supplier): with its client certificate and the school's edu-to/edu-from, again after a 204, until it gets the PDF.",
)
def report_fetched(ctx: Context) -> None:
    server = ctx.report_server
    if server is None:
        ctx.skip("the suite must serve the report: --report-listen HOST:PORT and --report-cert/--report-key (a server certificate the LAS trusts)")
    if ctx.target.pupil_ref is None:
        ctx.skip("needs a pupil the LAS knows (--pupil LAS-key:<id>): a LAS fetches reports of its own pupils only")
    rapport_id = ctx.unique("rapport")
    url = server.expect(rapport_id)
    ctx.expect(ctx.post(RES, resultaat(ctx, rapport_url=url)), 202, "result with report link accepted", path=RES)
    done, hits = server.wait(rapport_id, lambda h: any(x.served == 200 for x in h), ctx.target.timeout)
    ctx.check("the LAS asked for the report", bool(hits), f"{len(hits)} request(s) for {url} within {ctx.target.timeout:.0f}s")
    if not hits:
        return
    first = hits[0]
    ctx.check("with a client certificate", first.client_oin is not None, f"client certificate OIN: {first.client_oin}")
    if ctx.target.las_oin:
        ctx.check("the LAS's own certificate", first.client_oin == ctx.target.las_oin, f"expected OIN {ctx.target.las_oin}, got {first.client_oin}")
    ctx.check(
        "on the school's behalf (edu-to = school OIN, edu-from = routeringskenmerk)",
        first.edu_to == ctx.target.school_oin and first.edu_from == ctx.target.routing,
        f"edu-to={first.edu_to} edu-from={first.edu_from}",
    )
    ctx.check("after 204 (not ready yet) it asked again and got the PDF", done, f"answers served: {[h.served for h in hits]}")

