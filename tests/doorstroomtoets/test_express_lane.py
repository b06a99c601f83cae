"""The express lane (core/lane.py) answers the Doorstroomtoets inbound POSTs in front of the
middleware stack; what the stack gives every request must still hold for them: the request id
and security headers, the access line, the latency metric, the failed-authentication limit (the
same buckets as on every other path), the body limit, the application's own exception handlers
(no 500 with a stack trace; a database that is gone is a 503), and other methods on the same
paths still reach the router (405)."""

from __future__ import annotations

import io
import json
import logging

import orjson
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from eduketen.app import create_app
from eduketen.core.auth import encode_client_cert_header
from eduketen.core.logging import configure
from eduketen.doorstroomtoets import api
from eduketen.simulate.region import deelnemerslijst
from tests.conftest import PROXY

V11 = "/doorstroomtoets/v1.1"


def test_answers_carry_the_stack_s_headers(chain):
    r = chain.post(f"{V11}/registreren", deelnemerslijst(chain.region.schools[0]), headers={"X-Request-ID": "fast-lane-1"})
    assert r.status_code == 202, r.text
    assert r.headers["x-request-id"] == "fast-lane-1"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_is_a_plain_500_without_a_trace(chain, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("pupil Jan de Vries broke it")  # an exception text may carry pupil data

    monkeypatch.setattr(api, "content_problems", broken)
    monkeypatch.setattr(api, "content_fine", broken)  # the fast path's rules (test_fast_path.py)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(chain.region.schools[0]))
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/")
    assert r.json()["title"] == "Internal error"
    assert "Traceback" not in r.text and "Jan de Vries" not in r.text
    assert "Jan de Vries" not in caplog.text
    assert "RuntimeError" in caplog.text  # logged: the type and where, not the text


def test_a_database_that_is_gone_is_a_503(chain, monkeypatch):
    def gone(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(api, "content_problems", gone)
    monkeypatch.setattr(api, "content_fine", gone)
    r = chain.post(f"{V11}/registreren-schooladviezen", {"schooljaar": "2025-2026"})
    assert r.status_code in (422, 503)  # a body the schema refuses never reaches the database
    r = chain.post(f"{V11}/registreren", deelnemerslijst(chain.region.schools[0]))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"


def test_other_methods_on_the_same_path_reach_the_router(chain):
    r = chain.client.get(f"{V11}/registreren", headers=chain.cert_header(chain.region.schools[0].las.oin))
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]


def test_every_inbound_path_of_every_version_is_in_the_lane(chain):
    paths = set(chain.client.app.lane.routes)
    for version in ("v1.0", "v1.1", "2026-2027"):
        assert f"/doorstroomtoets/{version}/registreren" in paths
    assert "/doorstroomtoets/v1.1/registreren-schooladviezen" in paths
    assert "/doorstroomtoets/v1.0/registreren-schooladviezen" not in paths  # 1.0.1 has no advice path


def test_a_handler_that_fails_itself_still_gives_a_plain_500(chain, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("pupil Jan de Vries broke it")

    async def failing_handler(_request, _exc):
        raise ValueError("the handler broke too")

    monkeypatch.setattr(api, "content_problems", broken)
    monkeypatch.setattr(api, "content_fine", broken)  # the fast path's rules (test_fast_path.py)
    monkeypatch.setitem(chain.client.app.lane.handlers, Exception, failing_handler)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(chain.region.schools[0]), headers={"X-Request-ID": "lane-500-b"})
    assert r.status_code == 500 and r.json()["title"] == "Internal error"
    assert r.headers["x-request-id"] == "lane-500-b" and r.headers["cache-control"] == "no-store"
    assert "Jan de Vries" not in r.text and "Jan de Vries" not in caplog.text


def test_a_body_over_the_limit_is_413_by_length_and_while_streaming(chain):
    limit = chain.platform.settings.max_body_bytes
    school = chain.region.schools[0]
    big = b'{"x": "' + b"a" * limit + b'"}'
    r = chain.post(f"{V11}/registreren", None, raw=big)
    assert r.status_code == 413 and str(limit) in r.json()["melding"]
    assert r.headers["x-content-type-options"] == "nosniff"

    def chunks():  # no Content-Length: the body streams in and passes the limit on the way
        yield b'{"x": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    r = chain.client.post(
        f"{V11}/registreren",
        params={"edu-to": school.oin, "edu-from": school.routing},
        content=chunks(),
        headers={**chain.cert_header(school.las.oin), "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_requests_are_counted_under_the_route_template_and_logged(chain):
    school = chain.region.schools[0]
    stream = io.StringIO()
    configure("INFO", json_lines=True)
    logging.getLogger().handlers[0].stream = stream
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), headers={"X-Request-ID": "lane-log-1"})
    assert r.status_code == 202
    text, _ = chain.client.app.state.metrics.exposition()
    assert b'route="/doorstroomtoets/v1.1/registreren",status="202"' in text
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if '"lane-log-1"' in x]
    access = [x for x in lines if x.get("event") == "request"]
    assert len(access) == 1, lines
    line = access[0]
    assert line["status"] == 202 and line["path"] == f"{V11}/registreren" and line["caller"] == school.las.oin
    assert school.oin not in stream.getvalue()  # the query string (the school) is not logged


