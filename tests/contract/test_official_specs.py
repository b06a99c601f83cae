"""Contract tests: schemathesis against the OFFICIAL Doorstroomtoets OpenAPI files 1.0.1 and
1.1.0 (loaded as they are, from the vendored copies), with every check schemathesis has, over
real HTTP against a running server, on SQLite and PostgreSQL.

Scope: the operations the test-supplier role serves (``POST /registreren`` and, from 1.1.0,
``POST /registreren-schooladviezen``). ``/leerlingresultaat`` belongs to the LAS role and
``GET /leerlingrapport`` needs a report to exist; both have their own tests.

Where the official file is incomplete, eduketen follows the file's prose and the generated data
is adapted, each deviation tested explicitly below (see also the README):

1. ``edu-to``/``edu-from`` pattern ``(\\d|\\D){20}`` is unanchored: any string holding 20
   characters matches. The descriptions say "20 karakters, alleen cijfers en letters";
   eduketen enforces that. Positive cases get the Edukoppeling context of a mandated school
   (certificate, ``edu-to``, ``edu-from``); a request with a 21-character value is refused (422).
2. Formats stated only in descriptions (schooljaar, the Deelnemersgroep codes, voorletters) and
   references stated only in prose (a pupil's ``groep`` names one of ``groepen``; one or two
   ``deelnemerref`` entries with distinct labels; a pupil at most once) are enforced: positive
   cases are made to follow the prose, and plain tests show the 422 for each.
3. Caller identity is out of band (Edukoppeling, no ``securitySchemes``): every request carries
   the LAS's certificate in the ``Client-Cert`` header (the proxy deployment).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation.modes import GenerationMode

from eduketen.app import create_app
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.doorstroomtoets.schemas import versions
from eduketen.simulate.region import install_region, open_windows

from ..conftest import make_settings

load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # every check schemathesis has, named in the test output below
OPERATIONS = {"v1.0": ["postregistreren"], "v1.1": ["registrerenToetsdeelnemers", "registrerenSchooladviezen"]}
EXAMPLES = 25


@pytest.fixture
def live(database_url, region, ca):
    """The test-supplier app served by uvicorn on loopback (proxy mode: Client-Cert trusted from 127.0.0.1)."""
    settings = make_settings(database_url, region, embedded_worker=True)
    platform = Platform.build(settings)
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
        open_windows(session)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, platform=platform), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    school = region.schools[0]
    from eduketen.core.auth import encode_client_cert_header

    header = {"Client-Cert": encode_client_cert_header(ca.issue_client(school.las.oin, school.las.name).der)}
    yield port, school, header
    server.should_exit = True
    thread.join(10)
    platform.close()


def _follow_prose(body, school, schooljaar: str) -> None:
    """Make a generated (schema-valid) body also follow the rules the file states in prose."""
    if not isinstance(body, dict):
        return
    body["schooljaar"] = schooljaar
    body["deelnemersgroep"] = {
        "instellingscode": school.brin, "vestigingscode": "00", "onderwijsaanbiedercode": "123A123",
        "onderwijslocatiecode": "123X123", "administratienr": "01",
    }  # fmt: skip
    groups = body.get("groepen") or []
    for i, group in enumerate(groups):
        group["id"] = f"groep-{i}"
    for i, pupil in enumerate(body.get("deelnemers") or []):
        pupil["deelnemerref"] = [{"label": "LAS-key", "onderwijsdeelnemerID": f"contract-{i}"}]
        pupil["groep"] = "groep-0"
        pupil["extensie"]["voorletters"] = "AB"
    for i, entry in enumerate(body.get("voorlopigSchooladviezen") or []):
        entry["deelnemerref"] = [{"label": "LAS-key", "onderwijsdeelnemerID": f"contract-{i}"}]


@pytest.mark.parametrize("key", ["v1.0", "v1.1"])
def test_official_spec_all_checks(live, key):
    port, school, header = live
    spec = versions()[key]
    schema = schemathesis.openapi.from_dict(spec.document)
    schema.config.update(base_url=f"http://127.0.0.1:{port}{spec.base_path}")
    schema = schema.include(operation_id=OPERATIONS[key])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.definition.raw["operationId"] for op in operations} == set(OPERATIONS[key])
    counts = {"positive": 0, "negative": 0, "202": 0}

    def run(operation, mode):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            if mode is GenerationMode.POSITIVE:
                case.query = {"edu-to": school.oin, "edu-from": school.routing}
                _follow_prose(case.body, school, spec.schooljaren[-1])
            response = case.call_and_validate(headers=header, checks=ALL_CHECKS)
            counts[mode.value] += 1
            if response.status_code == 202:
                counts["202"] += 1
            if mode is GenerationMode.POSITIVE:
                assert response.status_code == 202, response.text

        check()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run(operation, mode)
    assert counts["positive"] and counts["negative"] and counts["202"] == counts["positive"]
    print(f"{key}: {counts}, checks: {', '.join(c.__name__ for c in ALL_CHECKS)}")


def _post(live, body, *, edu_to=None, edu_from=None, key="v1.1"):
    import httpx

    port, school, header = live
    return httpx.post(
        f"http://127.0.0.1:{port}{versions()[key].base_path}/registreren",
        params={"edu-to": edu_to or school.oin, "edu-from": edu_from or school.routing},
        json=body,
        headers=header,
    )


def test_deviation_unanchored_pattern_is_enforced_anchored(live):
    from eduketen.simulate.region import deelnemerslijst

    _port, school, _header = live
    body = deelnemerslijst(school)
    assert _post(live, body).status_code == 202
    r = _post(live, body, edu_to=school.oin + "X")  # 21 characters: the official pattern matches it
    assert r.status_code == 422 and r.json()["fouten"][0]["veld"] == "edu-to"
    r = _post(live, body, edu_from=school.routing[:-1] + "-")
    assert r.status_code == 422 and r.json()["fouten"][0]["veld"] == "edu-from"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b.update(schooljaar="25/26"), "schooljaar"),
        (lambda b: b["deelnemersgroep"].update(vestigingscode="0"), "deelnemersgroep/vestigingscode"),
        (lambda b: b["deelnemersgroep"].update(onderwijsaanbiedercode="1234567"), "deelnemersgroep/onderwijsaanbiedercode"),
        (lambda b: b["deelnemers"][0].update(groep="elders"), "deelnemers/0/groep"),
        (lambda b: b["deelnemers"][0]["extensie"].update(voorletters="A B"), "deelnemers/0/extensie/voorletters"),
        (lambda b: b["deelnemers"][0].update(deelnemerref=[]), "deelnemers/0/deelnemerref"),
    ],
)
def test_deviation_prose_rules_are_enforced(live, mutate, field):
    from eduketen.simulate.region import deelnemerslijst

    _port, school, _header = live
    body = deelnemerslijst(school)
    mutate(body)
    r = _post(live, body)
    assert r.status_code == 422
    assert field in {f["veld"] for f in r.json()["fouten"]}
