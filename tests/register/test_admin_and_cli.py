"""The register's admin JSON API behind the admin credential, and the same operations through the
real `eduketen` command: clear messages for wrong identifiers, never a 500 or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eduketen.simulate.region import deelnemerslijst

AUTH = {"Authorization": "Bearer test-admin-token"}


def admin(chain, method, path, **kw):
    headers = {**AUTH, **kw.pop("headers", {})}
    response = chain.client.request(method, "/admin" + path, headers=headers, **kw)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response


def test_admin_credential_required(chain):
    assert admin(chain, "GET", "/schools", headers={"Authorization": ""}).status_code == 401
    assert admin(chain, "GET", "/schools", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert admin(chain, "GET", "/schools").status_code == 200
    chain.platform.settings.admin_token = None
    r = admin(chain, "GET", "/schools")
    assert r.status_code == 403 and "EDUKETEN_ADMIN_TOKEN" in r.json()["detail"]


def test_register_a_school_supplier_system_version_and_mandate(chain):
    r = admin(chain, "POST", "/schools", json={"name": "De Linde", "brin": "07xy", "vestigingen": [{"code": "01"}],
                                               "routeringskenmerken": ["0000000700007XY00530"]})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["oin"] == "0000000700007XY00000" and r.json()["brin"] == "07XY"
    assert admin(chain, "POST", "/suppliers", json={"name": "Nieuw LAS", "oin": "00000003555555550000"}).status_code == 201
    assert admin(chain, "POST", "/suppliers/00000003555555550000/systems", json={"name": "LAS", "kind": "las"}).status_code == 201
    r = admin(chain, "POST", "/services/doorstroomtoets/versions", json={"version": "9.9", "namespace": "urn:test:9.9", "schooljaar": "2030-2031"})
    assert r.status_code == 201
    r = admin(chain, "POST", "/mandates", json={"school": "07XY", "supplier_oin": "00000003555555550000", "system": "LAS",
                                                "service": "doorstroomtoets", "version": "9.9", "start_date": "2030-08-01",
                                                "end_date": "2031-07-31"})  # fmt: skip
    assert r.status_code == 201 and r.json()["school"]["oin"] == "0000000700007XY00000"
    mandates = admin(chain, "GET", "/mandates", params={"school": "07XY"}).json()["mandates"]
    assert len(mandates) == 1 and mandates[0]["end_date"] == "2031-07-31"
    assert admin(chain, "POST", f"/mandates/{mandates[0]['id']}/revoke").json()["revoked"] is True


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/schools", {"name": "X", "brin": "1BBB"}, 422, "BRIN"),
        ("/schools", {"name": "X", "brin": "11BB", "routeringskenmerken": ["kort"]}, 422, "routeringskenmerk"),
        ("/schools", {"name": "X", "brin": "11BB", "secret": 1}, 422, "secret"),
        ("/suppliers", {"name": "X", "oin": "123"}, 422, "OIN"),
        ("/suppliers", {"name": "X", "oin": "0000000312345678000a"}, 422, "OIN"),
        ("/suppliers/00000003000000001000/systems", {"name": "Y", "kind": "robot"}, 422, "kind"),
        ("/suppliers/00000003999999990000/systems", {"name": "Y", "kind": "las"}, 404, "unknown supplier"),
        ("/mandates", {"school": "99ZZ", "supplier_oin": "00000003000000001000", "system": "x", "service": "doorstroomtoets",
                       "version": "1.1.0", "start_date": "2025-08-01"}, 404, "unknown school"),  # fmt: skip
    ],
)
def test_wrong_identifiers_get_clear_messages(chain, path, body, status, fragment):
    r = admin(chain, "POST", path, json=body)
    assert r.status_code == status, r.text
    assert fragment.lower() in r.text.lower()


def test_duplicates_broken_json_wrong_type_and_size(chain):
    school = chain.region.schools[0]
    assert admin(chain, "POST", "/schools", json={"name": "Dubbel", "brin": school.brin}).status_code == 409
    r = admin(chain, "POST", "/schools", content=b"{kapot", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = admin(chain, "POST", "/schools", content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422
    r = admin(chain, "POST", "/schools", content=b"[" + b" " * 2_100_000 + b"]", headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_revoking_through_the_api_turns_the_next_message_into_401(chain):
    school = chain.region.schools[0]
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(school)).status_code == 202
    for m in admin(chain, "GET", "/mandates", params={"school": school.brin, "supplier_oin": school.las.oin}).json()["mandates"]:
        admin(chain, "POST", f"/mandates/{m['id']}/revoke")
    body = deelnemerslijst(school)
    body["auteur"] = "na intrekking"
    assert chain.post("/doorstroomtoets/v1.1/registreren", body).status_code == 401


def test_staff_view_over_the_api(chain):
    school = chain.region.schools[0]
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(school)).status_code == 202
    chain.drain()
    rows = admin(chain, "GET", "/doorstroomtoets/overzicht").json()["scholen"]
    assert rows[0]["brin"] == school.brin and rows[0]["leerlingen_geregistreerd"] == len(school.pupils)
    assert "roepnaam" not in str(rows) and school.pupils[0].roepnaam not in str(rows)


def _cli(env, *args):
    eduketen = str(Path(sys.executable).parent / "eduketen")
    return subprocess.run([eduketen, *args], env=env, capture_output=True, text=True, timeout=60)


def test_cli_register_commands(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
           "EDUKETEN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}  # fmt: skip
    assert _cli(env, "db", "upgrade").returncode == 0
    ok = [
        ("register", "service-add", "--name", "doorstroomtoets", "--version", "1.1.0", "--namespace", "https://d/v1.1", "--schooljaar", "2025-2026"),
        ("register", "supplier-add", "--name", "Toets BV", "--oin", "00000003123456780000"),
        ("register", "system-add", "--supplier", "00000003123456780000", "--name", "Toetssysteem", "--kind", "toetssysteem"),
        ("register", "school-add", "--name", "De Regenboog", "--brin", "11BB", "--routeringskenmerk", "0000000700011BB00530"),
        ("register", "mandate-grant", "--school", "11BB", "--supplier", "00000003123456780000", "--system", "Toetssysteem",
         "--service", "doorstroomtoets", "--version", "1.1.0", "--start", "2025-08-01", "--end", "2026-07-31"),
        ("doorstroomtoets", "venster", "--schooljaar", "2025-2026", "--soort", "registratie", "--opens", "2025-09-01", "--closes", "2026-02-15"),
    ]  # fmt: skip
    for args in ok:
        result = _cli(env, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "0000000700011BB00000" in _cli(env, "register", "schools").stdout
    assert "Toets BV" in _cli(env, "register", "mandates").stdout
    bad = _cli(env, "register", "school-add", "--name", "X", "--brin", "1BBB")
    assert bad.returncode != 0 and "BRIN" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    bad = _cli(env, "register", "mandate-grant", "--school", "11BB", "--supplier", "00000003123456780000", "--system", "Nope",
               "--service", "doorstroomtoets", "--version", "1.1.0", "--start", "2025-08-01")  # fmt: skip
    assert bad.returncode != 0 and "no system named" in bad.stderr
    added = _cli(env, "register", "board-admin-add", "--board", "Stichting Regenboog", "--name", "Anna Jansen", "--role", "OSR-beheerder",
                 "--email", "anna@regenboog.example")  # fmt: skip
    assert added.returncode == 0 and "Anna Jansen" in added.stdout
    bad = _cli(env, "register", "board-admin-add", "--board", "Stichting Regenboog", "--name", "B", "--role", "x", "--email", "nope")
    assert bad.returncode != 0 and "e-mail" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    assert _cli(env, "register", "mandate-revoke", "1").returncode == 0
    assert _cli(env, "doorstroomtoets", "overzicht", "--json").returncode == 0
    verify = _cli(env, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout
