"""The named scenarios of the Edu-V Results API (``toetsresultaten``) and Progress API
(``leervoortgang``). The implementation under test is the receiver (``ontvanger``: a results
administration, a learning-materials dashboard); the suite plays the sending system, with an
OAuth2 access token from the authorization server (client credentials, ``private_key_jwt``).

Refusals are checked for their status and a JSON body that says what is wrong (a problem object,
an OAuth error). Neither API has a GET, so effects (the latest state won, a repeat had one effect)
are seen only where the implementation lets them be seen: eduketen's admin API for results
(``--admin-url``/``--admin-token``), and for progress the counts the answer itself reports
(``received``/``applied``/``stale``, as eduketen's does). Where neither is there, the scenario
says in the report what it could not observe."""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from eduketen.conformance import oauth as tokens_mod
from eduketen.conformance.observe import ObserverError
from eduketen.conformance.runner import Context, scenario

RESULTS = "toetsresultaten"
PROGRESS = "leervoortgang"
ONTVANGER = "ontvanger"
RES = "/results"
OVERSIZE_BYTES = 10_000_000  # a bundle of a whole school is a few hundred KB
BULK_RECORDS = 5000
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
ACCEPTED = (200, 201, 204)
REFUSED_BODY = (400, 422)  # a body that cannot be read, or does not match the schema
REFUSED_TYPE = (400, 415, 422)


# -- shared ----------------------------------------------------------------------------------------------


def eck_id(ctx: Context, n: int = 0) -> str:
    """An ECK iD unique to this run (the target's own for the first pupil, when given)."""
    if n == 0 and ctx.target.student:
        return ctx.target.student
    digest = hashlib.sha256(ctx.unique("eck").encode()).hexdigest()
    return "https://ketenid.nl/201703/" + digest + digest


def school_of(ref: tuple[str, str]) -> dict:
    return {"idType": ref[0], "id": ref[1]}


def check_api_version(ctx: Context, exchange, what: str) -> None:
    """Edu-V Versiebeheer: the full version of the path's major in ``API-Version``."""
    if exchange.status not in ACCEPTED:
        return
    value = exchange.response_headers.get("api-version")
    major = ctx.target.version.split(".")[0]
    match = SEMVER.match(value or "")
    ctx.check(what, bool(match) and match.group(1) == major,
              f"API-Version: {value!r} (expected major.minor.patch with major {major})", exchange)  # fmt: skip


def token_refusals(ctx: Context, send, where: str = "") -> None:
    """No token, a malformed Authorization header, and tokens that must not be accepted: 401 with
    a JSON problem each. ``send(token=..., show_token=...)`` makes one valid request."""
    answer = send(token=None)
    if ctx.expect_status(answer, 401, f"{where}no Authorization header: 401", problem=True):
        challenge = answer.response_headers.get("www-authenticate", "")
        ctx.check(f"{where}401 carries a Bearer challenge (WWW-Authenticate, RFC 6750)", challenge.lower().startswith("bearer"),
                  f"WWW-Authenticate: {challenge!r}", answer)  # fmt: skip


def bad_tokens(ctx: Context, send) -> None:
    cases = [("garbage", "not-a-token", True), ("three dots, nothing signed", "a.b.c", True)]
    real = ctx.tokens.good()
    try:
        cases.append(("an unsigned copy of a real token (alg none)", tokens_mod.unsigned_copy(real), True))
        cases.append(("a real token with its expiry moved into the past", tokens_mod.expiry_moved(real), False))
        auth = ctx.tokens.auth
        if auth.key is not None and auth.client_id:
            cases.append(("a token the client signed itself", tokens_mod.self_signed(real, auth.client_id, ctx.tokens.key()), True))
    except tokens_mod.TokenError as exc:
        ctx.note(f"forged copies of a real token not tried: {exc}")
    if ctx.target.auth and ctx.target.auth.expired_token:
        cases.append(("an expired token the authorization server issued", ctx.target.auth.expired_token, False))
    else:
        ctx.note("a really expired token was not tried: give one with --expired-token (it cannot be made from outside without waiting)")
    for label, token, show in cases:
        ctx.expect_status(send(token=token, show_token=show), 401, f"{label}: 401", problem=True)


