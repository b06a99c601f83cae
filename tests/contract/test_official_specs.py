"""Contract tests: schemathesis against the OFFICIAL Doorstroomtoets OpenAPI files 1.0.1 and 1.1.0
(and eduketen's derived 2026-2027 draft), loaded as they are, with every check schemathesis has, on
SQLite and on PostgreSQL.

How the run is made
-------------------
* The documents are ``eduketen.doorstroomtoets.schemas.versions()[key].document``: the vendored
  files exactly as the application loads them (nothing added, nothing removed), given to
  ``schemathesis.openapi.from_dict``. Each version is tested under its own base path
  (``/doorstroomtoets/v1.0``, ``/doorstroomtoets/v1.1``, ``/doorstroomtoets/2026-2027``); the
  application is called in process over ASGI, as the proxy on loopback would call it (conftest).
* The schemathesis engine runs every phase ``schemathesis run`` runs: the files' own examples,
  coverage (boundary values, every constraint violated in turn, missing and duplicated
  parameters, undeclared methods and content types), fuzzing (positive and negative data), and
  stateful testing (not applicable: the files have no links). Hypothesis is seeded and its
  example count kept small (``FUZZ_EXAMPLES``); its health checks are suppressed and no deadline
  is set (``too_slow`` and deadlines are timing assertions, which these tests never make).
* Operations: this installation plays the test-supplier role, so only ``POST /registreren``
  (both versions) and ``POST /registreren-schooladviezen`` (1.1.0 and the draft) are selected,
  by operationId (``SERVED``). ``POST /leerlingresultaat`` is served by the LAS role, not here;
  ``GET /leerlingrapport/{rapportid}`` is served by this role but left out of this run: a
  report only exists after a results import, and the official file lists no 401 for it
  (README); it has its own tests (tests/doorstroomtoets/test_return_path.py). The test asserts
  that the selection is exactly what the application routes, minus that GET.
* Checks: every check registered in schemathesis (``CHECKS.get_all_names()``, 14 in 4.32; the
  test fails if one did not run) plus one of ours, ``melding_is_the_official_text``. Two are made
  stricter than their defaults: ``positive_data_acceptance`` accepts only 202 (by default 401,
  403, 404 and 5xx also count as "accepted"), ``negative_data_rejection`` only 422 (by default
  5xx also counts as "rejected"). ``max_response_time`` is not a registered check but an opt-in
  timing limit; it stays off.
* Checks that are enabled and run but cannot find anything in these files, and why:
  ``ignored_auth``: the files declare no ``securitySchemes``; the caller's identity is the client
  certificate (Edukoppeling), outside the file; see the explicit identity test.
  ``missing_required_header``: the files declare no header parameters.
  ``use_after_free``, ``ensure_resource_availability``, ``object_level_authorization``: need
  resources that are created, read back and deleted through linked operations; ``POST
  /registreren`` answers 202 without a ``Location`` and the files have no links, no GET for what
  was posted and no DELETE (the stateful phase reports "not applicable").
  ``allow_header_conformance`` only judges answers to OPTIONS (the coverage phase sends one).
* Edukoppeling context: every request carries the certificate of the school's LAS
  (``Client-Cert``, trusted from the proxy address). Only components schemathesis generated as
  POSITIVE are then adapted (``_edukoppel``): the query gets the ``edu-to``/``edu-from`` of a
  school that mandated that LAS and this test supplier, and the body follows the rules the files
  state only in prose (deviations 1-7 below). A component generated as negative is never
  touched, so negative cases stay negative (schemathesis re-validates changed components, so a
  mapping cannot mislabel a case). The body is copied first: coverage cases share sub-objects.
* Accepted means processable: after the run the inbox is drained and every accepted message must
  have been processed, on both databases (a 202 promises asynchronous processing).

Deviations from the official files (each has an explicit test below)
---------------------------------------------------------------------
1. ``edu-to``/``edu-from``: the pattern ``(\\d|\\D){20}`` is unanchored, so any string containing
   20 characters matches (21 characters, spaces, dashes). The descriptions say "20 karakters, met
   alleen cijfers en letters"; eduketen enforces exactly 20 letters or digits (422).
2. ``schooljaar``: "EEJJ-EEJJ" only in the description; eduketen also requires consecutive years
   and a school year of the version the path names (2023-2024/2024-2025 for 1.0.1, 2025-2026 for
   1.1.0, 2026-2027 for the draft).
3. ``Deelnemersgroep`` codes (instellingscode, vestigingscode, onderwijsaanbiedercode,
   onderwijslocatiecode, administratienr): formats only in descriptions; enforced. Nothing in the
   file ties ``instellingscode`` to ``edu-to``; eduketen requires the BRIN of that school.
4. ``Onderwijsdeelnemer.groep`` must be the ``id`` of one of ``groepen`` (description); stamgroep
   ids must be unique in the message.
5. ``voorletters``: "geen spaties en geen punten" (description); enforced.
6. ``deelnemerref``: 1 or 2 entries (description; ``Onderwijsdeelnemer`` has no minItems or
   maxItems), each label once, a pupil at most once in a list, a LAS-key at most 256 characters.
7. Storage limits the file does not state (found by this test on PostgreSQL, fixed in
   ``doorstroomtoets/service.py``): no text may contain U+0000 (PostgreSQL cannot store it; the
   run generates no NUL, ``allow-x00 = false``), and an ECK-iD is at most 300 characters (the
   width of the columns that keep it). Both used to be answered 202 and then fail processing.
8. Identity: the files declare no security; a request without a usable certificate, or from a
   LAS the school did not mandate, is answered 401 (with the file's 401 text).
9. Status codes the files do not list: 413 (body over the size limit), 404 (unknown path, e.g.
   ``/registreren-schooladviezen`` under 1.0.1), 405 with ``Allow`` for an undeclared method
   (the router's; its body is a problem document, not an Ontvangstmelding). Note that the files
   use 405 for "school unknown" too; the ``Allow`` header tells the two apart. 503 (register or
   store unavailable) is not exercised here.
10. ``Ontvangstmelding`` defines only ``melding``; eduketen adds ``toelichting`` and ``fouten``
    (the schema allows extra properties). ``melding`` is always the file's text for the status.
11. Examples: the ``/leerlingresultaat`` example gives ``Score.waarde`` as numbers (100, 50) where
    the schema says string; the schema wins. ``geslacht`` was checked too: ``Geslachttype_enum``
    is integer (1, 2, 9) and every example uses integer codes, so the files agree with
    themselves; a string code is refused, as the schema says. (The draft drops ``geslacht``.)
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field

import jsonschema_rs
import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import func, select

from eduketen.core.models import InboxMessage
from eduketen.doorstroomtoets.schemas import SpecVersion, versions
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst

# The operations this installation serves in the test-supplier role, by operationId per version.
# /leerlingresultaat (LAS role) and GET /leerlingrapport/{rapportid} are deliberately left out
# (see the module docstring).
SERVED = {
    "v1.0": ("postregistreren",),
    "v1.1": ("registrerenToetsdeelnemers", "registrerenSchooladviezen"),
    "2026-2027": ("registrerenToetsdeelnemers", "registrerenSchooladviezen"),
}
NOT_IN_THIS_RUN = {("GET", "/leerlingrapport/{rapportid}")}
SEED = 20260108  # reproducible runs; change it to explore other cases
FUZZ_EXAMPLES = 10  # Hypothesis examples per operation in the fuzzing phase, positive and negative together

MELDING_422 = "Bericht ontvangen maar heeft ongeldige berichtinhoud."
MELDING_401 = "Verzender en/of ontvanger van bericht is niet geautoriseerd door de betreffende school."


@schemathesis.check
def melding_is_the_official_text(ctx, response, case):
    """Every answer of a served operation is an Ontvangstmelding whose ``melding`` is the text the
    official file gives that status code, byte for byte."""
    if response.request.method.upper() != case.operation.method.upper():
        return None  # an undeclared-method probe, answered by the router (deviation 9)
    documented = case.operation.definition.raw["responses"].get(str(response.status_code))
    if documented is None:
        return None  # status_code_conformance reports undocumented statuses
    body = response.json()
    melding = body.get("melding") if isinstance(body, dict) else None
    if melding != documented["description"]:
        raise AssertionError(
            f"melding for {response.status_code} is {melding!r}, the official text is {documented['description']!r}"
        )
    return None


load_all_checks()
SCHEMATHESIS_CHECKS = frozenset(CHECKS.get_all_names()) - {"melding_is_the_official_text"}


# -- making positive data follow the prose of the files --------------------------------------------

# Formats stated only in the Deelnemersgroep descriptions, with the file's own example values.
DEELNEMERSGROEP_FORMATS = {
    "vestigingscode": (r"[0-9]{2}", "00"),
    "onderwijsaanbiedercode": (r"[0-9]{3}A[0-9]{3}", "123A123"),
    "onderwijslocatiecode": (r"[0-9]{3}X[0-9]{3}", "123X123"),
    "administratienr": (r"[0-9]{2}", "99"),
}
MAX_ID = {"LAS-key": 256, "ECK-iD": 300}


def _unique(value: str, taken: set[str], limit: int = 256) -> str:
    new, n = value, 0
    while new in taken:
        n += 1
        new = f"{n}-{value}"[:limit]
    return new


def _follow_refs(entries, index: int, seen: set[tuple[str, str]] | None) -> list:
    """Deviation 6: one or two identities, each label once, none blank or too long; with ``seen``,
    also no identity another pupil in the list already has."""
    kept, labels = [], set()
    for entry in entries if isinstance(entries, list) else []:
        label, ident = entry.get("label"), entry.get("onderwijsdeelnemerID")
        if label in labels or label not in MAX_ID or not isinstance(ident, str):
            continue
        labels.add(label)
        ident = (ident if ident.strip() else f"contract-{index}")[: MAX_ID[label]]
        if seen is not None:
            ident = _unique(ident, {v for lbl, v in seen if lbl == label}, MAX_ID[label])
            seen.add((label, ident))
        kept.append({**entry, "onderwijsdeelnemerID": ident})
    if not kept:
        ident = f"contract-{index}"
        if seen is not None:
            ident = _unique(ident, {v for lbl, v in seen if lbl == "LAS-key"})
            seen.add(("LAS-key", ident))
        kept.append({"label": "LAS-key", "onderwijsdeelnemerID": ident})
    return kept


def _follow_prose(body: dict, spec: SpecVersion, school) -> None:
    """Change a schema-valid body as little as needed to follow deviations 2-6."""
    if body.get("schooljaar") not in spec.schooljaren:
        body["schooljaar"] = spec.schooljaren[-1]
    groep = body.get("deelnemersgroep")
    if isinstance(groep, dict):
        groep["instellingscode"] = school.brin
        for name, (pattern, example) in DEELNEMERSGROEP_FORMATS.items():
            if not (isinstance(groep.get(name), str) and re.fullmatch(pattern, groep[name])):
                groep[name] = example
    ids: list[str] = []
    for stamgroep in body.get("groepen") or []:
        if isinstance(stamgroep, dict) and isinstance(stamgroep.get("id"), str):
            stamgroep["id"] = _unique(stamgroep["id"], set(ids))
            ids.append(stamgroep["id"])
    seen: set[tuple[str, str]] = set()
    for i, pupil in enumerate(body.get("deelnemers") or []):
        if not isinstance(pupil, dict):
            continue
        if ids and pupil.get("groep") not in ids:
            pupil["groep"] = ids[i % len(ids)]
        extensie = pupil.get("extensie")
        if isinstance(extensie, dict) and isinstance(extensie.get("voorletters"), str):
            extensie["voorletters"] = re.sub(r"[ .]", "", extensie["voorletters"])
        pupil["deelnemerref"] = _follow_refs(pupil.get("deelnemerref"), i, seen)
    for i, advies in enumerate(body.get("voorlopigSchooladviezen") or []):
        if isinstance(advies, dict):
            advies["deelnemerref"] = _follow_refs(advies.get("deelnemerref"), i, None)


def _edukoppel(case, spec: SpecVersion, school):
    """Put the Edukoppeling context and the prose rules into the components generated as positive."""
    meta = case.meta

    def negative(location: ParameterLocation) -> bool:
        return meta is not None and meta.is_negative_at(location)

    if not negative(ParameterLocation.QUERY):
        case.query = {**(case.query or {}), "edu-to": school.oin, "edu-from": school.routing}
    if not negative(ParameterLocation.BODY) and isinstance(case.body, dict):
        case.body = copy.deepcopy(case.body)  # coverage cases share sub-objects with other cases
        _follow_prose(case.body, spec, school)
    return case


# -- the schemathesis run ---------------------------------------------------------------------------


@dataclass
class Run:
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checks_run: set[str] = field(default_factory=set)
    # (phase, mode, method, status) -> number of requests
    requests: Counter = field(default_factory=Counter)
    accepted_per_operation: Counter = field(default_factory=Counter)
    undeclared_method_answers: list[tuple[str, int, str]] = field(default_factory=list)


def _config(spec: SpecVersion, cert_header: dict[str, str]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # nothing written to the working directory
            "base-url": f"http://127.0.0.1{spec.base_path}",
            "headers": dict(cert_header),  # identity is out of band (deviation 8)
            "continue-on-failure": True,  # report every failure, not the first per operation
            "suppress-health-check": ["all"],
            "generation": {"max-examples": FUZZ_EXAMPLES, "database": "none", "allow-x00": False},  # deviation 7
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": ["202"]},
                "negative_data_rejection": {"expected-statuses": ["422"]},
            },
        }
    )


def run_schemathesis(edukoppeling, key: str) -> Run:
    spec = versions()[key]
    school = edukoppeling.school
    schema = schemathesis.openapi.from_dict(spec.document, config=_config(spec, edukoppeling.cert_header))
    schema = schema.include(operation_id=list(SERVED[key]))
    schema.app = edukoppeling.app

    @schema.hook
    def map_case(context, case):
        return _edukoppel(case, spec, school)

    @schema.hook
    def before_add_examples(context, examples):  # the examples phase does not pass map_case
        for case in examples:
            _edukoppel(case, spec, school)

    run = Run()
    counted: set[str] = set()
    certificate = edukoppeling.cert_header["Client-Cert"]
    for event in from_schema(schema).execute():
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            run.errors.append(repr(getattr(event, "value", None) or getattr(event, "exception", None)))
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        for case_id, node in recorder.cases.items():
            response = recorder.find_response(case_id=case_id)
            if response is None or case_id in counted:
                continue
            counted.add(case_id)
            case, meta = node.value, node.value._meta
            method = response.request.method.upper()
            mode = meta.generation.mode.value if meta else "explicit"
            phase = meta.phase.name.value if meta else "?"
            run.requests[(phase, mode, method, response.status_code)] += 1
            if method != case.operation.method.upper():
                run.undeclared_method_answers.append((method, response.status_code, ", ".join(response.headers.get("allow", []))))
            elif response.status_code == 202:
                run.accepted_per_operation[case.operation.definition.raw["operationId"]] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                run.checks_run.add(check.name)
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info.failure
                    response = recorder.find_response(case_id=case_id)
                    run.failures.append(
                        f"[{check.name}] {failure.title}: {failure.message}\n"
                        f"  answer: {response.status_code if response else '-'} {response.content[:300] if response else b''!r}\n"
                        f"  reproduce: {check.failure_info.code_sample.replace(certificate, '<LAS certificate>')}"
                    )
    return run


@pytest.mark.parametrize("key", ["v1.0", "v1.1", "2026-2027"])
def test_official_spec_with_every_check(edukoppeling, key):
    spec = versions()[key]
    assert spec.official == (key != "2026-2027")  # the draft is eduketen's own derivation of 1.1.0

    # The selection is exactly what this installation serves of the file (minus the GET above):
    # an operation it does not serve is answered by the router (404 or 405 with a problem
    # document), one it serves by the application (here 422 for the empty body, 404 with an
    # Ontvangstmelding for an unknown report).
    chain, school = edukoppeling.chain, edukoppeling.school
    in_file = {(m.upper(), p) for p, item in spec.document["paths"].items() for m in item if m != "parameters"}

    def by_router(method: str, path: str) -> bool:
        r = chain.client.request(
            method,
            spec.base_path + path.replace("{rapportid}", "onbekend"),
            params={"edu-to": school.oin, "edu-from": school.routing},
            headers=edukoppeling.cert_header,
            json={} if method == "POST" else None,
        )
        return r.status_code in (404, 405) and "melding" not in r.json()

    served = {(method, path) for method, path in in_file if not by_router(method, path)}
    selected = {
        (m.upper(), p) for p, item in spec.document["paths"].items() for m, op in item.items() if op.get("operationId") in SERVED[key]
    }
    assert len(selected) == len(SERVED[key])
    assert selected == served - NOT_IN_THIS_RUN, served

    run = run_schemathesis(edukoppeling, key)
    summary = ", ".join(f"{phase}/{mode} {method} {status}: {n}" for (phase, mode, method, status), n in sorted(run.requests.items()))
    print(f"\n{key}: {summary}")

    assert not run.errors, "\n".join(run.errors)
    assert not run.failures, f"{len(run.failures)} failures:\n" + "\n".join(run.failures[:20])
    # Every check schemathesis has, and ours, judged responses of this run.
    assert run.checks_run == SCHEMATHESIS_CHECKS | {"melding_is_the_official_text"}

    # Not a vacuous pass: every phase sent requests; positive data was accepted (202), negative
    # data refused with the file's 422, undeclared methods answered 405 with an Allow header.
    phases, posts = Counter(), Counter()
    for (phase, mode, method, status), n in run.requests.items():
        phases[phase] += n
        if method == "POST":
            posts[(mode, status)] += n
    assert phases["examples"] and phases["coverage"] and phases["fuzzing"], phases
    positive = sum(n for (mode, _status), n in posts.items() if mode == "positive")
    negative = sum(n for (mode, _status), n in posts.items() if mode == "negative")
    assert positive and posts[("positive", 202)] == positive, posts
    assert negative and posts[("negative", 422)] == negative, posts
    assert set(run.accepted_per_operation) == set(SERVED[key])
    assert run.undeclared_method_answers and all(
        status == 405 and allow == "POST" for _m, status, allow in run.undeclared_method_answers
    ), run.undeclared_method_answers

    # Accepted means processable: every accepted message is processed, on SQLite and PostgreSQL.
    chain = edukoppeling.chain
    chain.drain()
    with chain.platform.sessions() as session:
        outcome = dict(session.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status)).all())
        errors = session.scalars(select(InboxMessage.last_error).where(InboxMessage.last_error.is_not(None))).all()
    assert outcome.keys() == {"done"} and not errors, (outcome, errors)


# -- the deviations, one explicit test each ---------------------------------------------------------


def official_schema_errors(key: str, component: str, body) -> list[str]:
    """Errors of ``body`` against a component of the official file itself (to show that what
    eduketen refuses below is valid by the file and refused only by its prose)."""
    doc = versions()[key].document
    validator = jsonschema_rs.Draft4Validator({"$ref": f"#/components/schemas/{component}", "components": doc["components"]}, validate_formats=True)
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(body)]


def _path(key: str, operation: str) -> str:
    return f"{versions()[key].base_path}/{operation}"


def _fields(response) -> set[str]:
    return {f["veld"] for f in response.json().get("fouten", [])}


def test_deviation_1_edu_parameters_are_exactly_20_letters_or_digits(edukoppeling):
    chain, school = edukoppeling.chain, edukoppeling.school
    body = deelnemerslijst(school)
    official = versions()["v1.1"].document["paths"]["/registreren"]["post"]["parameters"]
    patterns = {p["name"]: p["schema"]["pattern"] for p in official}
    assert patterns == {"edu-to": r"(\d|\D){20}", "edu-from": r"(\d|\D){20}"}
    assert chain.post(_path("v1.1", "registreren"), body).status_code == 202
    refused = [
        ("edu-to", school.oin + "X"),  # 21 characters holding 20 letters and digits
        ("edu-to", " " + school.oin),
        ("edu-from", school.routing[:-1] + "-"),  # 20 characters, one not a letter or digit
        ("edu-from", school.routing[:10] + "\u00e9" * 10),  # a letter outside A-Z
    ]
    for name, value in refused:
        assert re.search(patterns[name], value), "the official pattern accepts it"
        r = chain.post(_path("v1.1", "registreren"), body, **{name.replace("-", "_"): value})
        assert (r.status_code, r.json()["melding"]) == (422, MELDING_422), (name, value, r.text)
        assert _fields(r) == {name}


def _lijst(school, key="v1.1"):
    return deelnemerslijst(school, key, pupils=school.pupils[:3])


PROSE_CASES = [
    # (what, version, operation, component, change the body, field expected in fouten)
    ("schooljaar not EEJJ-EEJJ", "v1.1", "registreren", "Deelnemerslijst", lambda b: b.update(schooljaar="25/26"), "schooljaar"),
    ("schooljaar years not consecutive", "v1.1", "registreren", "Deelnemerslijst", lambda b: b.update(schooljaar="2025-2027"), "schooljaar"),
    ("schooljaar of another version", "v1.1", "registreren", "Deelnemerslijst", lambda b: b.update(schooljaar="2026-2027"), "schooljaar"),
    ("schooljaar of another version (1.0.1)", "v1.0", "registreren", "Deelnemerslijst", lambda b: b.update(schooljaar="2025-2026"), "schooljaar"),
    ("instellingscode of another school", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemersgroep"].update(instellingscode="99XX"), "deelnemersgroep/instellingscode"),
    ("instellingscode format", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemersgroep"].update(instellingscode="9X9X"), "deelnemersgroep/instellingscode"),
    ("vestigingscode format", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemersgroep"].update(vestigingscode="0"), "deelnemersgroep/vestigingscode"),
    ("onderwijsaanbiedercode format", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemersgroep"].update(onderwijsaanbiedercode="1234567"), "deelnemersgroep/onderwijsaanbiedercode"),
    ("onderwijslocatiecode format", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemersgroep"].update(onderwijslocatiecode="123A123"), "deelnemersgroep/onderwijslocatiecode"),
    ("administratienr format", "v1.1", "registreren-schooladviezen", "Schooladviezenlijst",
     lambda b: b["deelnemersgroep"].update(administratienr="1a"), "deelnemersgroep/administratienr"),
    ("groep names no stamgroep", "v1.1", "registreren", "Deelnemerslijst", lambda b: b["deelnemers"][0].update(groep="elders"), "deelnemers/0/groep"),
    ("stamgroep id twice", "v1.1", "registreren", "Deelnemerslijst", lambda b: b["groepen"].append(dict(b["groepen"][0])), "groepen"),
    ("voorletters with a dot", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemers"][0]["extensie"].update(voorletters="A.B"), "deelnemers/0/extensie/voorletters"),
    ("voorletters with a space", "v1.0", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemers"][0]["extensie"].update(voorletters="A B"), "deelnemers/0/extensie/voorletters"),
    ("no deelnemerref", "v1.1", "registreren", "Deelnemerslijst", lambda b: b["deelnemers"][0].update(deelnemerref=[]), "deelnemers/0/deelnemerref"),
    ("three deelnemerref", "v1.1", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemers"][0]["deelnemerref"].extend([{"label": "LAS-key", "onderwijsdeelnemerID": f"x{i}"} for i in range(3)]),
     "deelnemers/0/deelnemerref"),
    ("a label twice", "v1.1", "registreren-schooladviezen", "Schooladviezenlijst",
     lambda b: b["voorlopigSchooladviezen"][0].update(deelnemerref=[{"label": "LAS-key", "onderwijsdeelnemerID": "a"}, {"label": "LAS-key", "onderwijsdeelnemerID": "b"}]),
     "voorlopigSchooladviezen/0/deelnemerref"),
    ("a pupil twice", "v1.1", "registreren", "Deelnemerslijst", lambda b: b["deelnemers"].append(copy.deepcopy(b["deelnemers"][0])), "deelnemers/3/deelnemerref"),
    ("LAS-key over 256", "2026-2027", "registreren", "Deelnemerslijst",
     lambda b: b["deelnemers"][0].update(deelnemerref=[{"label": "LAS-key", "onderwijsdeelnemerID": "k" * 257}]), "deelnemers/0/deelnemerref/0/onderwijsdeelnemerID"),
]  # fmt: skip


def test_deviations_2_to_6_prose_rules_are_enforced(edukoppeling):
    chain, school = edukoppeling.chain, edukoppeling.school
    for what, key, operation, component, change, field_name in PROSE_CASES:
        body = _lijst(school, key) if component == "Deelnemerslijst" else schooladviezenlijst(school, key, pupils=school.pupils[:3])
        assert not official_schema_errors(key, component, body), what
        change(body)
        assert not official_schema_errors(key, component, body), f"{what}: valid by the official file"
        r = chain.post(_path(key, operation), body)
        assert (r.status_code, r.json()["melding"]) == (422, MELDING_422), (what, r.text)
        assert field_name in _fields(r), (what, r.json())


def test_deviation_7_what_cannot_be_stored_is_refused_not_accepted(edukoppeling):
    chain, school = edukoppeling.chain, edukoppeling.school
    eck = "https://ketenid.nl/201703/"
    refused = [
        ("NUL in a name", "registreren", "Deelnemerslijst", lambda b: b["deelnemers"][0].update(achternaam="Jan\x00sen"), "deelnemers/0/achternaam"),
        ("NUL in an identity", "registreren-schooladviezen", "Schooladviezenlijst",
         lambda b: b["voorlopigSchooladviezen"][0].update(deelnemerref=[{"label": "LAS-key", "onderwijsdeelnemerID": "ll-\x00"}]),
         "voorlopigSchooladviezen/0/deelnemerref/0/onderwijsdeelnemerID"),
        ("ECK-iD of 301", "registreren", "Deelnemerslijst",
         lambda b: b["deelnemers"][0].update(deelnemerref=[{"label": "ECK-iD", "onderwijsdeelnemerID": eck + "e" * (301 - len(eck))}]),
         "deelnemers/0/deelnemerref/0/onderwijsdeelnemerID"),
    ]  # fmt: skip
    for what, operation, component, change, field_name in refused:
        body = _lijst(school) if component == "Deelnemerslijst" else schooladviezenlijst(school, pupils=school.pupils[:3])
        change(body)
        assert not official_schema_errors("v1.1", component, body), f"{what}: valid by the official file"
        r = chain.post(_path("v1.1", operation), body)
        assert (r.status_code, r.json()["melding"]) == (422, MELDING_422), (what, r.text)
        assert field_name in _fields(r), (what, r.json())
    # The longest storable ECK-iD is accepted and processed, on both databases.
    body = _lijst(school)
    body["deelnemers"][0]["deelnemerref"] = [{"label": "ECK-iD", "onderwijsdeelnemerID": eck + "e" * (300 - len(eck))}]
    assert chain.post(_path("v1.1", "registreren"), body).status_code == 202
    assert chain.drain() == 1
    with chain.platform.sessions() as session:
        assert session.scalars(select(InboxMessage.status)).all() == ["done"]


def test_deviation_8_identity_is_the_client_certificate(edukoppeling):
    chain, school = edukoppeling.chain, edukoppeling.school
    for key in SERVED:
        doc = versions()[key].document
        assert "security" not in doc and "securitySchemes" not in doc.get("components", {})  # nothing for ignored_auth
    body, params = _lijst(school), {"edu-to": school.oin, "edu-from": school.routing}
    other_las = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    attempts = {
        "no certificate": {},
        "an unreadable certificate": {"Client-Cert": ":bm90IGEgY2VydGlmaWNhdGU=:"},
        "the certificate of a LAS the school did not mandate": chain.cert_header(other_las.oin),
    }
    for what, headers in attempts.items():
        r = chain.client.post(_path("v1.1", "registreren"), params=params, json=body, headers=headers)
        assert (r.status_code, r.json()["melding"]) == (401, MELDING_401), (what, r.text)
    r = chain.client.post(_path("v1.1", "registreren"), params=params, json=body, headers=edukoppeling.cert_header)
    assert r.status_code == 202


def test_deviations_9_and_10_statuses_and_answers_the_files_do_not_describe(edukoppeling):
    chain, school = edukoppeling.chain, edukoppeling.school
    documented = set(versions()["v1.1"].document["paths"]["/registreren"]["post"]["responses"])
    assert documented == {"202", "401", "403", "405", "422"}
    # 10: the file's Ontvangstmelding has only melding; eduketen adds toelichting and fouten.
    assert set(versions()["v1.1"].document["components"]["schemas"]["Ontvangstmelding"]["properties"]) == {"melding"}
    body = _lijst(school)
    body["schooljaar"] = "25/26"
    answer = chain.post(_path("v1.1", "registreren"), body).json()
    assert set(answer) == {"melding", "toelichting", "fouten"} and answer["melding"] == MELDING_422
    assert not official_schema_errors("v1.1", "Ontvangstmelding", answer)
    # 9: statuses outside the file.
    big = b'{"x": "' + b"a" * (chain.platform.settings.max_body_bytes + 10) + b'"}'
    r = chain.post(_path("v1.1", "registreren"), None, raw=big)
    assert r.status_code == 413 and "grens" in r.json()["melding"]
    assert chain.post(_path("v1.0", "registreren-schooladviezen"), schooladviezenlijst(school)).status_code == 404
    r = chain.client.get(_path("v1.1", "registreren"), params={"edu-to": school.oin, "edu-from": school.routing}, headers=edukoppeling.cert_header)
    assert (r.status_code, r.headers["allow"]) == (405, "POST")  # the file's 405 means "school unknown"
    r = chain.post(_path("v1.1", "registreren"), _lijst(school), edu_to="0000000700099ZZ00000")
    assert (r.status_code, r.json()["melding"]) == (405, "School is (nog) niet bekend bij de toetsleverancier.")
    assert "allow" not in r.headers


def test_deviation_11_examples_of_the_official_files(edukoppeling):
    # Every request example of the served operations is valid by its own schema ...
    for key, operation_ids in SERVED.items():
        doc = versions()[key].document
        for item in doc["paths"].values():
            for op in item.values():
                if op.get("operationId") not in operation_ids:
                    continue
                content = op["requestBody"]["content"]["application/json"]
                component = content["schema"]["$ref"].rsplit("/", 1)[1]
                for name, example in content["examples"].items():
                    assert not official_schema_errors(key, component, example["value"]), (key, name)
    # ... but the /leerlingresultaat example gives Score.waarde as numbers; the schema says string.
    for key in ("v1.0", "v1.1"):
        doc = versions()[key].document
        example = doc["paths"]["/leerlingresultaat"]["post"]["requestBody"]["content"]["application/json"]["examples"]["Leerlingresultaat"]["value"]
        assert doc["components"]["schemas"]["Score"]["properties"]["waarde"]["type"] == "string"
        errors = official_schema_errors(key, "Leerlingresultaat", example)
        assert errors == [
            'resultatenscores/scores/scores/0/waarde: 100 is not of type "string"',
            'resultatenscores/scores/scores/1/waarde: 50 is not of type "string"',
        ]
        fixed = copy.deepcopy(example)
        for score in fixed["resultatenscores"]["scores"]["scores"]:
            score["waarde"] = str(score["waarde"])
        assert not official_schema_errors(key, "Leerlingresultaat", fixed)
    # geslacht: an integer code in the schema and in every example of both files (no deviation) ...
    for key in ("v1.0", "v1.1"):
        doc = versions()[key].document
        assert {k: doc["components"]["schemas"]["Geslachttype_enum"][k] for k in ("type", "enum")} == {"type": "integer", "enum": [1, 2, 9]}
        for example in doc["paths"]["/registreren"]["post"]["requestBody"]["content"]["application/json"]["examples"].values():
            assert all(type(p["extensie"]["geslacht"]) is int for p in example["value"]["deelnemers"])
    # ... so a string code is refused, and the draft, which no longer exchanges it, takes it and drops it.
    chain, school = edukoppeling.chain, edukoppeling.school
    body = _lijst(school)
    body["deelnemers"][0]["extensie"]["geslacht"] = "1"
    r = chain.post(_path("v1.1", "registreren"), body)
    assert r.status_code == 422 and "deelnemers/0/extensie/geslacht" in _fields(r)
    draft = _lijst(school, "2026-2027")
    assert "Geslachttype_enum" not in versions()["2026-2027"].document["components"]["schemas"]
    draft["deelnemers"][0]["extensie"]["geslacht"] = 2
    assert chain.post(_path("2026-2027", "registreren"), draft).status_code == 202