def test_failed_authentication_on_the_lane_counts_in_the_same_buckets(chain):
    """A client that keeps failing on the lane is refused (429) on every other path too, and the
    other way round: one limit per client, wherever it guesses."""
    settings = chain.platform.settings.model_copy(update={"auth_failure_burst": 3, "auth_failure_rate": 0.01})
    app = create_app(settings, platform=chain.platform)
    school = chain.region.schools[0]
    body = orjson.dumps(deelnemerslijst(school))
    query = {"edu-to": school.oin, "edu-from": school.routing}
    stranger = chain.ca.issue_client("00000001999999999000", "Onbekend LAS")  # no mandate anywhere
    headers = {"Client-Cert": encode_client_cert_header(stranger.der), "Content-Type": "application/json"}
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        statuses = [client.post(f"{V11}/registreren", params=query, content=body, headers=headers).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429], statuses
        elsewhere = client.get("/osr/api/v2/services", headers=headers)
        assert elsewhere.status_code == 429 and int(elsewhere.headers["retry-after"]) >= 1
        assert elsewhere.headers["x-content-type-options"] == "nosniff"
        # a mandated LAS (another certificate) is not held up
        ok = client.post(f"{V11}/registreren", params=query, content=body, headers={**chain.cert_header(school.las.oin), "Content-Type": "application/json"})
        assert ok.status_code == 202, ok.text


def _report(chain):
    """A report of school 0's first pupil, made; its id."""
    from sqlalchemy import select

    from eduketen.core.db import unit_of_work
    from eduketen.doorstroomtoets.models import Resultaat
    from eduketen.doorstroomtoets.service import ResultInput, store_results
    from eduketen.simulate.results import leerlingresultaat

    school = chain.region.schools[0]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school)).status_code == 202
    chain.drain()
    pupil = school.pupils[0]

    def build(spec_key, url):
        return leerlingresultaat(refs=pupil.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=url, seed=pupil.las_key)

    with unit_of_work(chain.platform.sessions) as s:
        item = ResultInput(line="1", school=school.brin, eck_id=pupil.eck_id, las_key=pupil.las_key, schooljaar="2025-2026", build=build)
        assert store_results(s, [item], public_url="https://toets.example").stored == 1
    chain.drain()
    with chain.platform.sessions() as s:
        return s.scalars(select(Resultaat.rapport_id)).one()


def test_the_report_get_takes_the_lane_with_the_stack_s_duties(chain):
    """GET /leerlingrapport/{rapportid} is answered by the lane: the PDF with the stack's headers,
    counted under the route template, a 401 costs a token of the same buckets; a path with more
    segments, and another method, still reach the router."""
    rapport_id = _report(chain)
    school = chain.region.schools[0]
    query = {"edu-to": school.oin, "edu-from": school.routing}
    assert any(p.endswith("/leerlingrapport/") for p in chain.client.app.lane.get_routes)
    r = chain.client.get(f"{V11}/leerlingrapport/{rapport_id}", params=query,
                         headers={**chain.cert_header(school.las.oin), "X-Request-ID": "lane-get-1"})  # fmt: skip
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
    assert r.headers["x-request-id"] == "lane-get-1" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store" and int(r.headers["content-length"]) == len(r.content)
    text, _ = chain.client.app.state.metrics.exposition()
    assert b'method="GET",route="/doorstroomtoets/v1.1/leerlingrapport/{rapportid}",status="200"' in text
    assert chain.client.get(f"{V11}/leerlingrapport/{rapport_id}/x", params=query, headers=chain.cert_header(school.las.oin)).status_code == 404
    refused = chain.client.delete(f"{V11}/leerlingrapport/{rapport_id}", params=query, headers=chain.cert_header(school.las.oin))
    assert refused.status_code == 405

    settings = chain.platform.settings.model_copy(update={"auth_failure_burst": 2, "auth_failure_rate": 0.01})
    app = create_app(settings, platform=chain.platform)
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        statuses = [client.get(f"{V11}/leerlingrapport/{rapport_id}", params=query).status_code for _ in range(3)]
        assert statuses == [401, 401, 429], statuses  # no certificate: 401, then the bucket is empty
        assert client.get("/osr/api/v2/services").status_code == 429  # the same bucket elsewhere