def wrong_scope(ctx: Context, send, scope: str, where: str = "") -> None:
    token = ctx.tokens.wrong_scope()
    if token is None:
        ctx.skip(f"needs a token without {scope}: --wrong-scope SCOPE (another scope the client may get), "
                 "--wrong-scope-client-id (a client without it) or --wrong-scope-token")  # fmt: skip
    answer = send(token=token)
    ctx.expect_status(answer, 403, f"{where}a valid token without {scope}: 403", problem=True)


def no_consent_school(ctx: Context) -> dict:
    if ctx.target.no_consent_school is None:
        ctx.skip("needs a school that gave the suite's system no consent for this API (--no-consent-school BRIN:<brin>)")
    return school_of(ctx.target.no_consent_school)


def other_major(url: str) -> str | None:
    """The base URL with its major version (/v1) replaced by one nobody serves (/v99)."""
    match = re.search(r"/v(\d+)$", url)
    return url[: match.start()] + "/v99" if match else None


# -- results: the bundle ---------------------------------------------------------------------------------

SCALES = [
    {"id": "ruw", "type": "numeric", "min": 0, "max": 300, "decimals": 0},
    {"id": "cijfer", "type": "grade", "decimals": 1},
    {"id": "refniv", "type": "referenceLevel"},
    {"id": "pct", "type": "percentile"},
    {"id": "geslaagd", "type": "passFail"},
    {"id": "advies", "type": "ordinal", "labels": ["vmbo-bb", "vmbo-kb", "vmbo-gt", "havo", "vwo"]},
]


def bundle(ctx: Context, students: list[str], *, assessment_id: str | None = None, total: int = 212, school: dict | None = None) -> dict:
    """A valid ``AssessmentScoresAndResults`` in the shape of the target's version: an
    assessment with parts, a scale of every kind, and each student's scores and results."""
    doc = {
        "school": school or school_of(ctx.target.school),
        "schoolYear": "2025-2026",
        "assessment": {
            "id": assessment_id or ctx.unique("afname"),
            "assessmentDateTime": "2026-04-14T08:30:00Z",
            "assessmentDefinition": {
                "id": "conformance-rekenen-8",
                "name": "Rekenen eind groep 8",
                "parts": [{"id": "getallen", "index": 1, "name": "Getallen"}, {"id": "verhoudingen", "index": 2, "name": "Verhoudingen"}],
            },
        },
        "scoreScales": copy.deepcopy(SCALES),
        "students": [
            {
                "student": {"eckId": eck},
                "status": "Definitief",
                "releasedAt": "2026-04-20T12:00:00Z",
                "scores": [{"kind": "total", "scale": "ruw", "value": total}, {"kind": "detail", "part": "getallen", "scale": "ruw", "value": 40}],
                "results": [
                    {"kind": "grade", "scale": "cijfer", "value": "7.4"},
                    {"kind": "referenceLevel", "part": "getallen", "scale": "refniv", "value": "2F"},
                    {"kind": "percentile", "scale": "pct", "value": 81},
                    {"kind": "passFail", "scale": "geslaagd", "value": "pass"},
                    {"kind": "advice", "scale": "advies", "value": "havo"},
                ],
            }
            for eck in students
        ],
    }
    return in_version(ctx, doc)


def in_version(ctx: Context, doc: dict) -> dict:
    """0.9.0 (v0) names the student with flat fields and knows no schoolYear or releasedAt."""
    if ctx.target.version != "0.9.0":
        return doc
    doc = copy.deepcopy(doc)
    doc.pop("schoolYear", None)
    for student in doc["students"]:
        student.pop("releasedAt", None)
        student.update(student.pop("student", {}))
    return doc


def post_results(ctx: Context, body=None, **kw):
    return ctx.post(RES, body, **kw)


