"""doorstroomtoets.api.FastLane answers the inbound POSTs without FastAPI's router; what the rest
of the stack gives every request must still hold for them: the request id and security headers,
the application's own exception handlers (no 500 with a stack trace; a database that is gone is a
503), and other methods on the same paths still reach the router (405)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from eduketen.doorstroomtoets import api
from eduketen.simulate.region import deelnemerslijst

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
    lane = chain.client.app.middleware_stack
    while not isinstance(lane, api.FastLane):
        lane = lane.app
    paths = set(lane.routes)
    for version in ("v1.0", "v1.1", "2026-2027"):
        assert f"/doorstroomtoets/{version}/registreren" in paths
    assert "/doorstroomtoets/v1.1/registreren-schooladviezen" in paths
    assert "/doorstroomtoets/v1.0/registreren-schooladviezen" not in paths  # 1.0.1 has no advice path
