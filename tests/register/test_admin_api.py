"""The register's admin JSON API behind ``Authorization: Bearer``: what an operator sees when
adding schools, suppliers, systems, services and mandates, and that wrong input is always a
clear 4xx JSON answer, never a 500. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from starlette.testclient import TestClient

from eduketen.app import create_app
from eduketen.core.platform import Platform
from eduketen.simulate.region import deelnemerslijst
from tests.conftest import PROXY, make_settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
V11 = "/doorstroomtoets/v1.1"
NEW_SUPPLIER_OIN = "00000003000000077777"


def check(r, status: int) -> dict:
    """The status we expect, a JSON body, and never a 500."""
    assert r.status_code < 500, r.text
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    return r.json()


def admin_post(chain, path, body=None, **kw):
    return chain.client.post(path, json=body, headers={**ADMIN, **kw.pop("headers", {})}, **kw)


def admin_get(chain, path, **params):
    return chain.client.get(path, params=params, headers=ADMIN)


def add_school(chain, brin="11BB", name="OBS De Vlinder", **extra):
    return admin_post(chain, "/admin/schools", {"name": name, "brin": brin, **extra})


def add_supplier(chain, oin=NEW_SUPPLIER_OIN, name="Leerling Volg B.V."):
    return admin_post(chain, "/admin/suppliers", {"name": name, "oin": oin})


def problem_text(body: dict) -> str:
    """Everything an operator reads in an error body."""
    parts = [str(body.get("title", "")), str(body.get("detail", ""))]
    parts += [f"{e.get('field')} {e.get('problem')}" for e in body.get("errors", [])]
    return " ".join(parts)


# -- the credential --------------------------------------------------------------------------------


WRONG_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbg=="},
    {"Authorization": "test-admin-token"},
    {"Authorization": "Bearer test-admin-token-and-more"},
]


def test_missing_or_wrong_token_is_401_json(chain):
    for headers in WRONG_CREDENTIALS:
        for method, path, body in (
            ("POST", "/admin/schools", {"name": "X", "brin": "11BB"}),
            ("GET", "/admin/schools", None),
            ("GET", "/admin/mandates", None),
            ("POST", "/admin/mandates/1/revoke", None),
            ("POST", "/admin/suppliers", {"name": "X", "oin": NEW_SUPPLIER_OIN}),
        ):
            r = chain.client.request(method, path, json=body, headers=headers)
            body_out = check(r, 401)
            assert "Bearer" in body_out["detail"], (headers, path)
    brins = [s["brin"] for s in check(admin_get(chain, "/admin/schools"), 200)["schools"]]
    assert brins and "11BB" not in brins  # nothing was added by the refused calls
    mandates = check(admin_get(chain, "/admin/mandates"), 200)["mandates"]
    assert not any(m["revoked"] for m in mandates)


def test_bearer_scheme_is_case_insensitive(chain):
    r = chain.client.get("/admin/schools", headers={"Authorization": "bearer test-admin-token"})
    check(r, 200)


def test_admin_api_disabled_without_a_token(database_url, region):
    settings = make_settings(database_url, region, admin_token=None)
    platform = Platform.build(settings)
    try:
        with TestClient(create_app(settings, platform=platform), client=PROXY, raise_server_exceptions=False) as client:
            for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
                r = client.post("/admin/schools", json={"name": "X", "brin": "11BB"}, headers=headers)
                body = check(r, 403)
                assert "EDUKETEN_ADMIN_TOKEN" in body["detail"]
            check(client.get("/admin/schools", headers=ADMIN), 403)
    finally:
        platform.close()


# -- schools -------------------------------------------------------------------------------------


def test_create_school_derives_its_oin(chain):
    r = add_school(chain, brin="11bb", board="Stichting Primair", vestigingen=[{"code": "00"}, {"code": "01", "name": "Dependance"}])
    school = check(r, 201)
    assert school["brin"] == "11BB"
    assert school["oin"] == "0000000700011BB00000"
    assert school["board"] == "Stichting Primair"
    assert school["vestigingen"] == [{"code": "00", "name": None}, {"code": "01", "name": "Dependance"}]
    by_brin = check(admin_get(chain, "/admin/schools/11BB"), 200)
    by_oin = check(admin_get(chain, "/admin/schools/0000000700011BB00000"), 200)
    assert by_brin == by_oin == school
    assert "11BB" in [s["brin"] for s in check(admin_get(chain, "/admin/schools"), 200)["schools"]]


def test_school_gets_vestiging_00_by_default_and_its_routeringskenmerken(chain):
    school = check(add_school(chain, routeringskenmerken=["0000000700011BB00001", "0000000700011BB00002"]), 201)
    assert school["vestigingen"] == [{"code": "00", "name": None}]
    assert school["routeringskenmerken"] == ["0000000700011BB00001", "0000000700011BB00002"]


def test_bad_brin_is_422_with_a_clear_message(chain):
    for brin in ("1BBB", "11B", "11BBB", "", "11ß", "11-B"):
        body = check(add_school(chain, brin=brin), 422)
        assert "BRIN" in body["detail"] and "2 digits and 2 letters" in body["detail"], brin


def test_bad_routeringskenmerk_is_422_and_nothing_is_stored(chain):
    for routing, words in (
        ("0000000700011BB001234", "21 tekens"),
        ("0000000700011BB0012", "19 tekens"),
        ("0000000700011BB0012!", "cijfers en letters"),
        ("", "ontbreekt"),
    ):
        body = check(add_school(chain, routeringskenmerken=["0000000700011BB00001", routing]), 422)
        assert "routeringskenmerk" in body["detail"] and words in body["detail"], routing
        check(admin_get(chain, "/admin/schools/11BB"), 404)  # the whole call was rolled back


def test_bad_vestigingscode_is_422(chain):
    body = check(add_school(chain, vestigingen=[{"code": "0"}]), 422)
    assert "vestigingen" in problem_text(body)


def test_duplicate_vestigingscode_is_a_clear_refusal(chain):
    r = add_school(chain, vestigingen=[{"code": "00"}, {"code": "00", "name": "nog eens"}])
    body = check(r, 422)
    assert "00" in body["detail"] and "vestiging" in body["detail"]


def test_duplicate_school_is_409(chain):
    check(add_school(chain), 201)
    body = check(add_school(chain, brin="11bb", name="Andere naam"), 409)
    assert "11BB" in body["detail"] and "exists" in body["detail"]
    existing = chain.region.schools[0]
    check(add_school(chain, brin=existing.brin), 409)


def test_routeringskenmerk_of_another_school_is_409(chain):
    other = chain.region.schools[0]
    body = check(add_school(chain, routeringskenmerken=[other.routing]), 409)
    assert other.routing in body["detail"] and "another school" in body["detail"]


def test_unknown_school_is_404(chain):
    for key in ("99ZZ", "0000000700099ZZ00000", "nonsense", "x" * 20):
        body = check(admin_get(chain, f"/admin/schools/{key}"), 404)
        assert "unknown school" in body["detail"]
    body = check(admin_post(chain, "/admin/schools/99ZZ/administraties", {"routeringskenmerk": "0000000700099ZZ00001"}), 404)
    assert "99ZZ" in body["detail"]


def test_empty_or_too_long_name_is_422(chain):
    check(add_school(chain, name=""), 422)
    check(add_school(chain, name="   "), 422)  # stripped, then empty
    check(add_school(chain, name="x" * 201), 422)


def test_school_list_paging_never_fails(chain):
    for params in ({"limit": 1}, {"limit": 0}, {"offset": 1}, {"limit": -1}, {"offset": -5}, {"limit": "many"}, {"limit": 10**30}):
        r = chain.client.get("/admin/schools", params=params, headers=ADMIN)
        assert r.status_code < 500, (params, r.text)
        assert r.headers["content-type"].startswith("application/json")
    assert len(check(admin_get(chain, "/admin/schools", limit=1), 200)["schools"]) == 1


# -- administraties -----------------------------------------------------------------------------------


def test_add_administratie_kept_in_a_las(chain):
    check(add_school(chain), 201)
    las = chain.region.las_suppliers[0]
    r = admin_post(
        chain,
        "/admin/schools/11BB/administraties",
        {"routeringskenmerk": "0000000700011BB00009", "supplier_oin": las.oin, "system": las.system, "administratienr": "01"},
    )
    assert check(r, 201)["routeringskenmerken"] == ["0000000700011BB00009"]
    again = admin_post(chain, "/admin/schools/11BB/administraties", {"routeringskenmerk": "0000000700011BB00009"})
    assert check(again, 201)["routeringskenmerken"] == ["0000000700011BB00009"]  # idempotent


def test_administratie_refusals(chain):
    check(add_school(chain), 201)
    las = chain.region.las_suppliers[0]
    path = "/admin/schools/11BB/administraties"
    body = check(admin_post(chain, path, {"routeringskenmerk": "kort"}), 422)
    assert "routeringskenmerk" in body["detail"] and "20" in body["detail"]
    body = check(admin_post(chain, path, {"routeringskenmerk": "0000000700011BB00009", "system": las.system}), 422)
    assert "supplier_oin" in body["detail"]
    body = check(admin_post(chain, path, {"routeringskenmerk": "0000000700011BB00009", "supplier_oin": NEW_SUPPLIER_OIN, "system": "LAS"}), 404)
    assert NEW_SUPPLIER_OIN in body["detail"]
    body = check(admin_post(chain, path, {"routeringskenmerk": "0000000700011BB00009", "supplier_oin": las.oin, "system": "Geen"}), 404)
    assert "Geen" in body["detail"]
    check(admin_post(chain, path, {"routeringskenmerk": "0000000700011BB00009", "administratienr": "1"}), 422)
    other = chain.region.schools[0]
    check(admin_post(chain, path, {"routeringskenmerk": other.routing}), 409)


# -- suppliers and systems ----------------------------------------------------------------------------


def test_create_supplier_and_system(chain):
    supplier = check(add_supplier(chain), 201)
    assert supplier["oin"] == NEW_SUPPLIER_OIN and supplier["systems"] == []
    r = admin_post(chain, f"/admin/suppliers/{NEW_SUPPLIER_OIN}/systems", {"name": "Volg LAS", "kind": "las"})
    systems = check(r, 201)["systems"]
    assert [(s["name"], s["kind"]) for s in systems] == [("Volg LAS", "las")] and isinstance(systems[0]["id"], int)
    listed = check(admin_get(chain, "/admin/suppliers"), 200)["suppliers"]
    assert NEW_SUPPLIER_OIN in [s["oin"] for s in listed]


def test_bad_supplier_oin_is_422(chain):
    for oin, words in (
        ("0000000300000007777", "20 positions"),
        ("000000030000000777777", "20 positions"),
        ("0000000300000007777a", "digits and capital letters"),
        ("0000000300000007777!", "digits and capital letters"),
    ):
        body = check(add_supplier(chain, oin=oin), 422)
        assert "OIN" in body["detail"] and words in body["detail"], oin
    assert NEW_SUPPLIER_OIN[:-1] not in str(check(admin_get(chain, "/admin/suppliers"), 200))


def test_duplicate_supplier_and_system_are_409(chain):
    check(add_supplier(chain), 201)
    assert "exists" in check(add_supplier(chain, name="Zelfde OIN"), 409)["detail"]
    path = f"/admin/suppliers/{NEW_SUPPLIER_OIN}/systems"
    check(admin_post(chain, path, {"name": "Volg LAS", "kind": "las"}), 201)
    body = check(admin_post(chain, path, {"name": "Volg LAS", "kind": "toetssysteem"}), 409)
    assert "Volg LAS" in body["detail"]


def test_unknown_system_kind_is_422_listing_the_kinds(chain):
    check(add_supplier(chain), 201)
    body = check(admin_post(chain, f"/admin/suppliers/{NEW_SUPPLIER_OIN}/systems", {"name": "X", "kind": "spreadsheet"}), 422)
    assert "spreadsheet" in body["detail"] and "las" in body["detail"] and "toetssysteem" in body["detail"]


def test_system_for_unknown_supplier_is_404(chain):
    body = check(admin_post(chain, "/admin/suppliers/00000003000000000404/systems", {"name": "X", "kind": "las"}), 404)
    assert "00000003000000000404" in body["detail"]


# -- services ------------------------------------------------------------------------------------


def test_create_service_and_version(chain):
    body = check(admin_post(chain, "/admin/services", {"name": "leerresultaten", "description": "Edu-V"}), 201)
    assert body == {"id": body["id"], "name": "leerresultaten", "description": "Edu-V", "versions": []}
    v = check(
        admin_post(chain, "/admin/services/leerresultaten/versions", {"version": "1.0", "namespace": "https://example.nl/lr/1.0", "schooljaar": "2025-2026"}),
        201,
    )
    assert v == {"service": "leerresultaten", "version": "1.0", "namespace": "https://example.nl/lr/1.0", "schooljaar": "2025-2026", "status": "in-force"}
    services = {s["name"]: s for s in check(admin_get(chain, "/admin/services"), 200)["services"]}
    assert services["leerresultaten"]["versions"][0]["namespace"] == "https://example.nl/lr/1.0"


def test_service_refusals(chain):
    check(admin_post(chain, "/admin/services", {"name": "leerresultaten"}), 201)
    check(admin_post(chain, "/admin/services", {"name": "leerresultaten"}), 409)
    path = "/admin/services/leerresultaten/versions"
    check(admin_post(chain, path, {"version": "1.0", "namespace": "https://example.nl/lr/1.0"}), 201)
    assert "exists" in check(admin_post(chain, path, {"version": "1.0", "namespace": "https://example.nl/lr/other"}), 409)["detail"]
    body = check(admin_post(chain, path, {"version": "2.0", "namespace": "https://example.nl/lr/2.0", "status": "geldig"}), 422)
    assert "in-force" in body["detail"]
    check(admin_post(chain, path, {"version": "2.0", "namespace": "https://example.nl/lr/2.0", "schooljaar": "25-26"}), 422)
    body = check(admin_post(chain, path, {"version": "2.0", "namespace": "https://example.nl/lr/2.0", "schooljaar": "2025-2030"}), 422)
    assert "2025-2026" in body["detail"]
    check(admin_post(chain, path, {"version": "2.0", "namespace": "   "}), 422)
    body = check(admin_post(chain, "/admin/services/onbekend/versions", {"version": "1", "namespace": "urn:x"}), 404)
    assert "onbekend" in body["detail"]


def test_namespace_used_by_another_version_is_409_not_500(chain):
    check(admin_post(chain, "/admin/services", {"name": "leerresultaten"}), 201)
    path = "/admin/services/leerresultaten/versions"
    check(admin_post(chain, path, {"version": "1.0", "namespace": "https://example.nl/lr"}), 201)
    body = check(admin_post(chain, path, {"version": "1.1", "namespace": "https://example.nl/lr"}), 409)
    assert "https://example.nl/lr" in body["detail"]


# -- mandates ------------------------------------------------------------------------------------------


def _setup_new_school_and_supplier(chain):
    check(add_school(chain), 201)
    check(add_supplier(chain), 201)
    check(admin_post(chain, f"/admin/suppliers/{NEW_SUPPLIER_OIN}/systems", {"name": "Volg LAS", "kind": "las"}), 201)


def grant(chain, **overrides):
    body = {
        "school": "11BB",
        "supplier_oin": NEW_SUPPLIER_OIN,
        "system": "Volg LAS",
        "service": "doorstroomtoets",
        "version": "1.1.0",
        "start_date": date.today().isoformat(),
    }
    body.update(overrides)
    return admin_post(chain, "/admin/mandates", body)


def test_mandate_grant_list_revoke(chain):
    _setup_new_school_and_supplier(chain)
    end = (date.today() + timedelta(days=365)).isoformat()
    mandate = check(grant(chain, end_date=end), 201)
    assert mandate["school"] == {"brin": "11BB", "oin": "0000000700011BB00000", "name": "OBS De Vlinder"}
    assert mandate["supplier"]["oin"] == NEW_SUPPLIER_OIN
    assert mandate["system"] == {"name": "Volg LAS", "kind": "las"}
    assert (mandate["service"], mandate["version"]) == ("doorstroomtoets", "1.1.0")
    assert mandate["end_date"] == end and mandate["revoked"] is False and mandate["token"]

    listed = check(admin_get(chain, "/admin/mandates", school="11BB"), 200)["mandates"]
    assert [m["id"] for m in listed] == [mandate["id"]]
    by_supplier = check(admin_get(chain, "/admin/mandates", supplier_oin=NEW_SUPPLIER_OIN), 200)["mandates"]
    assert [m["id"] for m in by_supplier] == [mandate["id"]]
    everything = check(admin_get(chain, "/admin/mandates"), 200)["mandates"]
    assert len(everything) > 1

    assert check(admin_post(chain, f"/admin/mandates/{mandate['id']}/revoke"), 200) == {"id": mandate["id"], "revoked": True}
    assert check(admin_post(chain, f"/admin/mandates/{mandate['id']}/revoke"), 200)["revoked"] is True  # twice is fine
    listed = check(admin_get(chain, "/admin/mandates", school="0000000700011BB00000"), 200)["mandates"]
    assert listed[0]["revoked"] is True


def test_mandate_refusals(chain):
    _setup_new_school_and_supplier(chain)
    assert "99ZZ" in check(grant(chain, school="99ZZ"), 404)["detail"]
    assert "00000003000000000404" in check(grant(chain, supplier_oin="00000003000000000404"), 404)["detail"]
    assert "Geen" in check(grant(chain, system="Geen"), 404)["detail"]
    assert "9.9" in check(grant(chain, version="9.9"), 404)["detail"]
    assert "onbekend" in check(grant(chain, service="onbekend"), 404)["detail"]
    body = check(grant(chain, end_date=(date.today() - timedelta(days=1)).isoformat()), 422)
    assert "before" in body["detail"]
    body = check(grant(chain, start_date="01-08-2025"), 422)
    assert "start_date" in problem_text(body)
    body = check(admin_get(chain, "/admin/mandates", school="99ZZ"), 404)
    check(admin_get(chain, "/admin/mandates", supplier_oin="00000003000000000404"), 404)


def test_revoking_an_unknown_mandate_is_a_clear_4xx(chain):
    for mandate_id in ("999999", "0", "abc", "-1", "1.5", "2147483648", "9223372036854775808", "9" * 30):
        r = admin_post(chain, f"/admin/mandates/{mandate_id}/revoke")
        assert r.status_code < 500, (mandate_id, r.text)
        assert r.status_code in (404, 422), (mandate_id, r.text)
        assert r.headers["content-type"].startswith("application/json")
    assert "unknown mandate" in check(admin_post(chain, "/admin/mandates/999999/revoke"), 404)["detail"]


def test_revoking_a_mandate_makes_the_next_message_401(chain):
    school = chain.region.schools[0]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school)).status_code == 202
    mandates = check(admin_get(chain, "/admin/mandates", school=school.brin), 200)["mandates"]
    las_v11 = [m for m in mandates if m["supplier"]["oin"] == school.las.oin and m["version"] == "1.1.0"]
    assert len(las_v11) == 1
    check(admin_post(chain, f"/admin/mandates/{las_v11[0]['id']}/revoke"), 200)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=school.pupils[:1]))
    assert r.status_code == 401, r.text
    assert "mandaat" in r.json()["toelichting"]
    other = chain.region.schools[1]  # another school of the same kind is untouched
    assert chain.post(f"{V11}/registreren", deelnemerslijst(other), school=other).status_code == 202


def test_a_granted_mandate_lets_a_new_las_send(chain):
    """The other way round: a school moved to a new LAS; after the grant its lists are accepted."""
    school = chain.region.schools[0]
    _setup_new_school_and_supplier(chain)
    check(
        admin_post(
            chain,
            f"/admin/schools/{school.brin}/administraties",
            {"routeringskenmerk": school.routing, "supplier_oin": NEW_SUPPLIER_OIN, "system": "Volg LAS"},
        ),
        201,
    )
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school), as_oin=NEW_SUPPLIER_OIN).status_code == 401
    check(grant(chain, school=school.brin), 201)
    r = chain.post(f"{V11}/registreren", deelnemerslijst(school), as_oin=NEW_SUPPLIER_OIN)
    assert r.status_code == 202, r.text


# -- malformed requests ----------------------------------------------------------------------------


MANDATE = {"school": "11BB", "supplier_oin": "x", "system": "x", "service": "x", "version": "x", "start_date": "2025-01-01"}
EXTRA_FIELDS = [  # path, body, the field that must be named in the refusal
    ("/admin/schools", {"name": "X", "brin": "11BB", "id": 1}, "id"),
    ("/admin/schools", {"name": "X", "brin": "11BB", "oin": "00000003000000000001"}, "oin"),
    ("/admin/schools", {"name": "X", "brin": "11BB", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ("/admin/schools", {"name": "X", "brin": "11BB", "vestigingen": [{"code": "00", "school_id": 1}]}, "vestigingen/0/school_id"),
    ("/admin/suppliers", {"name": "X", "oin": NEW_SUPPLIER_OIN, "id": 1}, "id"),
    ("/admin/services", {"name": "X", "id": 5}, "id"),
    ("/admin/mandates", {**MANDATE, "token": "mine"}, "token"),
    ("/admin/mandates", {**MANDATE, "revoked_at": None}, "revoked_at"),
]


def test_extra_fields_are_refused(chain):
    """No mass assignment: a field the form does not have is refused, not ignored."""
    for path, body, field in EXTRA_FIELDS:
        out = check(admin_post(chain, path, body), 422)
        named = [e for e in out["errors"] if e["field"] == field]
        assert named and "not permitted" in named[0]["problem"], (path, out)


def test_extra_field_on_school_changes_nothing(chain):
    check(add_school(chain, oin="00000003000000000001"), 422)
    check(admin_get(chain, "/admin/schools/11BB"), 404)


def test_broken_json_is_422_json(chain):
    for raw in (b"{", b'{"name": "X", "brin": }', b"not json at all", b"", b"[]", b"null", b'"11BB"', b"\xff\xfe", b'{"name": "X", "brin": "11BB"'):
        r = chain.client.post("/admin/schools", content=raw, headers={**ADMIN, "Content-Type": "application/json"})
        body = check(r, 422)
        assert body["title"] == "Invalid request", raw
    check(admin_get(chain, "/admin/schools/11BB"), 404)


def test_wrong_content_type_is_refused(chain):
    r = chain.client.post("/admin/schools", content=b'{"name": "X", "brin": "11BB"}', headers={**ADMIN, "Content-Type": "text/plain"})
    assert r.status_code in (415, 422), r.text
    assert r.headers["content-type"].startswith("application/json")
    r = chain.client.post("/admin/schools", data={"name": "X", "brin": "11BB"}, headers=ADMIN)  # a form post
    assert r.status_code in (415, 422), r.text
    check(admin_get(chain, "/admin/schools/11BB"), 404)


def test_wrong_types_are_422(chain):
    for body in ({"name": 5, "brin": "11BB"}, {"name": "X", "brin": ["11BB"]}, {"name": "X"}, {"brin": "11BB"}, {"name": "X", "brin": None}):
        check(admin_post(chain, "/admin/schools", body), 422)


def test_oversized_body_is_413(chain):
    limit = chain.platform.settings.max_body_bytes
    big = b'{"name": "' + b"x" * (limit + 10) + b'", "brin": "11BB"}'
    r = chain.client.post("/admin/schools", content=big, headers={**ADMIN, "Content-Type": "application/json"})
    body = check(r, 413)
    assert str(limit) in body["detail"]

    def chunks():  # no Content-Length: refused while streaming
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = chain.client.post("/admin/schools", content=chunks(), headers={**ADMIN, "Content-Type": "application/json"})
    check(r, 413)
    check(admin_get(chain, "/admin/schools/11BB"), 404)


def test_unknown_admin_path_and_method(chain):
    check(chain.client.get("/admin/nothing-here", headers=ADMIN), 404)
    r = chain.client.delete("/admin/schools", headers=ADMIN)
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/json")


def test_a_unique_violation_that_slips_past_the_checks_is_409(chain):
    """Two operators adding the same school at the same moment: the loser gets 409, not 500."""
    from eduketen.core.admin import AdminWrite
    from eduketen.core.db import utcnow
    from eduketen.core.errors import ApiError
    from eduketen.register.models import School

    existing = chain.region.schools[0]
    with pytest.raises(ApiError) as caught:
        with AdminWrite(chain.platform) as session:
            session.add(School(name="Tweeling", brin=existing.brin, oin=existing.oin, created_at=utcnow()))
            session.flush()
    assert caught.value.status == 409 and "nothing was changed" in caught.value.detail