def _stored(ctx: Context, eck: str, assessment_id: str) -> list[dict] | None:
    """eduketen's stored results of ``eck`` on ``assessment_id`` (None: not observable)."""
    if ctx.admin is None:
        return None
    try:
        rows = ctx.admin.student_results(ctx.target.school[1], eck)
    except ObserverError as exc:
        ctx.check("the admin API answers", False, str(exc))
        return None
    return [r for r in rows if (r.get("assessment") or {}).get("assessment", {}).get("id") == assessment_id]


NOT_OBSERVABLE_RESULTS = ("the Results API has no GET: what was stored cannot be seen from outside; "
                          "give an admin API (--admin-url, --admin-token of an eduketen) to observe it")  # fmt: skip


# -- results: scenarios ------------------------------------------------------------------------------------


@scenario("results-valid", ONTVANGER, "A valid bundle of 3 students with a scale of every kind is accepted (201 or 200) with an API-Version header "
          "(major.minor.patch of the path's major); where observable, the results are stored as sent.", service=RESULTS)  # fmt: skip
def results_valid(ctx: Context) -> None:
    students = [eck_id(ctx, i) for i in range(3)]
    body = bundle(ctx, students)
    answer = post_results(ctx, body)
    if not ctx.expect_status(answer, (201, 200), "valid bundle accepted"):
        return
    check_api_version(ctx, answer, "answer carries API-Version")
    stored = _stored(ctx, students[0], body["assessment"]["id"])
    if stored is None:
        ctx.note(NOT_OBSERVABLE_RESULTS)
        return
    total = next((s.get("value") for r in stored for s in r.get("scores", []) if s.get("kind") == "total"), None)
    ctx.check("the result is stored as sent", len(stored) == 1 and total == 212, f"stored: {len(stored)} result(s), total score {total!r}")


@scenario("results-update-latest", ONTVANGER, "The same assessment and student sent again with a changed score is accepted, and where observable "
          "the stored result is the new one, with no second copy (create or update: the latest state wins).", service=RESULTS)  # fmt: skip
def results_update(ctx: Context) -> None:
    eck = eck_id(ctx, 1)
    assessment = ctx.unique("afname")
    first = post_results(ctx, bundle(ctx, [eck], assessment_id=assessment, total=200))
    if not ctx.expect_status(first, (201, 200), "first state accepted"):
        return
    second = post_results(ctx, bundle(ctx, [eck], assessment_id=assessment, total=250))
    if not ctx.expect_status(second, (201, 200), "changed state of the same result accepted"):
        return
    stored = _stored(ctx, eck, assessment)
    if stored is None:
        ctx.note(NOT_OBSERVABLE_RESULTS)
        return
    totals = [s.get("value") for r in stored for s in r.get("scores", []) if s.get("kind") == "total"]
    ctx.check("one stored result for the student on the assessment", len(stored) == 1, f"{len(stored)} stored")
    ctx.check("the latest state won (total 250)", totals == [250], f"stored total score(s): {totals}")


def _bad_bundles(ctx: Context, cases) -> None:
    for label, mutate in cases:
        body = bundle(ctx, [eck_id(ctx, 1)])
        mutate(body)
        ctx.expect_status(post_results(ctx, body), REFUSED_BODY, f"{label}: refused (400/422) with a JSON problem", problem=True)


def _student(body: dict) -> dict:
    return body["students"][0]


def _drop_reference(body: dict) -> None:
    student = _student(body)
    for key in ("student", "eckId", "userId", "userIdType"):
        student.pop(key, None)


@scenario("results-missing-field", ONTVANGER, "A bundle missing a required field (school, assessment, assessmentDateTime, the definition's name, "
          "scoreScales, students, a student's reference, a score's scale) is refused with 400/422 and a JSON problem.", service=RESULTS)  # fmt: skip
def results_missing(ctx: Context) -> None:
    _bad_bundles(ctx, [
        ("without school", lambda b: b.pop("school")),
        ("without assessment", lambda b: b.pop("assessment")),
        ("without assessment/assessmentDateTime", lambda b: b["assessment"].pop("assessmentDateTime")),
        ("without assessmentDefinition/name", lambda b: b["assessment"]["assessmentDefinition"].pop("name")),
        ("without scoreScales", lambda b: b.pop("scoreScales")),
        ("without students", lambda b: b.pop("students")),
        ("a student without eckId or userId", _drop_reference),
        ("a score without its scale", lambda b: _student(b)["scores"][0].pop("scale")),
    ])  # fmt: skip


@scenario("results-scale-kind", ONTVANGER, "Values that do not fit the kind of their scale (a grade of 11, text on a numeric scale, a percentile "
          "of 101, reference level 4F, pass/fail 'maybe', a label not on the ordinal scale, a scale never declared) are refused with 400/422.",
          service=RESULTS)  # fmt: skip
def results_scale_kind(ctx: Context) -> None:
    _bad_bundles(ctx, [
        ("grade 11 on a grade scale", lambda b: _student(b)["results"][0].update(value="11")),
        ("text on a numeric scale", lambda b: _student(b)["scores"][0].update(value="veel")),
        ("percentile 101", lambda b: _student(b)["results"][2].update(value=101)),
        ("reference level 4F", lambda b: _student(b)["results"][1].update(value="4F")),
        ("pass/fail 'maybe'", lambda b: _student(b)["results"][3].update(value="maybe")),
        ("an advice not among the ordinal labels", lambda b: _student(b)["results"][4].update(value="gymnasium")),
        ("a scale never declared", lambda b: _student(b)["results"][0].update(scale="stanine")),
    ])  # fmt: skip


@scenario("results-enum", ONTVANGER, "A value outside its enumeration (school idType KVK or lower-case brin, a scale type stanine or Grade) "
          "is refused with 400/422 and a JSON problem.", service=RESULTS)  # fmt: skip
def results_enum(ctx: Context) -> None:
    _bad_bundles(ctx, [
        ("school idType KVK", lambda b: b["school"].update(idType="KVK")),
        ("school idType brin (lower case)", lambda b: b["school"].update(idType=b["school"]["idType"].lower())),
        ("scale type stanine", lambda b: b["scoreScales"][0].update(type="stanine")),
        ("scale type Grade (capital)", lambda b: b["scoreScales"][1].update(type="Grade")),
    ])  # fmt: skip


def broken_bodies(ctx: Context, send, valid: bytes) -> None:
    for label, raw in (("truncated JSON", valid[: len(valid) // 2]), ("a JSON array", b"[1, 2, 3]"), ("an empty body", b""),
                       ("not JSON at all", b"school=11BB"), ("not UTF-8", b'{"school": "\xff\xfe"}')):  # fmt: skip
        ctx.expect_status(send(raw=raw), REFUSED_BODY, f"{label}: refused (400/422) with a JSON problem, never a 5xx", problem=True)


def wrong_types(ctx: Context, send, valid: bytes) -> None:
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", None):
        ctx.expect_status(send(raw=valid, content_type=content_type), REFUSED_TYPE,
                          f"Content-Type {content_type or '(none)'}: refused (415, or 400/422) with a JSON problem", problem=True)  # fmt: skip


@scenario("results-broken-json", ONTVANGER, "A body that is no JSON bundle (truncated, an array, empty, form data, not UTF-8) is refused with "
          "400/422 and a JSON problem, never a 5xx.", service=RESULTS)  # fmt: skip
def results_broken_json(ctx: Context) -> None:
    broken_bodies(ctx, lambda **kw: post_results(ctx, **kw), orjson.dumps(bundle(ctx, [eck_id(ctx, 1)])))


@scenario("results-content-type", ONTVANGER, "A valid bundle sent as text/plain, application/xml, form data or without Content-Type is refused "
          "(415, or 400/422) with a JSON problem.", service=RESULTS)  # fmt: skip
def results_content_type(ctx: Context) -> None:
    wrong_types(ctx, lambda **kw: post_results(ctx, **kw), orjson.dumps(bundle(ctx, [eck_id(ctx, 1)])))


@scenario("results-oversized", ONTVANGER, "A body of 10 MB (a whole school's bundle is a few hundred KB) is refused with 413 and a JSON problem, "
          "not a 5xx or an HTML page.", service=RESULTS)  # fmt: skip
def results_oversized(ctx: Context) -> None:
    size = int(ctx.target.extra.get("oversize_bytes", OVERSIZE_BYTES))
    body = bundle(ctx, [eck_id(ctx, 1)])
    body["assessment"]["additionalInfo"] = "x" * size
    answer = post_results(ctx, raw=orjson.dumps(body))
    ctx.expect_status(answer, 413, f"a {size // 1_000_000} MB bundle refused", problem=True)


@scenario("results-no-token", ONTVANGER, "A valid bundle without an access token is refused with 401, a JSON problem and a Bearer challenge "
          "(WWW-Authenticate); a Basic credential likewise.", service=RESULTS)  # fmt: skip
def results_no_token(ctx: Context) -> None:
    body = bundle(ctx, [eck_id(ctx, 1)])
    token_refusals(ctx, lambda **kw: post_results(ctx, body, **kw))
    # a made-up user:password ("conformance:suite"), harmless in a report
    answer = ctx.post(RES, body, token=None, headers={"Authorization": "Basic Y29uZm9ybWFuY2U6c3VpdGU="}, show_token=True)
    ctx.expect_status(answer, 401, "a Basic credential instead of a token: 401", problem=True)


@scenario("results-wrong-scope", ONTVANGER, "A valid token of a known client without the scope eduv.result is refused with 403 and a JSON problem.",
          service=RESULTS)  # fmt: skip
def results_wrong_scope(ctx: Context) -> None:
    body = bundle(ctx, [eck_id(ctx, 1)])
    wrong_scope(ctx, lambda **kw: post_results(ctx, body, **kw), "eduv.result")


@scenario("results-bad-token", ONTVANGER, "Tokens that must not be accepted (garbage, an unsigned alg-none copy of a real token, a real token "
          "with its expiry moved into the past, one the client signed itself, an expired one when given) are refused with 401.",
          service=RESULTS)  # fmt: skip
def results_bad_token(ctx: Context) -> None:
    body = bundle(ctx, [eck_id(ctx, 1)])
    bad_tokens(ctx, lambda **kw: post_results(ctx, body, **kw))


@scenario("results-no-consent", ONTVANGER, "A valid bundle for a school that gave the sending system no consent for results-api is refused with "
          "403 and a JSON problem; where observable, nothing is stored.", service=RESULTS)  # fmt: skip
def results_no_consent(ctx: Context) -> None:
    school = no_consent_school(ctx)
    eck = eck_id(ctx, 1)
    body = bundle(ctx, [eck], school=school)
    if not ctx.expect_status(post_results(ctx, body), 403, f"school {school['idType']} {school['id']} without consent: 403", problem=True):
        return
    if ctx.admin is None:
        ctx.note(NOT_OBSERVABLE_RESULTS)
        return
    try:
        rows = ctx.admin.student_results(school["id"], eck)
    except ObserverError as exc:
        ctx.check("the admin API answers", False, str(exc))
        return
    ctx.check("nothing stored for the school without consent", rows == [], f"{len(rows)} result(s) stored")


@scenario("results-unknown-version", ONTVANGER, "A valid bundle posted under a major version nobody serves (/v99/results) is refused with 404, "
          "not taken as the current version.", service=RESULTS)  # fmt: skip
def results_unknown_version(ctx: Context) -> None:
    base = other_major(ctx.target.url)
    if base is None:
        ctx.skip(f"the URL {ctx.target.url} does not end in its major version (/v1), so no other major can be named")
    answer = ctx.request("POST", RES, body=bundle(ctx, [eck_id(ctx, 1)]), url=base)
    ctx.expect_status(answer, 404, "POST /v99/results: 404")


@scenario("results-duplicate", ONTVANGER, "The same bundle twice is accepted both times (201/200, never 409) and, where observable, has one "
          "effect: one stored result per student, not changed by the repeat.", service=RESULTS)  # fmt: skip
def results_duplicate(ctx: Context) -> None:
    eck = eck_id(ctx, 1)
    body = bundle(ctx, [eck])
    first = post_results(ctx, body)
    if not ctx.expect_status(first, (201, 200), "first delivery accepted"):
        return
    before = _stored(ctx, eck, body["assessment"]["id"])
    second = post_results(ctx, body)
    if not ctx.expect_status(second, (201, 200), "identical second delivery accepted too"):
        return
    after = _stored(ctx, eck, body["assessment"]["id"])
    if before is None or after is None:
        ctx.note(NOT_OBSERVABLE_RESULTS)
        return
    ctx.check("one stored result after the repeat", len(after) == 1, f"{len(after)} stored")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("updatedAt", "assessment")} for r in rows]
    ctx.check("the repeat changed nothing (same revision and content)", strip(before) == strip(after),
              f"revision {[r.get('revision') for r in before]} -> {[r.get('revision') for r in after]}")  # fmt: skip


# -- progress ----------------------------------------------------------------------------------------------


def progress_path(rid: str) -> str:
    return f"/progress/{rid}"


def progress_record(ctx: Context, *, rid: str | None = None, status: str = "completed", at: datetime | None = None,
                    eck: str | None = None, school: dict | None = None, unit: str = "h1-les1") -> dict:  # fmt: skip
    at = at or datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    text = at.isoformat().replace("+00:00", "Z")
    record = {
        "id": rid or str(uuid.uuid4()),
        "student": {"eckId": eck or eck_id(ctx)},
        "school": school or school_of(ctx.target.school),
        "courseId": "conformance-rekenen-groep8",
        "assignableUnitId": unit,
        "subject": "rekenen",
        "status": status,
        "statusChangedAt": text,
        "startedAt": (at - timedelta(minutes=20)).isoformat().replace("+00:00", "Z"),
        "score": {"raw": 8, "max": 10},
        "pleaseFollowUp": False,
    }
    if status == "completed":
        record["completedAt"] = text
    return record


def put_progress(ctx: Context, record: dict | None = None, *, rid: str | None = None, **kw):
    return ctx.put(progress_path(rid or record["id"]), record, **kw)


def reported(answer) -> dict | None:
    """The counts an implementation reports in its answer (eduketen: received, applied, stale)."""
    body = answer.json()
    if isinstance(body, dict) and all(isinstance(body.get(k), int) for k in ("applied", "stale")):
        return body
    return None


NOT_OBSERVABLE_PROGRESS = ("the Progress API has no GET, and this implementation's answer reports no counts (applied/stale): "
                           "whether the stored state changed cannot be seen from outside")  # fmt: skip


@scenario("progress-valid", ONTVANGER, "A valid PUT /progress/{id} (a completed lesson with score) is accepted (200, 201 or 204) with an API-Version header.",
          service=PROGRESS)  # fmt: skip
def progress_valid(ctx: Context) -> None:
    answer = put_progress(ctx, progress_record(ctx))
    if ctx.expect_status(answer, ACCEPTED, "valid progress record accepted"):
        check_api_version(ctx, answer, "answer carries API-Version")


@scenario("progress-out-of-order", ONTVANGER, "An older state arriving after a newer one (started at 09:40 after completed at 10:00) is accepted "
          "but does not overwrite the newer state (where the answer reports what it applied).", service=PROGRESS)  # fmt: skip
def progress_out_of_order(ctx: Context) -> None:
    rid, eck = str(uuid.uuid4()), eck_id(ctx)
    newer = progress_record(ctx, rid=rid, eck=eck, status="completed", at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    older = progress_record(ctx, rid=rid, eck=eck, status="started", at=datetime(2026, 11, 2, 9, 40, tzinfo=UTC))
    if not ctx.expect_status(put_progress(ctx, newer), ACCEPTED, "newer state (completed) accepted"):
        return
    late = put_progress(ctx, older)
    if not ctx.expect_status(late, ACCEPTED, "older state arriving late accepted (not an error)"):
        return
    counts = reported(late)
    if counts is None:
        ctx.note(NOT_OBSERVABLE_PROGRESS)
        return
    ctx.check("the older state was not applied", counts["applied"] == 0 and counts["stale"] == 1, f"answer: {counts}", late)
    again = put_progress(ctx, newer)
    counts = reported(again)
    if ctx.expect_status(again, ACCEPTED, "the newer state once more accepted") and counts is not None:
        ctx.check("the newer state is still the stored one (sending it again changes nothing)", counts["applied"] == 0, f"answer: {counts}", again)


@scenario("progress-bulk", ONTVANGER, f"{BULK_RECORDS} progress records of 500 pupils in one POST /progress are accepted in one go "
          "(with API-Version) and, where the answer reports it, all applied.", service=PROGRESS)  # fmt: skip
def progress_bulk(ctx: Context) -> None:
    n = int(ctx.target.extra.get("bulk_records", BULK_RECORDS))
    pupils = [eck_id(ctx, i + 1) for i in range(max(1, n // 10))]
    base = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    records = [progress_record(ctx, eck=pupils[i % len(pupils)], unit=f"h{i // 100}-les{i % 100}", at=base + timedelta(seconds=i),
                               status=("completed", "started", "not-started", "abandoned")[i % 4]) for i in range(n)]  # fmt: skip
    answer = ctx.post("/progress", {"records": records})
    if not ctx.expect_status(answer, ACCEPTED, f"{n} records in one request accepted"):
        return
    check_api_version(ctx, answer, "answer carries API-Version")
    counts = reported(answer)
    if counts is None:
        ctx.note(NOT_OBSERVABLE_PROGRESS)
        return
    ctx.check(f"all {n} records applied", counts["applied"] == n and counts.get("received", n) == n, f"answer: {counts}", answer)


@scenario("progress-invalid", ONTVANGER, "A record with a status outside the list (done, Completed, none) or an impossible score (150%, raw above "
          "max, negative, empty) is refused with 400/422 and a JSON problem.", service=PROGRESS)  # fmt: skip
def progress_invalid(ctx: Context) -> None:
    cases = [
        ("status 'done'", lambda r: r.update(status="done")),
        ("status 'Completed' (capital)", lambda r: r.update(status="Completed")),
        ("no status", lambda r: r.pop("status")),
        ("score 150%", lambda r: r.update(score={"percentage": 150})),
        ("raw score above max", lambda r: r.update(score={"raw": 12, "max": 10})),
        ("negative raw score", lambda r: r.update(score={"raw": -1, "max": 10})),
        ("an empty score", lambda r: r.update(score={})),
    ]
    for label, mutate in cases:
        record = progress_record(ctx)
        mutate(record)
        ctx.expect_status(put_progress(ctx, record), REFUSED_BODY, f"{label}: refused (400/422) with a JSON problem", problem=True)


@scenario("progress-id-mismatch", ONTVANGER, "A PUT whose body id differs from the id in the path, or whose path id is no UUID, is refused with "
          "400/422 and a JSON problem; where the answer reports it, nothing was stored under the body's id.", service=PROGRESS)  # fmt: skip
def progress_id_mismatch(ctx: Context) -> None:
    record = progress_record(ctx)
    answer = put_progress(ctx, record, rid=str(uuid.uuid4()))
    ctx.expect_status(answer, REFUSED_BODY, "body id differs from path id: refused", problem=True)
    answer = put_progress(ctx, {k: v for k, v in record.items() if k != "id"}, rid="les-1")
    ctx.expect_status(answer, REFUSED_BODY + (404,), "path id 'les-1' (no UUID): refused", problem=True)
    # the body's own id was never applied: sending it now is new (where the answer says so)
    fresh = put_progress(ctx, record)
    counts = reported(fresh)
    if ctx.expect_status(fresh, ACCEPTED, "the record under its own id afterwards accepted") and counts is not None:
        ctx.check("the refused request stored nothing (the record is new now)", counts["applied"] == 1, f"answer: {counts}", fresh)


@scenario("progress-broken-body", ONTVANGER, "A body that is no JSON record (truncated, an array, empty, form data, not UTF-8) or not sent as "
          "application/json is refused with 4xx and a JSON problem, never a 5xx.", service=PROGRESS)  # fmt: skip
def progress_broken(ctx: Context) -> None:
    record = progress_record(ctx)
    send = lambda **kw: put_progress(ctx, rid=record["id"], **kw)
    broken_bodies(ctx, send, orjson.dumps(record))
    wrong_types(ctx, send, orjson.dumps(record))


@scenario("progress-no-token", ONTVANGER, "A valid record without an access token is refused with 401, a JSON problem and a Bearer challenge.",
          service=PROGRESS)  # fmt: skip
def progress_no_token(ctx: Context) -> None:
    record = progress_record(ctx)
    token_refusals(ctx, lambda **kw: put_progress(ctx, record, **kw), "PUT: ")
    token_refusals(ctx, lambda **kw: ctx.post("/progress", {"records": [record]}, **kw), "bulk POST: ")


@scenario("progress-wrong-scope", ONTVANGER, "A valid token of a known client without the scope eduv.progress is refused with 403, for PUT and bulk POST.",
          service=PROGRESS)  # fmt: skip
def progress_wrong_scope(ctx: Context) -> None:
    record = progress_record(ctx)
    wrong_scope(ctx, lambda **kw: put_progress(ctx, record, **kw), "eduv.progress", "PUT: ")
    wrong_scope(ctx, lambda **kw: ctx.post("/progress", {"records": [record]}, **kw), "eduv.progress", "bulk POST: ")


@scenario("progress-bad-token", ONTVANGER, "Tokens that must not be accepted (garbage, an unsigned copy of a real token, a real token with its "
          "expiry moved, one the client signed itself, an expired one when given) are refused with 401.", service=PROGRESS)  # fmt: skip
def progress_bad_token(ctx: Context) -> None:
    record = progress_record(ctx)
    bad_tokens(ctx, lambda **kw: put_progress(ctx, record, **kw))


@scenario("progress-no-consent", ONTVANGER, "A record for a school that gave the sending system no consent for progress-api is refused with 403, "
          "by PUT and in a bulk POST (where it is one of many).", service=PROGRESS)  # fmt: skip
def progress_no_consent(ctx: Context) -> None:
    school = no_consent_school(ctx)
    label = f"school {school['idType']} {school['id']} without consent"
    ctx.expect_status(put_progress(ctx, progress_record(ctx, school=school)), 403, f"{label}: PUT refused with 403", problem=True)
    records = [progress_record(ctx) for _ in range(3)] + [progress_record(ctx, school=school)]
    ctx.expect_status(ctx.post("/progress", {"records": records}), 403, f"{label}: bulk with one such record refused with 403", problem=True)


@scenario("progress-repeat", ONTVANGER, "The same PUT twice is accepted both times and, where the answer reports it, the repeat changes nothing "
          "(idempotent).", service=PROGRESS)  # fmt: skip
def progress_repeat(ctx: Context) -> None:
    record = progress_record(ctx)
    if not ctx.expect_status(put_progress(ctx, record), ACCEPTED, "first delivery accepted"):
        return
    again = put_progress(ctx, record)
    if not ctx.expect_status(again, ACCEPTED, "identical second delivery accepted too (not 409)"):
        return
    counts = reported(again)
    if counts is None:
        ctx.note(NOT_OBSERVABLE_PROGRESS)
        return
    ctx.check("the repeat changed nothing", counts["applied"] == 0, f"answer: {counts}", again)
